#include "garbage/sweep/runner.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/sweep/hparams.hpp"
#include "garbage/sweep/hyperband.hpp"

namespace garbage::sweep {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::string format_value(std::optional<double> v) {
  return v ? fmt::format("{:.4f}", *v) : std::string("-");
}

/// Refreshes this process's heartbeat until destroyed, so a long epoch does not look like a
/// dead worker. It also tells the workers whether the database answers (`online`), so a worker
/// cut off from it keeps training instead of waiting on every epoch.
class Heartbeat {
 public:
  Heartbeat(Storage& storage, std::string sweep, std::string worker, double every,
            std::atomic<bool>& online)
      : thread_([this, &storage, sweep, worker, every, &online] {
          std::unique_lock<std::mutex> lock(mutex_);
          while (
              !cv_.wait_for(lock, std::chrono::duration<double>(every), [this] { return done_; })) {
            try {
              storage.heartbeat(sweep, worker);
              online.store(true);
            } catch (const StorageUnavailable& e) {
              online.store(false);
              spdlog::warn("sweep {}: heartbeat failed: {}", sweep, e.what());
            } catch (const std::exception& e) {
              spdlog::warn("sweep {}: heartbeat failed: {}", sweep, e.what());
            }
          }
        }) {}
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

class SweepRunner {
 public:
  SweepRunner(Storage& storage, const SweepConfig& sweep, const RunOptions& options,
              const TrialFn& train)
      : storage_(storage),
        sweep_(sweep),
        options_(options),
        train_(train),
        hyperband_(sweep.early_terminate, sweep.goal, sweep.epochs()),
        worker_(options.worker.empty() ? this_worker_id() : options.worker),
        started_(Clock::now()) {}

  RunSummary run() {
    const int workers = std::max(1, options_.workers);
    int cores = options_.threads > 0 ? options_.threads : sweep_.base.at("threads").get<int>();
    if (cores <= 0) cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads_per_trial_ = std::max(1, cores / workers);
    spdlog::info("sweep {}: {} search, run_cap {}, {} worker(s) x {} thread(s){}", options_.name,
                 to_string(sweep_.method), sweep_.run_cap, workers, threads_per_trial_,
                 hyperband_.brackets().empty()
                     ? std::string()
                     : fmt::format(", hyperband brackets at epochs {}",
                                   fmt::join(hyperband_.brackets(), ", ")));
    {
      Heartbeat heartbeat(storage_, options_.name, worker_, options_.heartbeat_every, online_);
      std::vector<std::thread> threads;
      for (int w = 0; w < workers; ++w)
        threads.emplace_back([this, workers] { work(workers > 1); });
      for (auto& t : threads) t.join();
    }
    if (error_) std::rethrow_exception(error_);
    auto all = storage_.trials(options_.name);
    summary_.best = best_trial(sweep_, all);
    summary_.total_trials = static_cast<int64_t>(all.size());
    return summary_;
  }

 private:
  bool out_of_time() const {
    return options_.time_budget &&
           std::chrono::duration<double>(Clock::now() - started_).count() >= *options_.time_budget;
  }

  ClaimOptions claim_options() const {
    ClaimOptions c;
    c.worker = worker_;
    c.run_cap = sweep_.run_cap;
    c.stale_after = options_.stale_after;
    return c;
  }

  void work(bool shared_process) {
    while (!stop_.load()) {
      if (out_of_time()) {
        spdlog::info("sweep {}: time budget used up; no new trials", options_.name);
        return;
      }
      std::optional<TrialRecord> trial;
      try {
        trial = claim_waiting_for_storage();
      } catch (...) {
        fail_sweep(std::current_exception());
        return;
      }
      if (!trial) return;
      try {
        run_trial(*trial, shared_process);
      } catch (...) {  // storage trouble: a thread must not take the process down
        fail_sweep(std::current_exception());
        return;
      }
    }
  }

  /// Claims the next trial; while the database is unreachable, keeps asking until
  /// wait_for_storage runs out.
  std::optional<TrialRecord> claim_waiting_for_storage() {
    const auto deadline = Clock::now() + std::chrono::duration<double>(options_.wait_for_storage);
    for (;;) {
      try {
        return storage_.claim_trial(
            options_.name, claim_options(), [this](const std::vector<TrialRecord>& trials) {
              return suggest(sweep_, observations(trials), sweep_.seed, options_.suggest);
            });
      } catch (const StorageUnavailable& e) {
        if (Clock::now() >= deadline || stop_.load()) throw;
        spdlog::warn("sweep {}: cannot claim a trial yet: {}", options_.name, e.what());
      }
    }
  }

  void fail_sweep(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = e;
    stop_.store(true);
  }

