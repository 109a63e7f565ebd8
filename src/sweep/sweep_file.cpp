// Sweep-file parsing: the common sweep schema checked through the generic config schema
// (unknown keys with hints, types, allowed strings), ranges and distribution-specific shapes by
// hand, the base train config resolved, each parameter mapped to a dot path of the base.

#include "garbage/sweep/sweep_file.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "garbage/config/train_config.hpp"
#include "garbage/core/config_file.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/core/schema.hpp"
#include "garbage/sweep/space.hpp"

namespace garbage::sweep {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& path, const std::string& msg) {
  throw ConfigError(source + ": " + path + ": " + msg);
}

std::string hint_suffix(const std::string& key, const std::vector<std::string>& candidates) {
  std::string hint = nearest_key(key, candidates);
  return hint.empty() ? "" : " (did you mean \"" + hint + "\"?)";
}

std::string join_choices(const std::vector<std::string>& choices) {
  std::string out;
  for (const auto& c : choices) out += (out.empty() ? "" : " | ") + c;
  return out;
}

const json& require(const json& object, const std::string& key, const std::string& source,
                    const std::string& path, const std::string& why) {
  if (!object.contains(key))
    fail(source, path.empty() ? key : path + "." + key, "required: " + why);
  return object.at(key);
}

std::string get_string(const json& v, const std::string& source, const std::string& path) {
  if (!v.is_string()) fail(source, path, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

double get_number(const json& v, const std::string& source, const std::string& path) {
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    fail(source, path, "expected a finite number, got " + v.dump());
  return v.get<double>();
}

int64_t get_integer(const json& v, const std::string& source, const std::string& path, int64_t lo) {
  bool integral = v.is_number_integer() ||
                  (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  if (!integral) fail(source, path, "expected an integer, got " + v.dump());
  auto n = v.get<int64_t>();
  if (n < lo) fail(source, path, v.dump() + " must be at least " + std::to_string(lo));
  return n;
}

// Keys of cloud sweep files that only matter to the cloud service.
const std::vector<std::string> kIgnoredKeys = {"program", "command", "project", "entity",
                                               "description"};
const std::vector<std::string> kSpecKeys = {"value", "values", "distribution", "min",
                                            "max",   "q",      "mu",           "sigma"};
const std::vector<std::string> kSupported = {"constant",    "categorical",        "uniform",
                                             "int_uniform", "log_uniform_values", "q_uniform",
                                             "normal"};
// Distributions of the common schema this tool does not implement (named so the error says
// "not supported" rather than "unknown").
const std::vector<std::string> kUnsupported = {"inv_log_uniform", "inv_log_uniform_values",
                                               "q_log_uniform",   "q_log_uniform_values",
                                               "q_normal",        "log_normal",
                                               "q_log_normal",    "beta",
                                               "q_beta"};
const std::map<std::string, std::string> kAliases = {{"augmentation", "augment.enabled"},
                                                     {"learning_rate", "train.optimizer.lr"},
                                                     {"optimizer", "train.optimizer.name"}};
const std::map<std::string, std::string> kMetricAliases = {
    {"val_accuracy", "val_accuracy"}, {"val_acc", "val_accuracy"}, {"val_loss", "val_loss"}};

/// The sweep file for validate_and_merge: the fixed-shape keys with a value of their
/// type; the free-form ones (base, parameters, the cloud-only keys) as null, since their shape
/// is checked by hand (validate_view nulls them in the user's document too).
const json kSchema = {
    {"method", "bayes"},
    {"metric", {{"name", "val_accuracy"}, {"goal", "maximize"}}},
    {"early_terminate",
     {{"type", "hyperband"}, {"min_iter", 1}, {"max_iter", 1}, {"s", 1}, {"eta", 3.0}}},
    {"run_cap", 1},
    {"name", ""},
    {"seed", 0},
    {"base", nullptr},
    {"parameters", nullptr},
    {"program", nullptr},
    {"command", nullptr},
    {"project", nullptr},
    {"entity", nullptr},
    {"description", nullptr}};

const Rules kRules = {{"method", Rule::one_of({"grid", "random", "bayes"})},
                      {"metric.name", Rule::one_of({"val_accuracy", "val_loss"})},
                      {"metric.goal", Rule::one_of({"minimize", "maximize"})},
                      {"early_terminate.type", Rule::one_of({"hyperband"})}};

/// A copy of `doc` that validate_and_merge can check against kSchema: free-form values nulled,
/// the metric alias spelled out (so the error for a typo lists the canonical names).
json validate_view(const json& doc) {
  json view = doc;
  for (auto it = kSchema.begin(); it != kSchema.end(); ++it)
    if (it.value().is_null() && view.contains(it.key())) view[it.key()] = nullptr;
  if (view.contains("metric") && view["metric"].is_object() && view["metric"].contains("name") &&
      view["metric"]["name"].is_string())
    if (auto alias = kMetricAliases.find(view["metric"]["name"].get<std::string>());
        alias != kMetricAliases.end())
      view["metric"]["name"] = alias->second;
  return view;
}

/// Unknown keys (with the nearest valid one), wrong types and disallowed strings anywhere in the
/// fixed-shape part of the file; required keys and ranges are checked where they are read.
void validate_sweep_file(const json& doc, const std::string& source) {
  validate_and_merge(kSchema, validate_view(doc), kRules, source);
}

/// Unknown keys of a parameter spec; which keys a distribution uses is checked by hand.
void validate_spec_keys(const json& spec, const std::string& source, const std::string& path) {
  json schema = json::object(), view = json::object();
  for (const auto& key : kSpecKeys) schema[key] = nullptr;
  for (auto it = spec.begin(); it != spec.end(); ++it) view[it.key()] = nullptr;
  validate_and_merge(schema, view, {}, source, path);
}

Distribution parse_distribution(const json& spec, const std::string& source,
                                const std::string& path) {
  if (spec.contains("distribution")) {
    std::string name = get_string(spec["distribution"], source, path + ".distribution");
    for (size_t i = 0; i < kSupported.size(); ++i)
      if (name == kSupported[i]) return static_cast<Distribution>(i);
    if (std::find(kUnsupported.begin(), kUnsupported.end(), name) != kUnsupported.end())
      fail(source, path + ".distribution",
           "\"" + name + "\" is not supported (supported: " + join_choices(kSupported) + ")");
    fail(source, path + ".distribution",
         "\"" + name + "\" is not one of " + join_choices(kSupported) +
             hint_suffix(name, kSupported));
  }
  if (spec.contains("value")) return Distribution::constant;
  if (spec.contains("values")) return Distribution::categorical;
  if (spec.contains("min") && spec.contains("max"))
    return spec["min"].is_number_integer() && spec["max"].is_number_integer()
               ? Distribution::int_uniform
               : Distribution::uniform;
  fail(source, path, "needs `value`, `values`, `distribution` or `min` and `max`");
}

std::vector<std::string> keys_for(Distribution d) {
  switch (d) {
    case Distribution::constant:
      return {"distribution", "value"};
    case Distribution::categorical:
      return {"distribution", "values"};
    case Distribution::uniform:
    case Distribution::int_uniform:
    case Distribution::log_uniform_values:
      return {"distribution", "min", "max"};
    case Distribution::q_uniform:
      return {"distribution", "min", "max", "q"};
    case Distribution::normal:
      return {"distribution", "mu", "sigma"};
  }
  return {};
}

void parse_range(Parameter& p, const json& spec, const std::string& source,
                 const std::string& path) {
  const std::string why = "the range of a " + to_string(p.distribution) + " parameter";
  if (p.distribution == Distribution::int_uniform) {
    p.min = static_cast<double>(
        get_integer(require(spec, "min", source, path, why), source, path + ".min", INT64_MIN / 2));
    p.max = static_cast<double>(
        get_integer(require(spec, "max", source, path, why), source, path + ".max", INT64_MIN / 2));
  } else {
    p.min = get_number(require(spec, "min", source, path, why), source, path + ".min");
    p.max = get_number(require(spec, "max", source, path, why), source, path + ".max");
  }
  if (!(p.min < p.max)) fail(source, path, "min must be below max");
  if (p.log_scale() && p.min <= 0) fail(source, path + ".min", "must be positive on a log scale");
  if (p.distribution == Distribution::q_uniform && spec.contains("q")) {
    p.q = get_number(spec["q"], source, path + ".q");
    if (p.q <= 0) fail(source, path + ".q", "must be positive");
  }
}

/// The cloud services' exponent-bound log_uniform (min and max are natural logarithms) is
/// log_uniform_values between e^min and e^max: the same distribution.
json log_uniform_as_values(const json& spec, const std::string& source, const std::string& path) {
  json values = spec;
  values["distribution"] = "log_uniform_values";
  for (const char* bound : {"min", "max"}) {
    const json& v = require(spec, bound, source, path, "an exponent (natural log)");
    if (!v.is_number()) fail(source, path + "." + bound, "expected a number, got " + v.dump());
    values[bound] = std::exp(v.get<double>());
  }
  return values;
}

Parameter parse_parameter(const std::string& name, const json& spec, const json& base,
                          const std::string& source) {
  const std::string path = "parameters." + name;
  if (!spec.is_object()) fail(source, path, "expected an object, got " + spec.dump());
  if (spec.contains("parameters")) fail(source, path, "nested parameters are not supported");
  validate_spec_keys(spec, source, path);
  if (spec.contains("distribution") && spec["distribution"] == "log_uniform")
    return parse_parameter(name, log_uniform_as_values(spec, source, path), base, source);
  Parameter p;
  p.name = name;
  p.distribution = parse_distribution(spec, source, path);
  auto allowed = keys_for(p.distribution);
  for (auto it = spec.begin(); it != spec.end(); ++it)
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end())
      fail(source, path + "." + it.key(),
           "not used by a " + to_string(p.distribution) +
               " parameter (uses: " + join_choices(allowed) + ")");
  switch (p.distribution) {
    case Distribution::constant:
      p.values = {require(spec, "value", source, path, "the constant value")};
      break;
    case Distribution::categorical: {
      const json& values = require(spec, "values", source, path, "the list of choices");
      if (!values.is_array() || values.empty())
        fail(source, path + ".values", "expected a non-empty array, got " + values.dump());
      for (size_t i = 0; i < values.size(); ++i)
        for (size_t j = 0; j < i; ++j)
          if (values[i] == values[j])
            fail(source, path + ".values[" + std::to_string(i) + "]",
                 "duplicate choice " + values[i].dump());
      p.values.assign(values.begin(), values.end());
      break;
    }
    case Distribution::normal:
      if (spec.contains("mu")) p.mu = get_number(spec["mu"], source, path + ".mu");
      if (spec.contains("sigma")) p.sigma = get_number(spec["sigma"], source, path + ".sigma");
      if (p.sigma <= 0) fail(source, path + ".sigma", "must be positive");
      break;
    default:
      parse_range(p, spec, source, path);
  }
  p.path = resolve_parameter_path(base, name, source + ": " + path);
  return p;
}

void set_path(json& doc, const std::string& path, const json& value) {
  std::string pointer;
  for (const auto& part : split_path(path)) pointer += "/" + part;
  doc[json::json_pointer(pointer)] = value;
}

/// Values that bound what a parameter can take: each is applied to the base and validated, so a
/// bad choice stops the sweep before any trial runs.
std::vector<std::pair<std::string, json>> representative_values(const Parameter& p) {
  std::vector<std::pair<std::string, json>> out;
  switch (p.distribution) {
    case Distribution::constant:
      out.push_back({".value", p.values[0]});
      break;
    case Distribution::categorical:
      for (size_t i = 0; i < p.values.size(); ++i)
        out.push_back({".values[" + std::to_string(i) + "]", p.values[i]});
      break;
    case Distribution::normal:
      out.push_back({".mu", p.mu});
      break;
    case Distribution::int_uniform:
      out.push_back({".min", static_cast<int64_t>(p.min)});
      out.push_back({".max", static_cast<int64_t>(p.max)});
      break;
    default:
      out.push_back({".min", p.min});
      out.push_back({".max", p.max});
  }
  return out;
}

void validate_values(const SweepConfig& sweep, const Parameter& p, const std::string& source) {
  for (const auto& [suffix, value] : representative_values(p)) {
    json doc = sweep.base;
    set_path(doc, p.path, value);
    config::resolve_train_document(doc, source + ": parameters." + p.name + suffix);
  }
}

HyperbandConfig parse_early_terminate(const json& et, const std::string& source) {
  const std::string path = "early_terminate";
  require(et, "type", source, path, "\"hyperband\"");  // its value: kRules
  HyperbandConfig h;
  h.enabled = true;
  if (et.contains("eta")) h.eta = get_number(et["eta"], source, path + ".eta");
  if (h.eta <= 1) fail(source, path + ".eta", "must be greater than 1");
  if (et.contains("min_iter"))
    h.min_iter = get_integer(et["min_iter"], source, path + ".min_iter", 1);
  if (et.contains("max_iter"))
    h.max_iter = get_integer(et["max_iter"], source, path + ".max_iter", 1);
  if (et.contains("s")) h.s = get_integer(et["s"], source, path + ".s", 1);
  if (h.min_iter == 0 && !(h.max_iter && h.s))
    fail(source, path, "needs min_iter, or max_iter and s");
  if (h.min_iter > 0 && h.max_iter && *h.max_iter <= h.min_iter)
    fail(source, path + ".max_iter", "must be above min_iter");
  return h;
}

json load_base(const json& doc, const std::string& source, const ParseOptions& options) {
  if (!doc.contains("base") && !options.base_file.empty()) {
    json user = load_config_file(options.base_file);
    json with_base = doc;
    with_base["base"] = std::move(user);
    ParseOptions rest = options;
    rest.base_file.clear();
    return load_base(with_base, source, rest);
  }
  const json& base = require(doc, "base", source, "",
                             "the train config every trial starts from (or give --base FILE)");
  json user;
  if (base.is_string()) {
    std::filesystem::path file = base.get<std::string>();
    if (file.is_relative()) file = options.base_dir / file;
    user = load_config_file(file);
  } else if (base.is_object()) {
    user = base;
  } else {
    fail(source, "base", "expected a train config object or a path to one, got " + base.dump());
  }
  for (const auto& o : options.overrides) apply_override(user, o);
  json resolved = config::resolve_train_document(user, source + ": base");
  if (options.max_epochs) {
    auto& epochs = resolved["train"]["epochs"];
    epochs = std::min(epochs.get<int64_t>(), *options.max_epochs);
  }
  return resolved;
}

void collect_leaves(const json& node, const std::string& prefix, std::vector<std::string>& out) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it.value().is_object())
      collect_leaves(it.value(), path, out);
    else
      out.push_back(path);
  }
}

