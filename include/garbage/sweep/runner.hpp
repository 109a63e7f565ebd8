#pragma once
// Workers of a sweep: claim a trial from storage, train it, report each epoch (where Hyperband
// may stop it), record how it ended, repeat until run_cap, the grid or the time budget is used
// up. Several workers may run as threads of one process and/or as separate processes. The
// training itself is a function passed in, so this file stays torch-free and tests can run
// sweeps on synthetic learning curves.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "garbage/sweep/space.hpp"
#include "garbage/sweep/storage.hpp"
#include "garbage/sweep/suggest.hpp"
#include "garbage/sweep/sweep_file.hpp"

namespace garbage::sweep {

/// What the function that trains one trial gets.
struct TrialContext {
  TrialRecord trial;
  json train_doc;  ///< resolved train document (threads and test_at_end already set)
  std::filesystem::path run_dir;
  std::optional<std::string> data_root;
  bool log_file = true;  ///< false when trials share the process with other trials
  /// Report each epoch; a false return means "stop now" (Hyperband or the time budget).
  std::function<bool(const EpochRecord&)> on_epoch;
};

/// Trains one trial, calling ctx.on_epoch after every epoch. Throws on failure (a diverged loss
/// fails the trial only); garbage::Interrupted stops the whole sweep.
using TrialFn = std::function<void(TrialContext& ctx)>;

struct RunOptions {
  std::string name;                      ///< sweep name in storage
  int workers = 1;                       ///< trials at once in this process (threads)
  int threads = 0;                       ///< cores to split among workers (0: all)
  std::optional<double> time_budget;     ///< seconds; then no new trials, running ones stop
  std::filesystem::path out_root;        ///< trial run folders: out_root/trial-NNN
  std::optional<std::string> data_root;  ///< --data
  double stale_after = 120;              ///< seconds without heartbeat before a trial is re-queued
  double heartbeat_every = 10;
  /// How long a worker cut off from the database keeps waiting for it (training its current
  /// trial meanwhile, keeping its epochs) before it gives up.
  double wait_for_storage = 3600;
  std::string worker;  ///< "host:pid" recorded with its trials; empty: this_worker_id()
  SuggestOptions suggest;
};

struct RunSummary {
  int64_t trials_run = 0;           ///< by this process
  int64_t epochs = 0;               ///< trained by this process
  std::optional<TrialRecord> best;  ///< best of the whole sweep so far
  int64_t total_trials = 0;         ///< rows of the sweep
};

/// Runs workers until nothing is left to do. Rethrows garbage::Interrupted (after re-queueing
/// the interrupted trials) so the CLI can exit 130.
RunSummary run_sweep(Storage& storage, const SweepConfig& sweep, const RunOptions& options,
                     const TrialFn& train);

/// The trial's value: its best metric over the epochs it trained (nullopt: no epochs).
std::optional<double> trial_value(const SweepConfig& sweep, const std::vector<EpochRecord>& epochs);

/// Earlier trials as the search sees them: done (finished/stopped with a value), pending
/// (running/queued) or failed.
std::vector<Observation> observations(const std::vector<TrialRecord>& trials);

/// The best finished or stopped trial, if any.
std::optional<TrialRecord> best_trial(const SweepConfig& sweep,
                                      const std::vector<TrialRecord>& trials);

/// Trains a trial with the real trainer (train/trainer.hpp).
void train_trial(TrialContext& ctx);

}  // namespace garbage::sweep
