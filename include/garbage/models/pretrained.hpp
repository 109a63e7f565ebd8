#pragma once
// Loading weight files (torchvision checkpoints, safetensors) into registry models, and finding
// the official torchvision files for `model.pretrained: true`.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/io/tensor_data.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {

struct LoadOptions {
  /// A head (ClassifierImpl::head_name) shaped for other classes is left at its initialisation
  /// instead of failing: fine-tuning ImageNet weights on the data set's classes.
  bool replace_mismatched_head = true;
  /// Missing, unexpected or mis-shaped keys (other than a replaced head and modules the file
  /// cannot have) are an Error; otherwise they are only reported.
  bool strict = true;
};

struct LoadReport {
  std::string file;
  std::vector<std::string> loaded;
  std::vector<std::string> missing;        ///< in the model, not in the file
  std::vector<std::string> unexpected;     ///< in the file, not in the model
  std::vector<std::string> mismatched;     ///< "name: file [1000, 512] vs model [6, 512]"
  std::vector<std::string> new_modules;    ///< missing, but new in this architecture (attention)
  std::vector<std::string> head_replaced;  ///< head tensors kept at their initialisation
  std::string describe() const;            ///< multi-line, for logs and errors
};

/// Copies matching tensors of `tensors` into the model's parameters and buffers.
LoadReport load_state_dict(ClassifierImpl& model, const io::StateDict& tensors,
                           const LoadOptions& options, const std::string& context);

/// Reads `path` (torch.save zip or legacy, or safetensors) and loads it into `model`.
LoadReport load_weights_file(ClassifierImpl& model, const std::filesystem::path& path,
                             const LoadOptions& options = {});

/// Number of classes of the head `head_name` in a weight file, when it has one.
std::optional<int64_t> head_classes(const std::filesystem::path& path,
                                    const std::string& head_name);

/// torchvision's file name for a registry model ("resnet18-f37072fd.pth"); empty when none.
std::string official_weights_name(const std::string& model_name);

/// Folders searched for official files: $GARBAGE_WEIGHTS, weights/, ../shared/weights/.
std::vector<std::filesystem::path> weights_search_path();

/// The official file for `model_name` in the search path; throws ConfigError telling the user
/// to run scripts/get_weights.sh when it is absent.
std::filesystem::path find_official_weights(const std::string& model_name);

/// The file model.weights / model.pretrained name (nullopt when neither is set). Throws
/// ConfigError when it does not exist, so a run fails before it decodes any data.
std::optional<std::filesystem::path> configured_weights_file(const nlohmann::json& model_config);

/// Applies model.weights / model.pretrained of a resolved model section (no-op when neither is
/// set). A head shaped for other classes is replaced, and said so in the log.
std::optional<LoadReport> apply_weights_config(ClassifierImpl& model,
                                               const nlohmann::json& model_config);

}  // namespace garbage::models