bool ends_with_components(const std::string& path, const std::string& name) {
  if (path == name) return true;
  return path.size() > name.size() &&
         path.compare(path.size() - name.size(), name.size(), name) == 0 &&
         path[path.size() - name.size() - 1] == '.';
}

}  // namespace

std::string to_string(Method m) {
  switch (m) {
    case Method::grid:
      return "grid";
    case Method::random:
      return "random";
    case Method::bayes:
      return "bayes";
  }
  return "?";
}

std::string to_string(Distribution d) {
  return kSupported.at(static_cast<size_t>(d));
}

std::vector<int64_t> HyperbandConfig::brackets(int64_t epochs) const {
  std::set<int64_t> out;
  if (!enabled) return {};
  int64_t limit = max_iter ? std::min(*max_iter, epochs) : epochs;
  if (min_iter > 0) {
    double b = static_cast<double>(min_iter);
    for (int64_t k = 0; !s || k < *s; ++k, b *= eta) {
      auto epoch = static_cast<int64_t>(std::llround(b));
      if (epoch >= limit) break;
      out.insert(epoch);
    }
  } else {
    for (int64_t k = *s; k >= 1; --k) {
      auto epoch = static_cast<int64_t>(std::llround(*max_iter / std::pow(eta, k)));
      if (epoch >= 1 && epoch < limit) out.insert(epoch);
    }
  }
  return {out.begin(), out.end()};
}