  TrialContext make_context(const TrialRecord& trial, bool shared_process) {
    TrialContext ctx;
    ctx.trial = trial;
    ctx.run_dir = options_.out_root / fmt::format("trial-{:03d}", trial.id);
    // A re-queued trial starts over: a half-written run folder must not look resumable.
    std::error_code ec;
    fs::remove_all(ctx.run_dir, ec);
    ctx.train_doc = apply_params(sweep_, trial.params);
    ctx.train_doc["threads"] = threads_per_trial_;
    ctx.train_doc["name"] = fmt::format("{}-trial-{:03d}", options_.name, trial.id);
    ctx.train_doc["train"]["test_at_end"] = false;
    ctx.data_root = options_.data_root;
    ctx.log_file = !shared_process;
    return ctx;
  }

  void requeue(const TrialRecord& trial, const std::string& why) {
    try {
      storage_.end_trial(options_.name, trial.id, TrialStatus::queued, std::nullopt,
                         why + "; re-queued", trial.attempts);
    } catch (const std::exception& e) {
      spdlog::warn("sweep {}: could not re-queue trial {}: {}", options_.name, trial.id, e.what());
    }
  }

  /// Hyperband's verdict on `trial` after `epoch`, given every trial's curve so far.
  bool hyperband_stops(int64_t trial, int64_t epoch, const std::vector<TrialRecord>& trials) {
    std::vector<LearningCurve> curves;
    for (const auto& t : trials) {
      LearningCurve c{t.id, {}};
      for (const auto& e : t.epochs) c.values.push_back(e.metric(sweep_.metric));
      curves.push_back(std::move(c));
    }
    return hyperband_.should_stop(trial, epoch, curves);
  }

  /// Epochs of one attempt of a trial on their way to storage. They are written in order; the
  /// last one is judged by Hyperband when it sits on a bracket (in the same transaction).
  struct EpochWriter {
    const TrialRecord& trial;
    std::vector<EpochRecord> unwritten;
    bool stale = false;           ///< the trial was re-queued or claimed again meanwhile
    bool hyperband_stop = false;  ///< verdict on the last epoch written
  };

  /// Writes the unwritten epochs. Throws StorageUnavailable (they stay unwritten).
  void flush(EpochWriter& w) {
    while (!w.unwritten.empty() && !w.stale) {
      const EpochRecord& e = w.unwritten.front();
      const bool judge = w.unwritten.size() == 1 && hyperband_.is_bracket(e.epoch);
      if (judge) {
        auto verdict =
            storage_.record_epoch_and_judge(options_.name, w.trial.id, e, w.trial.attempts,
                                            [&](const std::vector<TrialRecord>& all) {
                                              return hyperband_stops(w.trial.id, e.epoch, all);
                                            });
        w.stale = !verdict;
        w.hyperband_stop = verdict.value_or(false);
      } else {
        w.stale = !storage_.record_epoch(options_.name, w.trial.id, e, w.trial.attempts);
      }
      if (!w.stale) w.unwritten.erase(w.unwritten.begin());
    }
  }

  /// After an epoch: stores it (unless the database is known to be unreachable: then it waits
  /// for the end of the trial) and returns why the trial must stop, if it must.
  std::optional<std::string> after_epoch(EpochWriter& w, const EpochRecord& e) {
    w.unwritten.push_back(e);
    w.hyperband_stop = false;
    if (online_.load()) {
      try {
        flush(w);
      } catch (const StorageUnavailable& err) {
        online_.store(false);
        spdlog::warn("sweep {}: trial {} keeps training; its epochs wait for the database: {}",
                     options_.name, w.trial.id, err.what());
      }
    }
    if (w.stale) return std::string("re-queued while this worker was cut off");
    if (out_of_time()) return std::string("time budget used up");
    if (w.hyperband_stop)
      return fmt::format("hyperband: not in the top 1/{} at epoch {}", sweep_.early_terminate.eta,
                         e.epoch);
    return std::nullopt;
  }

  /// Writes what is left of the trial and how it ended, waiting up to wait_for_storage for the
  /// database. False: the attempt was stale, nothing of it counts.
  bool finish(EpochWriter& w, TrialStatus status, std::optional<double> value,
              const std::string& note) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(options_.wait_for_storage);
    for (;;) {
      try {
        flush(w);
        if (w.stale) return false;
        bool ok =
            storage_.end_trial(options_.name, w.trial.id, status, value, note, w.trial.attempts);
        online_.store(true);
        return ok;
      } catch (const StorageUnavailable& e) {
        if (Clock::now() >= deadline) throw;
        spdlog::warn("sweep {}: trial {} is done; waiting for the database to store it: {}",
                     options_.name, w.trial.id, e.what());
      }
    }
  }

