#pragma once
// Where a sweep lives: its config and one row per trial (params, status, per-epoch metrics,
// heartbeat). Two back ends behind one interface: SQLite (one host, the default) and PostgreSQL
// (many hosts sharing one database). Every method is atomic on its own; claim_trial is the one
// that decides what runs.
//
// Writes about a running trial carry the attempt that claimed it (TrialRecord::attempts at claim
// time): once the trial was re-queued (its worker looked dead) or claimed again, the old
// attempt's writes are refused, so a worker cut off from the database cannot count a trial twice.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/core/errors.hpp"

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

/// The database could not be reached within the retry window (PostgreSQL: connection lost and
/// not back in time). Callers that can wait longer (a worker mid-trial) catch it and try later.
class StorageUnavailable : public Error {
 public:
  explicit StorageUnavailable(const std::string& what) : Error(what) {}
};

/// Attempt argument meaning "whatever attempt is current" (tools, tests, the owner of the trial
/// when it does not track attempts).
constexpr int64_t kAnyAttempt = 0;

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
  /// Stores one epoch of a running trial. False: `attempt` is no longer the trial's running
  /// attempt (re-queued or claimed again meanwhile), nothing was written.
  virtual bool record_epoch(const std::string& sweep, int64_t trial, const EpochRecord& epoch,
                            int64_t attempt = kAnyAttempt) = 0;

  /// Called by record_epoch_and_judge with every trial (metrics included, this epoch too).
  using Judge = std::function<bool(const std::vector<TrialRecord>&)>;
  /// record_epoch and `judge` in one transaction that excludes the other judges of this sweep,
  /// so workers reaching a Hyperband bracket at the same moment decide as if one after the
  /// other. nullopt: the attempt is stale (nothing written); else the judge's verdict.
  virtual std::optional<bool> record_epoch_and_judge(const std::string& sweep, int64_t trial,
                                                     const EpochRecord& epoch, int64_t attempt,
                                                     const Judge& judge) = 0;
  /// Ends a trial (finished, stopped, failed) or puts it back in the queue (queued: it restarts
  /// from scratch, its metrics are dropped). False: `attempt` is stale, nothing was written
  /// (ending a trial twice with the same status is not stale: a retried write may repeat).
  virtual bool end_trial(const std::string& sweep, int64_t trial, TrialStatus status,
                         std::optional<double> value, const std::string& note,
                         int64_t attempt = kAnyAttempt) = 0;
  /// Refreshes the heartbeat of every running trial of `worker`.
  virtual void heartbeat(const std::string& sweep, const std::string& worker) = 0;
  /// Re-queues (or fails, after max_attempts) running trials whose worker stopped beating or,
  /// on this host, whose process is gone. Returns how many.
  virtual int reap_stale(const std::string& sweep, const ClaimOptions& options) = 0;
  virtual std::vector<TrialRecord> trials(const std::string& sweep) = 0;

  /// Writes trial rows verbatim (status, attempts, times, epochs: a copy, not a claim). The
  /// sweep must exist here and have no trials yet (sweep copy). Throws ConfigError otherwise.
  virtual void import_trials(const std::string& sweep, const std::vector<TrialRecord>& trials) = 0;
};

struct StorageOptions {
  /// PostgreSQL: how long one call keeps reconnecting (with back-off) after the connection is
  /// lost before it throws StorageUnavailable.
  double retry_for = 30;
};

/// Opens "sqlite:///relative/path.db" or "sqlite:////absolute/path.db" (SQLAlchemy style; a
/// bare path ending in .db works too), or "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?...]"
/// ("postgres://" too; libpq's URI: a unix-socket directory as ?host=/dir or a percent-encoded
/// host, sslmode and other parameters passed through, the password also from PGPASSWORD or
/// ~/.pgpass). Throws ConfigError for an unknown scheme or a database that cannot be reached.
std::unique_ptr<Storage> open_storage(const std::string& url, const StorageOptions& options = {});

/// The URL with its password replaced by "***" (in the user part and in a password=
/// parameter): the only form in which a storage URL is logged, reported or stored.
std::string redact_url(const std::string& url);

/// "host:pid" of this process.
std::string this_worker_id();

/// True when `worker` ("host:pid") names a process on this host that no longer exists (a worker
/// on another host is never "gone" by this test: only its heartbeat can tell).
bool worker_is_gone(const std::string& worker);

/// Copies sweep `name` (its document and every trial, metrics included, verbatim) from `from` to
/// `to`, where it must not have trials yet. Returns the number of trials copied.
int64_t copy_sweep(Storage& from, Storage& to, const std::string& name);

}  // namespace garbage::sweep