bool SweepConfig::better(double a, double b) const {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return goal == Goal::maximize ? a > b : a < b;
}

std::string resolve_parameter_path(const json& train_doc, const std::string& name,
                                   const std::string& source) {
  std::vector<std::string> leaves;
  collect_leaves(train_doc, "", leaves);
  // A dotted name that is a full path is exact; a flat name must be the last component of
  // exactly one leaf ("name" is ambiguous: top-level name, model.name, optimizer name...).
  bool dotted = name.find('.') != std::string::npos;
  if (dotted && std::find(leaves.begin(), leaves.end(), name) != leaves.end()) return name;
  std::vector<std::string> matches;
  for (const auto& leaf : leaves)
    if (ends_with_components(leaf, name)) matches.push_back(leaf);
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1)
    throw ConfigError(source + ": \"" + name + "\" is ambiguous: it matches " +
                      join_choices(matches) + "; write the full dot path");
  if (auto alias = kAliases.find(name); alias != kAliases.end()) return alias->second;
  std::vector<std::string> names = leaves;
  for (const auto& leaf : leaves) names.push_back(split_path(leaf).back());
  throw ConfigError(source + ": \"" + name + "\" is not a key of the base train config" +
                    hint_suffix(name, names));
}

SweepConfig parse_sweep_config(const json& doc, const std::string& source,
                               const ParseOptions& options) {
  if (!doc.is_object()) fail(source, "(top level)", "expected an object");
  validate_sweep_file(doc, source);
  for (const auto& key : kIgnoredKeys)
    if (doc.contains(key)) spdlog::debug("{}: {} is ignored by local sweeps", source, key);
  SweepConfig s;
  if (doc.contains("name")) s.name = doc["name"].get<std::string>();

  const std::string method =
      require(doc, "method", source, "", "grid | random | bayes").get<std::string>();
  s.method = method == "grid" ? Method::grid : method == "random" ? Method::random : Method::bayes;

  const json& metric = require(doc, "metric", source, "", "{\"name\": ..., \"goal\": ...}");
  s.metric = kMetricAliases.at(
      require(metric, "name", source, "metric", "val_accuracy | val_loss").get<std::string>());
  s.goal = s.metric == "val_loss" ? Goal::minimize : Goal::maximize;
  if (metric.contains("goal"))
    s.goal = metric["goal"] == "maximize" ? Goal::maximize : Goal::minimize;

  s.base = load_base(doc, source, options);
  s.seed = doc.contains("seed") ? static_cast<uint64_t>(get_integer(doc["seed"], source, "seed", 0))
                                : s.base.at("seed").get<uint64_t>();

  const json& params = require(doc, "parameters", source, "", "the search space");
  if (!params.is_object() || params.empty())
    fail(source, "parameters", "expected a non-empty object, got " + params.dump());
  std::map<std::string, std::string> owner;  // path -> parameter name
  for (auto it = params.begin(); it != params.end(); ++it) {
    Parameter p = parse_parameter(it.key(), it.value(), s.base, source);
    if (auto other = owner.find(p.path); other != owner.end())
      fail(source, "parameters." + p.name,
           "sets " + p.path + " like parameters." + other->second + " does");
    owner[p.path] = p.name;
    validate_values(s, p, source);
    s.parameters.push_back(std::move(p));
  }

  if (doc.contains("early_terminate"))
    s.early_terminate = parse_early_terminate(doc["early_terminate"], source);

  size_t grid_size = 0;
  if (s.method == Method::grid) {
    try {
      grid_size = grid_points(s).size();
    } catch (const ConfigError& e) {
      throw ConfigError(source + ": " + e.what());
    }
  }
  if (doc.contains("run_cap")) {
    s.run_cap = get_integer(doc["run_cap"], source, "run_cap", 1);
  } else if (s.method == Method::grid) {
    s.run_cap = static_cast<int64_t>(grid_size);
  } else {
    fail(source, "run_cap", "required for method " + method + ": the number of trials to run");
  }

  s.document = doc;
  s.document["base"] = s.base;
  s.document["run_cap"] = s.run_cap;
  return s;
}

json apply_params(const SweepConfig& sweep, const json& params) {
  json doc = sweep.base;
  for (const auto& p : sweep.parameters)
    if (params.contains(p.name)) set_path(doc, p.path, params[p.name]);
  return config::resolve_train_document(doc, "trial parameters " + params.dump());
}

}  // namespace garbage::sweep
