#pragma once
// A sweep file: the common sweep schema (method, metric, parameters, early_terminate, run_cap)
// plus a `base` train config. Parsing validates as strictly as train configs (unknown keys,
// types and choices through config/schema.hpp). What the search does with the parameters is in
// space.hpp. Torch-free.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garbage::sweep {

using json = nlohmann::json;

enum class Method { grid, random, bayes };
enum class Goal { minimize, maximize };
enum class Distribution {
  constant,
  categorical,
  uniform,
  int_uniform,
  log_uniform_values,
  q_uniform,
  normal
};

std::string to_string(Method m);
std::string to_string(Distribution d);

struct Parameter {
  std::string name;  ///< as written in the sweep file (the key of `params` objects)
  std::string path;  ///< dot path in the train document it sets ("train.optimizer.lr")
  Distribution distribution = Distribution::constant;
  std::vector<json> values;  ///< constant: one value; categorical: the choices
  double min = 0, max = 1, q = 1, mu = 0, sigma = 1;

  // ordinal() and dims() describe the encoding: they are defined in space.cpp.

  /// Categorical choices that are all numbers or all booleans are encoded as one ordinal
  /// coordinate (their rank); others get one coordinate per choice (one-hot).
  bool ordinal() const;
  /// Coordinates this parameter occupies in the encoded vector.
  int dims() const;
  bool log_scale() const { return distribution == Distribution::log_uniform_values; }
};

/// Hyperband early termination: a trial is judged at each bracket epoch.
struct HyperbandConfig {
  bool enabled = false;
  int64_t min_iter = 0;  ///< 0 when only max_iter + s were given
  double eta = 3;
  std::optional<int64_t> max_iter, s;

  /// Bracket epochs below `epochs` (a bracket at the last epoch could stop nothing).
  std::vector<int64_t> brackets(int64_t epochs) const;
};

struct SweepConfig {
  std::string name;  ///< optional `name` of the sweep file
  Method method = Method::bayes;
  std::string metric = "val_accuracy";  ///< val_accuracy | val_loss
  Goal goal = Goal::maximize;
  std::vector<Parameter> parameters;
  HyperbandConfig early_terminate;
  int64_t run_cap = 0;  ///< 0: grid size (grid only)
  uint64_t seed = 0;    ///< search seed (`seed` key, default: the base config's seed)
  json base;            ///< resolved train document every trial starts from
  json document;        ///< the sweep file with `base` resolved: what storage keeps

  /// True when metric value `a` is better than `b` (NaN is never better).
  bool better(double a, double b) const;
  /// Maps a metric value to "higher is better".
  double score(double value) const { return goal == Goal::maximize ? value : -value; }
  int64_t epochs() const { return base.at("train").at("epochs").get<int64_t>(); }
  /// Coordinates of the encoded search space (space.cpp).
  int dims() const;
};

struct ParseOptions {
  std::vector<std::string> overrides;  ///< "a.b=v" applied to `base` (e.g. data.subset=0.3)
  std::optional<int64_t> max_epochs;   ///< caps base train.epochs
  std::filesystem::path base_dir;      ///< folder of the sweep file, for a `base` given as a path
  /// The train config file trials start from when the sweep file has no `base` (--base): cloud
  /// sweep files name a program instead.
  std::filesystem::path base_file;
};

/// Validates a sweep document. Throws ConfigError "<source>: <json path>: <problem>".
SweepConfig parse_sweep_config(const json& doc, const std::string& source,
                               const ParseOptions& options = {});

/// Resolves a parameter name against a resolved train document: a full dot path, a flat leaf
/// name or dotted suffix that occurs once ("lr" -> "train.optimizer.lr"), or a documented alias
/// ("augmentation" -> "augment.enabled"). Throws ConfigError when it matches nothing or several.
std::string resolve_parameter_path(const json& train_doc, const std::string& name,
                                   const std::string& source);

/// The train document of a trial: `base` with `params` ({name: value}) applied, validated.
json apply_params(const SweepConfig& sweep, const json& params);

}  // namespace garbage::sweep
