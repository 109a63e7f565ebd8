#pragma once
// Sweeps in TensorBoard's HParams dashboard: the sweep folder holds the experiment summary (each
// parameter with its domain, and the metric), each trial's tb/ its session start (parameters) and
// end (status), beside the scalars its training writes.

#include <filesystem>

#include "garbage/sweep/storage.hpp"
#include "garbage/sweep/sweep_file.hpp"

namespace garbage::report {
enum class SessionStatus;
}

namespace garbage::sweep {

/// The TensorBoard tag of the sweep's metric ("epoch/val_accuracy").
std::string metric_tag(const SweepConfig& sweep);

/// Writes the experiment summary into `dir` (the sweep folder, TensorBoard's --logdir).
void write_hparams_experiment(const SweepConfig& sweep, const std::filesystem::path& dir);

/// Session summaries of one trial, in its run folder's tb/ (where its scalars are).
class TrialSession {
 public:
  TrialSession(const std::filesystem::path& run_dir, const TrialRecord& trial);
  ~TrialSession();
  void end(report::SessionStatus status);

 private:
  struct Writer;
  std::unique_ptr<Writer> writer_;
};

}  // namespace garbage::sweep
