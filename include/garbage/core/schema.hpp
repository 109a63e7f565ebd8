#pragma once
// Strict validation of user JSON against a defaults document: the defaults define which keys
// exist and their types; rules add ranges and allowed values. Generic (train configs, model
// sections, sweep files all use it), so it lives in core; torch-free on purpose.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garbage {

struct Rule {
  std::optional<double> min;  ///< inclusive unless min_exclusive
  std::optional<double> max;  ///< inclusive
  bool min_exclusive = false;
  std::vector<std::string> choices;  ///< allowed strings (empty: any)

  static Rule range(double lo, double hi) { return Rule{lo, hi, false, {}}; }
  static Rule positive(std::optional<double> hi = std::nullopt) { return Rule{0.0, hi, true, {}}; }
  static Rule at_least(double lo) { return Rule{lo, std::nullopt, false, {}}; }
  static Rule one_of(std::vector<std::string> c) { return Rule{{}, {}, false, std::move(c)}; }
};

/// Rules keyed by dot path ("train.lr").
using Rules = std::map<std::string, Rule>;

/// Checks `user` against `defaults` and `rules` and returns defaults with user values applied.
/// Throws ConfigError "<source>: <path>: <problem>" for an unknown key (naming the nearest valid
/// key), a wrong type, or a value outside its rule. `prefix` is the dot path of `defaults`.
nlohmann::json validate_and_merge(const nlohmann::json& defaults, const nlohmann::json& user,
                                  const Rules& rules, const std::string& source,
                                  const std::string& prefix = "");

/// Applies "a.b.c=value" to `config`: value is parsed as JSON when it can be ("3", "true",
/// "[1,2]"), else taken as a string. Throws ConfigError for a malformed assignment.
void apply_override(nlohmann::json& config, const std::string& assignment);

/// "a.b.c" -> ["a","b","c"]
std::vector<std::string> split_path(const std::string& path);

}  // namespace garbage