  void run_trial(const TrialRecord& trial, bool shared_process) {
    EpochWriter writer{trial, {}, false, false};
    std::vector<EpochRecord> epochs;
    std::optional<std::string> stop_reason;
    bool sweep_stopping = false;
    TrialStatus status = TrialStatus::finished;
    std::string note;
    std::optional<TrialContext> ctx;
    try {
      // A parameter combination the train config rejects fails this trial only.
      ctx = make_context(trial, shared_process);
    } catch (const std::exception& e) {
      status = TrialStatus::failed;
      note = e.what();
    }
    try {
      if (ctx) {
        storage_.set_run_dir(options_.name, trial.id, ctx->run_dir.string());
        spdlog::info("sweep {}: trial {} starts: {}", options_.name, trial.id, trial.params.dump());
        ctx->on_epoch = [&](const EpochRecord& e) {
          epochs.push_back(e);
          sweep_stopping = stop_.load();
          stop_reason = sweep_stopping ? "sweep stopping" : after_epoch(writer, e);
          return !stop_reason;
        };
        train_(*ctx);
        if (stop_reason) status = TrialStatus::stopped, note = *stop_reason;
      }
    } catch (const Interrupted&) {
      requeue(trial, "interrupted");
      fail_sweep(std::current_exception());
      return;
    } catch (const ConfigError&) {
      // Missing data or a bad setting fails every trial alike: stop instead of burning run_cap.
      requeue(trial, "the sweep stopped on an error");
      fail_sweep(std::current_exception());
      return;
    } catch (const DataError&) {
      requeue(trial, "the sweep stopped on an error");
      fail_sweep(std::current_exception());
      return;
    } catch (const std::exception& e) {
      status = TrialStatus::failed;
      note = e.what();
    }
    if (sweep_stopping) return requeue(trial, "another worker stopped the sweep");
    if (writer.stale) return drop_stale(trial);
    if (status == TrialStatus::failed)
      spdlog::warn("sweep {}: trial {} failed: {}", options_.name, trial.id, note);
    auto value = trial_value(sweep_, epochs);
    if (status != TrialStatus::failed && !value) {
      status = TrialStatus::failed;
      note = "no epoch finished";
    }
    if (!finish(writer, status, value, note)) return drop_stale(trial);
    report(trial, status, value, note, static_cast<int64_t>(epochs.size()));
  }

  void drop_stale(const TrialRecord& trial) {
    spdlog::warn(
        "sweep {}: trial {} was re-queued while this worker was cut off from the database; "
        "attempt {} is stale, its results are not stored; moving on",
        options_.name, trial.id, trial.attempts);
  }

  void report(const TrialRecord& trial, TrialStatus status, std::optional<double> value,
              const std::string& note, int64_t epochs) {
    auto all = storage_.trials(options_.name);
    auto best = best_trial(sweep_, all);
    int64_t ended = 0;
    for (const auto& t : all)
      if (t.status != TrialStatus::running && t.status != TrialStatus::queued) ++ended;
    std::lock_guard<std::mutex> lock(mutex_);
    ++summary_.trials_run;
    summary_.epochs += epochs;
    spdlog::info(
        "sweep {}: trial {} {} after {} epoch(s), {} {}{} | trials {}/{} | best {} {} (trial {})",
        options_.name, trial.id, to_string(status), epochs, sweep_.metric, format_value(value),
        note.empty() ? "" : " (" + note + ")", ended, sweep_.run_cap, sweep_.metric,
        best ? format_value(best->value) : "-", best ? best->id : 0);
  }

  Storage& storage_;
  const SweepConfig& sweep_;
  RunOptions options_;
  const TrialFn& train_;
  HyperbandRule hyperband_;
  std::string worker_;
  Clock::time_point started_;
  int threads_per_trial_ = 1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> online_{true};  ///< false while the database does not answer
  std::mutex mutex_;
  std::exception_ptr error_;
  RunSummary summary_;
};

}  // namespace

std::optional<double> trial_value(const SweepConfig& sweep,
                                  const std::vector<EpochRecord>& epochs) {
  std::optional<double> best;
  for (const auto& e : epochs) {
    double v = e.metric(sweep.metric);
    if (std::isfinite(v) && (!best || sweep.better(v, *best))) best = v;
  }
  return best;
}

std::vector<Observation> observations(const std::vector<TrialRecord>& trials) {
  std::vector<Observation> out;
  for (const auto& t : trials) {
    Observation o;
    o.params = t.params;
    switch (t.status) {
      case TrialStatus::finished:
      case TrialStatus::stopped:
        if (!t.value) continue;
        o.kind = Observation::Kind::done;
        o.value = *t.value;
        break;
      case TrialStatus::running:
      case TrialStatus::queued:
        o.kind = Observation::Kind::pending;
        break;
      case TrialStatus::failed:
        o.kind = Observation::Kind::failed;
        break;
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::optional<TrialRecord> best_trial(const SweepConfig& sweep,
                                      const std::vector<TrialRecord>& trials) {
  std::optional<TrialRecord> best;
  for (const auto& t : trials) {
    if (!t.value || (t.status != TrialStatus::finished && t.status != TrialStatus::stopped))
      continue;
    if (!best || sweep.better(*t.value, *best->value)) best = t;
  }
  return best;
}

RunSummary run_sweep(Storage& storage, const SweepConfig& sweep, const RunOptions& options,
                     const TrialFn& train) {
  if (config::upgrade_document(sweep.base)["train"]["tensorboard"].get<bool>())
    write_hparams_experiment(sweep, options.out_root);
  return SweepRunner(storage, sweep, options, train).run();
}

}  // namespace garbage::sweep
