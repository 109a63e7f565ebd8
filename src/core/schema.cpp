#include "garbage/core/schema.hpp"

#include <cmath>
#include <sstream>

#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"

namespace garbage {

using json = nlohmann::json;
namespace {

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string type_name(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return "null";
}

[[noreturn]] void fail(const std::string& source, const std::string& path, const std::string& msg) {
  throw ConfigError(source + ": " + path + ": " + msg, path);
}

bool same_kind(const json& expected, const json& got) {
  if (expected.is_number_float()) return got.is_number();  // 1 is a fine learning-rate factor
  if (expected.is_number_integer()) {
    if (got.is_number_integer()) return true;
    // 2.0 written for an integer is harmless; 2.5 is not.
    return got.is_number_float() && std::floor(got.get<double>()) == got.get<double>();
  }
  return expected.type() == got.type();
}

void check_rule(const Rule& rule, const json& value, const std::string& source,
                const std::string& path) {
  if (value.is_number()) {
    double x = value.get<double>();
    if (!std::isfinite(x)) fail(source, path, "must be finite");
    bool below = rule.min && (rule.min_exclusive ? x <= *rule.min : x < *rule.min);
    bool above = rule.max && x > *rule.max;
    if (below || above) {
      std::ostringstream msg;
      msg << value.dump() << " is out of range " << (rule.min_exclusive ? "(" : "[")
          << (rule.min ? std::to_string(*rule.min) : "-inf") << ", "
          << (rule.max ? std::to_string(*rule.max) : "inf") << "]";
      fail(source, path, msg.str());
    }
  }
  if (value.is_string() && !rule.choices.empty()) {
    const auto& s = value.get_ref<const std::string&>();
    if (std::find(rule.choices.begin(), rule.choices.end(), s) == rule.choices.end()) {
      std::string options;
      for (const auto& c : rule.choices) options += (options.empty() ? "" : " | ") + c;
      std::string hint = nearest_key(s, rule.choices);
      fail(source, path,
           "\"" + s + "\" is not one of " + options +
               (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)"));
    }
  }
}

void check_array(const json& expected, const json& got, const std::string& source,
                 const std::string& path) {
  if (!expected.empty() && got.size() != expected.size())
    fail(source, path,
         "expected " + std::to_string(expected.size()) + " elements, got " +
             std::to_string(got.size()));
  for (size_t i = 0; i < got.size(); ++i)
    if (!expected.empty() && !same_kind(expected[0], got[i]))
      fail(source, path + "[" + std::to_string(i) + "]",
           "expected " + type_name(expected[0]) + ", got " + type_name(got[i]));
}

}  // namespace

json validate_and_merge(const json& defaults, const json& user, const Rules& rules,
                        const std::string& source, const std::string& prefix) {
  if (!user.is_object())
    fail(source, prefix.empty() ? "(top level)" : prefix,
         "expected an object, got " + type_name(user));
  json merged = defaults;
  std::vector<std::string> known;
  for (auto it = defaults.begin(); it != defaults.end(); ++it) known.push_back(it.key());

  for (auto it = user.begin(); it != user.end(); ++it) {
    const std::string path = join(prefix, it.key());
    if (!defaults.contains(it.key())) {
      std::string hint = nearest_key(it.key(), known);
      fail(source, path,
           "unknown key" + (hint.empty() ? "" : " (did you mean \"" + join(prefix, hint) + "\"?)"));
    }
    const json& expected = defaults[it.key()];
    const json& got = it.value();
    if (expected.is_object()) {
      merged[it.key()] = validate_and_merge(expected, got, rules, source, path);
      continue;
    }
    if (!same_kind(expected, got))
      fail(source, path,
           "expected " + type_name(expected) + ", got " + type_name(got) + " (" + got.dump() + ")");
    if (got.is_array()) check_array(expected, got, source, path);
    auto rule = rules.find(path);
    if (rule != rules.end()) check_rule(rule->second, got, source, path);
    merged[it.key()] = expected.is_number_integer() ? json(got.get<int64_t>()) : got;
  }
  return merged;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  return parts;
}

void apply_override(json& config, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + assignment + ": expected KEY.PATH=VALUE");
  auto parts = split_path(assignment.substr(0, eq));
  std::string text = assignment.substr(eq + 1);
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error&) {
    value = text;                       // bare words such as --set train.optimizer=sgd
  } catch (const json::exception& e) {  // a number beyond double's range
    throw ConfigError("--set " + assignment + ": " + e.what());
  }
  json* node = &config;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty()) throw ConfigError("--set " + assignment + ": empty key in path");
    json& child = (*node)[parts[i]];
    if (child.is_null()) child = json::object();
    if (!child.is_object())
      throw ConfigError("--set " + assignment + ": " + parts[i] + " is not an object");
    node = &child;
  }
  (*node)[parts.back()] = value;
}

}  // namespace garbage
