#pragma once
// Self-describing checkpoints: weights, optimizer state, RNG state and a JSON header with the
// resolved config, class names, preprocessing, position in training and metrics. Eval and resume
// need nothing else. Written atomically (temp file + rename).

#include <filesystem>
#include <optional>

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "garbage/models/registry.hpp"

namespace torch::optim {
class Optimizer;
}

namespace garbage::loading {

constexpr int kCheckpointFormat = 1;

struct CheckpointState {
  nlohmann::json meta;      ///< format, config, class_names, epoch, step_in_epoch, metrics...
  torch::Tensor rng_state;  ///< torch CPU generator state at the save point
  /// The moving average of the weights (train.ema), saved beside the model's; null: none.
  models::ModelPtr ema;
};

/// Writes model weights (+ optimizer when given) and `state` to `path` atomically.
void save_checkpoint(const std::filesystem::path& path, const models::ClassifierImpl& model,
                     const torch::optim::Optimizer* optimizer, const CheckpointState& state);

/// Reads only the JSON header. Throws Error naming the file when it is not a garbage checkpoint.
nlohmann::json read_checkpoint_meta(const std::filesystem::path& path);

struct LoadedCheckpoint {
  CheckpointState state;
  models::ModelPtr model;  ///< built from the stored config, weights loaded, in eval mode
  // state.ema: the EMA weights in eval mode when the checkpoint holds them, else null.
};

/// Rebuilds the model from the stored config and loads its weights.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& path);

/// Loads the stored optimizer state into `optimizer` (same parameter layout required), its
/// tensors on `device` (where the parameters are).
void load_optimizer_state(const std::filesystem::path& path, torch::optim::Optimizer& optimizer,
                          torch::Device device = torch::kCPU);

}  // namespace garbage::loading
