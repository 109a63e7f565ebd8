#pragma once
// Models are created by name, like timm's create_model. Each family's source file defines its
// ModelSpec (options, defaults, rules, pretrained files, preprocessing, head) and registers it
// with one call; registry.cpp lists the built-in families. Torch-free so configs can be validated
// and models listed without pulling in libtorch headers.

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/core/schema.hpp"

namespace garbage::models {

class ClassifierImpl;
using ModelPtr = std::shared_ptr<ClassifierImpl>;

/// An official weight file of a model, as torchvision publishes it.
struct PretrainedFile {
  std::string file;           ///< "resnet18-f37072fd.pth"
  std::string url;            ///< where torchvision downloads it from
  std::string sha256_prefix;  ///< the hex prefix of its SHA-256 that the file name carries
};

/// The eval preprocessing a model's weights expect: resize (square, or the shorter side), center
/// crop, normalise. Values 0 mean "the model's input size".
struct Preprocessing {
  int resize = 0;
  std::string resize_mode = "square";  ///< square | shorter
  int crop = 0;
  std::array<double, 3> mean{0.485, 0.456, 0.406};  ///< ImageNet
  std::array<double, 3> std{0.229, 0.224, 0.225};
};

struct ModelSpec {
  std::string name;
  std::string description;
  nlohmann::json defaults;  ///< every model config key with its default (without "name")
  Rules rules;              ///< keyed by path relative to the model section ("dropout")
  /// Builds the model from a validated, merged model config (defaults applied).
  std::function<ModelPtr(const nlohmann::json& config)> create;
  /// Cross-field checks beyond the per-key rules; throws ConfigError. May be empty.
  std::function<void(const nlohmann::json& config, const std::string& source)> check;

  int input_size = 224;  ///< the image side the model is built for
  std::string head;      ///< dotted name of the classification layer ("fc"); empty: none
  /// Official files, the one `model.pretrained: true` loads first (IMAGENET1K_V1), then the
  /// other accepted versions.
  std::vector<PretrainedFile> pretrained;
  /// What its pretrained weights expect (torchvision: shorter side 256, crop 224).
  Preprocessing preprocessing;
};

/// Every registered model, built-in families first, in registration order.
const std::vector<ModelSpec>& all_models();

/// Adds a model family (e.g. a project's own or a test's). Throws Error when the name is taken.
/// Not thread-safe: register before models are created concurrently.
void register_model(ModelSpec spec);

/// Throws ConfigError naming the nearest registered model when `name` is unknown.
const ModelSpec& find_model(const std::string& name);

/// Validates a user model section ({"name": ..., ...}) and returns it merged with the model's
/// defaults. Paths in errors are prefixed with "model.".
nlohmann::json resolve_model_config(const nlohmann::json& user, const std::string& source);

/// Builds a model from a resolved model section (as stored in checkpoints).
ModelPtr create_model(const nlohmann::json& resolved);

/// A torchvision file entry: "<name>-<prefix>.pth" under download.pytorch.org/models.
PretrainedFile torchvision_file(const std::string& file_name);

}  // namespace garbage::models
