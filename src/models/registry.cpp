#include "garbage/models/registry.hpp"

#include "garbage/core/errors.hpp"
#include "garbage/core/json_io.hpp"
#include "garbage/models/batchnorm_options.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/mobilenet_v3.hpp"
#include "garbage/models/resnet.hpp"
#include "garbage/models/simple_cnn.hpp"

namespace garbage::models {
namespace {

std::vector<ModelSpec>& registered() {
  // One line per built-in model family; register_model appends others.
  static std::vector<ModelSpec> specs = {
      simple_cnn_spec(), mobilenet_v3_small_spec(), mobilenet_v3_large_spec(), resnet_spec(18),
      resnet_spec(34),   resnet_spec(50),           resnet_spec(101),          resnet_spec(152),
  };
  return specs;
}

/// Sets every BatchNorm layer's running-statistics momentum and epsilon (libtorch's forward and
/// the fused kernels read both from the options on every call).
void configure_batchnorm(ClassifierImpl& model, double momentum, double eps) {
  for (const auto& module : model.modules()) {
    if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(module.get())) {
      bn->options.momentum(momentum);
      bn->options.eps(eps);
    }
  }
}

}  // namespace

const std::vector<ModelSpec>& all_models() {
  return registered();
}

void register_model(ModelSpec spec) {
  for (const auto& s : registered())
    if (s.name == spec.name) throw Error("model \"" + spec.name + "\" is already registered");
  if (!spec.create) throw Error("model \"" + spec.name + "\" has no create function");
  registered().push_back(std::move(spec));
}

const ModelSpec& find_model(const std::string& name) {
  std::vector<std::string> names;
  for (const auto& spec : all_models()) {
    if (spec.name == name) return spec;
    names.push_back(spec.name);
  }
  std::string hint = nearest_key(name, names);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw ConfigError("unknown model \"" + name + "\"" +
                    (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)") +
                    "; registered: " + list);
}

nlohmann::json resolve_model_config(const nlohmann::json& user, const std::string& source) {
  std::string name = "simple_cnn";
  if (user.contains("name")) {
    if (!user["name"].is_string())
      throw ConfigError(source + ": model.name: expected a string, got " + user["name"].dump(),
                        "model.name");
    name = user["name"].get<std::string>();
  }
  const ModelSpec* spec = nullptr;
  try {
    spec = &find_model(name);
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": model.name: " + e.what(), "model.name");
  }
  nlohmann::json defaults = spec->defaults;
  defaults["name"] = name;
  Rules rules;
  for (const auto& [path, rule] : spec->rules) rules["model." + path] = rule;
  auto merged = validate_and_merge(defaults, user, rules, source, "model");
  if (spec->check) spec->check(merged, source);
  return merged;
}

ModelPtr create_model(const nlohmann::json& resolved) {
  const auto& spec = find_model(resolved.at("name").get<std::string>());
  auto model = spec.create(resolved);
  if (resolved.contains("bn_momentum") && resolved.contains("bn_eps"))
    configure_batchnorm(*model, resolved["bn_momentum"].get<double>(),
                        resolved["bn_eps"].get<double>());
  return model;
}

void add_batchnorm_keys(ModelSpec& spec, double momentum, double eps) {
  spec.defaults["bn_momentum"] = momentum;
  spec.defaults["bn_eps"] = eps;
  spec.rules["bn_momentum"] = Rule::range(0, 1);
  spec.rules["bn_eps"] = Rule::positive(1.0);
}

PretrainedFile torchvision_file(const std::string& file_name) {
  const auto dash = file_name.rfind('-'), dot = file_name.rfind('.');
  PretrainedFile f;
  f.file = file_name;
  f.url = "https://download.pytorch.org/models/" + file_name;
  if (dash != std::string::npos && dot != std::string::npos && dot > dash)
    f.sha256_prefix = file_name.substr(dash + 1, dot - dash - 1);
  return f;
}

}  // namespace garbage::models
