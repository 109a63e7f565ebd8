#pragma once
// The training configuration: one JSON document, validated strictly, resolved against defaults,
// then turned into typed options for the data, model and training code. Every field is declared
// once, in the table in train_config.cpp (path, member, default, rule); the defaults document,
// the validation rules and both JSON directions are generated from it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/data/dataset.hpp"
#include "garbage/data/transform.hpp"

namespace garbage::config {

using json = nlohmann::json;

struct OptimizerConfig {
  std::string name = "adam";  ///< adam | adamw | sgd
  double lr = 1e-4;
  double momentum = 0.9;  ///< sgd
  bool nesterov = false;  ///< sgd
  double weight_decay = 0.0;
  bool no_decay_norm_bias = false;    ///< biases and norm parameters without weight decay
  double beta1 = 0.9, beta2 = 0.999;  ///< adam, adamw
};

struct SchedulerConfig {
  std::string name = "none";      ///< none | step | cosine | onecycle
  int64_t step_size = 10;         ///< step: epochs between decays
  double gamma = 0.1;             ///< step: decay factor
  double min_lr = 0.0;            ///< cosine: floor
  int64_t warmup_epochs = 0;      ///< linear warm-up before either schedule
  bool per_step = false;          ///< step/cosine/warm-up on the step count, not the epoch
  int64_t warmup_steps = 0;       ///< extra warm-up steps (implies per_step)
  double pct_start = 0.3;         ///< onecycle: share of steps rising to lr
  double div_factor = 25;         ///< onecycle: initial rate lr / div_factor
  double final_div_factor = 1e4;  ///< onecycle: final rate initial / final_div_factor
};

/// Mixup / CutMix per batch (timm's Mixup); both alphas 0: off.
struct MixupConfig {
  double mixup_alpha = 0.0;   ///< Beta(alpha, alpha) for mixup; 0: no mixup
  double cutmix_alpha = 0.0;  ///< Beta(alpha, alpha) for CutMix; 0: no CutMix
  double prob = 1.0;          ///< probability that a batch is mixed at all
  double switch_prob = 0.5;   ///< CutMix instead of mixup, when both are on
};

/// Exponential moving average of the weights (train/ema.hpp); decay 0: off.
struct EmaConfig {
  double decay = 0.0;   ///< e.g. 0.999; per optimizer step
  bool warmup = false;  ///< decay min(decay, (1 + t) / (10 + t)) at step t
};

struct EarlyStoppingConfig {
  std::string metric = "val_accuracy";  ///< val_accuracy (maximised) | val_loss (minimised)
  int64_t patience = 5;                 ///< 0 disables early stopping
  double min_delta = 0.0;
};

struct LoaderConfig {
  int workers = 2;
  int prefetch = 4;
  bool channels_last = true;
};

struct TrainConfig {
  json resolved;  ///< the full validated document, written to the run folder and checkpoints
  std::string name;
  uint64_t seed = 42;
  int threads = 0;  ///< 0: all cores
  json model;       ///< resolved model section (registry input)
  data::DatasetOptions dataset;
  LoaderConfig loader;
  int preprocess_resize = 0;           ///< as configured; 0: the model's input size
  data::TransformSpec transform;       ///< resize.size is the effective size
  int test_resize = 0, test_crop = 0;  ///< FixRes: val/test/inference sizes; 0: as training
  data::ResizeSpec eval_resize;        ///< what val, test and inference resize with (derived)
  int64_t epochs = 20;
  int64_t batch_size = 32;
  int64_t eval_batch_size = 64;
  std::string eval_engine = "auto";  ///< validation/test forward: auto | native | torch
  double label_smoothing = 0.0;
  MixupConfig mixup;
  EmaConfig ema;
  std::string class_weights = "none";  ///< none | balanced (loss weights n / (K * n_c))
  bool test_at_end = true;
  bool tensorboard = true;  ///< event files in the run folder's tb/
  /// fused CPU training kernels (kernels/fused.hpp) vs plain libtorch ops
  bool fused_kernels = true;
  bool sync_bn = false;        ///< data-parallel: BatchNorm statistics over the global batch
  /// parts of each batch trained at once on one thread each (train/replicas.hpp); 0: auto (the
  /// thread count on a single-process CPU run with fused kernels), 1: off
  int micro_batches = 0;
  std::string device = "cpu";  ///< cpu | cuda | cuda:N | auto (core/device.hpp)
  OptimizerConfig optimizer;
  SchedulerConfig scheduler;
  EarlyStoppingConfig early_stopping;
};

/// The complete default document (model section for the default model).
json default_train_document();

/// Validates a user document (after --set overrides) and returns it merged with defaults.
/// Throws ConfigError "<source>: <json path>: <problem>".
json resolve_train_document(const json& user, const std::string& source);

/// A stored document (a checkpoint's, written before some fields existed) with every missing
/// field at its default.
json upgrade_document(const json& stored);

/// Typed view of a resolved document (upgraded first, so older checkpoints' documents work).
TrainConfig make_train_config(const json& resolved);

/// The document a typed config describes (every table field, and the model section); the
/// inverse of make_train_config.
json to_document(const TrainConfig& config);

/// Dot paths of every field of the table ("train.optimizer.lr"), in table order.
std::vector<std::string> field_paths();

/// Reads a config file, applies "a.b=v" overrides, validates, resolves.
TrainConfig load_train_config(const std::filesystem::path& path,
                              const std::vector<std::string>& overrides = {});

/// Data root precedence: --data > config data.root > $GARBAGE_DATA > data/trashnet.
std::string resolve_data_root(const std::optional<std::string>& cli_data,
                              const std::string& config_root);

/// The transform a checkpoint or config describes (preprocess + augment sections), resizing as
/// evaluation does (preprocess.test_resize / test_crop when set).
data::TransformSpec transform_from_document(const json& resolved);

}  // namespace garbage::config
