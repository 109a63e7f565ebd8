#pragma once
// Models are created by name, like timm's create_model. Adding a model is one source file that
// defines a ModelSpec plus one line in registry.cpp. Torch-free so configs can be validated
// without pulling in libtorch headers.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/config/schema.hpp"

namespace garbage::models {

class ClassifierImpl;
using ModelPtr = std::shared_ptr<ClassifierImpl>;

struct ModelSpec {
  std::string name;
  std::string description;
  nlohmann::json defaults;  ///< every model config key with its default (without "name")
  config::Rules rules;      ///< keyed by path relative to the model section ("dropout")
  /// Builds the model from a validated, merged model config (defaults applied).
  std::function<ModelPtr(const nlohmann::json& config)> create;
  /// Cross-field checks beyond the per-key rules; throws ConfigError. May be empty.
  std::function<void(const nlohmann::json& config, const std::string& source)> check;
};

const std::vector<ModelSpec>& all_models();

/// Throws ConfigError naming the nearest registered model when `name` is unknown.
const ModelSpec& find_model(const std::string& name);

/// Validates a user model section ({"name": ..., ...}) and returns it merged with the model's
/// defaults. Paths in errors are prefixed with "model.".
nlohmann::json resolve_model_config(const nlohmann::json& user, const std::string& source);

/// Builds a model from a resolved model section (as stored in checkpoints).
ModelPtr create_model(const nlohmann::json& resolved);

}  // namespace garbage::models
