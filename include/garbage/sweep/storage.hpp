#pragma once
// Where a sweep lives: its config and one row per trial (params, status, per-epoch metrics,
// heartbeat). Behind an interface so a PostgreSQL back end can serve many hosts later; SQLite is
// the default. Every method is atomic on its own; claim_trial is the one that decides what runs.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garbage::sweep {

using json = nlohmann::json;

enum class TrialStatus { queued, running, finished, stopped, failed };
std::string to_string(TrialStatus s);
TrialStatus parse_trial_status(const std::string& s);

struct EpochRecord {
  int64_t epoch = 0;  ///< 1-based
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0;
  double metric(const std::string& name) const {
    return name == "val_loss" ? val_loss : val_accuracy;
  }
};

struct TrialRecord {
  int64_t id = 0;  ///< 1, 2, ... in creation order
  json params;     ///< {parameter name: value}
  TrialStatus status = TrialStatus::queued;
  std::string worker;    ///< "host:pid" of the process running it
  int64_t attempts = 0;  ///< times it was claimed (a re-queued trial runs again)
  double created = 0, heartbeat = 0, ended = 0;  ///< unix seconds (0: not yet)
  std::optional<double> value;                   ///< the trial's metric (best over its epochs)
  std::string run_dir;
  std::string note;  ///< why it failed or stopped
  std::vector<EpochRecord> epochs;
};

struct ClaimOptions {
  std::string worker;        ///< "host:pid"
  int64_t run_cap = 0;       ///< trials that may exist in total
  double stale_after = 120;  ///< seconds without heartbeat before a running trial is re-queued
  int64_t max_attempts = 3;  ///< a trial re-queued this often is failed instead
};

class Storage {
 public:
  virtual ~Storage() = default;

  /// Stores the sweep `document` under `name`, or returns the one stored before (the caller
  /// decides whether a difference is an error).
  virtual json create_sweep(const std::string& name, const json& document) = 0;
  virtual std::optional<json> load_sweep(const std::string& name) = 0;
  virtual void update_sweep(const std::string& name, const json& document) = 0;
  virtual std::vector<std::string> sweep_names() = 0;

  /// Called inside claim_trial with every trial so far (metrics included); returns the
  /// parameters of a new trial, or nullopt when the search is exhausted.
  using Suggest = std::function<std::optional<json>(const std::vector<TrialRecord>&)>;

  /// In one exclusive transaction: re-queues trials whose worker is gone, then hands out the
  /// oldest queued trial, or (below run_cap) a new one from `suggest`, marked running for
  /// `worker`. nullopt: nothing left to run. Two processes never get the same trial.
  virtual std::optional<TrialRecord> claim_trial(const std::string& sweep,
                                                 const ClaimOptions& options,
                                                 const Suggest& suggest) = 0;
  virtual void set_run_dir(const std::string& sweep, int64_t trial, const std::string& dir) = 0;
  virtual void record_epoch(const std::string& sweep, int64_t trial, const EpochRecord& epoch) = 0;
  /// Ends a trial (finished, stopped, failed) or puts it back in the queue (queued: it restarts
  /// from scratch, its metrics are dropped).
  virtual void end_trial(const std::string& sweep, int64_t trial, TrialStatus status,
                         std::optional<double> value, const std::string& note) = 0;
  /// Refreshes the heartbeat of every running trial of `worker`.
  virtual void heartbeat(const std::string& sweep, const std::string& worker) = 0;
  /// Re-queues (or fails, after max_attempts) running trials whose worker stopped beating or,
  /// on this host, whose process is gone. Returns how many.
  virtual int reap_stale(const std::string& sweep, const ClaimOptions& options) = 0;
  virtual std::vector<TrialRecord> trials(const std::string& sweep) = 0;
};

/// Opens "sqlite:///relative/path.db" or "sqlite:////absolute/path.db" (SQLAlchemy style; a
/// bare path ending in .db works too). Throws ConfigError for an unknown scheme.
std::unique_ptr<Storage> open_storage(const std::string& url);

/// "host:pid" of this process.
std::string this_worker_id();

}  // namespace garbage::sweep
