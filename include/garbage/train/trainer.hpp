#pragma once
// The training loop: epochs of train + validation, metrics files, atomic checkpoints, early
// stopping, exact resume (also mid-epoch, after Ctrl-C) and an optional test evaluation.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "garbage/config/train_config.hpp"

namespace garbage::train {

class Collective;

struct EpochMetrics {
  int64_t epoch = 0;  ///< 1-based
  double lr = 0;
  double train_loss = 0, train_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;
  double train_images_per_second = 0;
  double seconds = 0;
  double ema_val_loss = NAN, ema_val_accuracy = NAN;  ///< with train.ema; NaN otherwise

  nlohmann::json to_json() const;
  static EpochMetrics from_json(const nlohmann::json& j);
};

struct TrainHooks {
  /// After every optimizer step: (epoch 0-based, step within epoch 0-based, batch loss).
  std::function<void(int64_t epoch, int64_t step, double loss)> on_step;
  /// After every epoch's validation and checkpoint; returning false ends the run there (e.g. a
  /// sweep's early termination). The run then counts as stopped, not failed.
  std::function<bool(const EpochMetrics&)> on_epoch;
};

struct TrainRequest {
  config::TrainConfig config;
  std::filesystem::path out_dir;         ///< run folder (created)
  std::optional<std::string> data_root;  ///< --data
  bool resume = false;                   ///< continue from out_dir/last.pt
  TrainHooks hooks;
  std::shared_ptr<Collective> collective;  ///< null: single process
  /// Adds train.log in the run folder to the global logger. Off when several trainings share a
  /// process (sweep workers): spdlog's sink list is not safe to change while others log.
  bool log_file = true;
  /// Logs each epoch's step breakdown and, after the first, the top operators (--profile).
  bool profile = false;
};

struct TrainResult {
  std::filesystem::path run_dir;
  std::vector<EpochMetrics> history;
  int64_t best_epoch = 0;
  double best_val_accuracy = 0;  ///< of best.pt's weights: the EMA's with train.ema
  bool early_stopped = false;
  bool stopped_by_hook = false;         ///< on_epoch returned false
  std::optional<double> test_accuracy;  ///< when train.test_at_end
  nlohmann::json summary;               ///< as written to summary.json
};

/// Trains per the request. Throws ConfigError/DataError/Error; throws Interrupted (exit 130)
/// after writing last.pt when garbage::request_stop() was called (SIGINT).
TrainResult run_training(const TrainRequest& request);

/// `base` when it holds no run yet, else the first free "base-2", "base-3", ...
std::filesystem::path next_free_run_dir(const std::filesystem::path& base);

}  // namespace garbage::train
