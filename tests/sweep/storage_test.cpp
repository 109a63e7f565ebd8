// Storage and workers on both back ends (SQLite, and PostgreSQL on a server the fixture starts):
// claims, run_cap, stale heartbeats, stale attempts, two processes on one sweep, Hyperband
// verdicts at one bracket, kill-and-resume, failed trials, restarts.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include "garbage/core/errors.hpp"
#include "garbage/sweep/runner.hpp"
#include "garbage/sweep/storage.hpp"
#include "postgres_fixture.hpp"
#include "sweep_fixture.hpp"

namespace sweep = garbage::sweep;
using garbage::testing::fork_child;
using garbage::testing::PostgresServer;
using garbage::testing::TempDir;
using garbage::testing::wait_child;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

sweep::Storage::Suggest counter() {
  return [](const std::vector<sweep::TrialRecord>& trials) -> std::optional<json> {
    return json{{"x", static_cast<int64_t>(trials.size())}};
  };
}

sweep::ClaimOptions claim(const std::string& worker, int64_t cap, double stale_after = 120) {
  sweep::ClaimOptions c;
  c.worker = worker;
  c.run_cap = cap;
  c.stale_after = stale_after;
  c.max_attempts = 2;
  return c;
}

json mixed_space() {
  return {{"lr", {{"distribution", "log_uniform_values"}, {"min", 1e-5}, {"max", 1e-1}}},
          {"num_dense", {{"distribution", "int_uniform"}, {"min", 8}, {"max", 128}}}};
}

double smooth_curve(const json& p, int64_t epoch) {
  double lr = std::log10(p["lr"].get<double>()) + 2.5;
  return (0.9 - 0.05 * lr * lr) * (1.0 - std::pow(0.6, static_cast<double>(epoch)));
}

sweep::RunOptions run_options(const TempDir& dir, const std::string& name, int workers = 1) {
  sweep::RunOptions o;
  o.name = name;
  o.workers = workers;
  o.out_root = dir / "runs";
  o.heartbeat_every = 0.05;
  return o;
}

/// Runs every test on SQLite and on PostgreSQL (skipped, saying why, only when the server binaries
/// are not installed).
class StorageBackend : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "postgresql") return;
    std::string why;
    pg_ = PostgresServer::get(&why);
    if (!pg_) GTEST_SKIP() << why;
  }

  /// This test's storage: a file in `dir`, or a fresh PostgreSQL database.
  std::string url(const TempDir& dir) {
    if (GetParam() == "sqlite") return "sqlite:///" + (dir / "sweeps.db").string();
    if (db_.empty()) db_ = pg_->fresh_database();
    return pg_->url(db_);
  }

  PostgresServer* pg_ = nullptr;
  std::string db_;
};

class SweepStorage : public StorageBackend {};
class SweepRunner : public StorageBackend {};

std::string backend_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Backends, SweepStorage, ::testing::Values("sqlite", "postgresql"),
                         backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, SweepRunner, ::testing::Values("sqlite", "postgresql"),
                         backend_name);

TEST_P(SweepStorage, ClaimsRespectRunCapAndRequeuedTrialsComeFirst) {
  TempDir dir("storage");
  auto s = sweep::open_storage(url(dir));
  EXPECT_EQ(s->create_sweep("a", {{"k", 1}}), (json{{"k", 1}}));
  EXPECT_EQ(s->create_sweep("a", {{"k", 2}}), (json{{"k", 1}}));  // the stored one wins
  auto t1 = s->claim_trial("a", claim("w:1", 2), counter());
  auto t2 = s->claim_trial("a", claim("w:1", 2), counter());
  ASSERT_TRUE(t1 && t2);
  EXPECT_EQ(t1->id, 1);
  EXPECT_EQ(t2->params, (json{{"x", 1}}));
  EXPECT_EQ(t2->status, sweep::TrialStatus::running);
  EXPECT_FALSE(s->claim_trial("a", claim("w:1", 2), counter()));  // run_cap
  s->record_epoch("a", 1, {1, 0.1, 0.2, 0.3, 0.4, 1.0});
  s->end_trial("a", 1, sweep::TrialStatus::queued, std::nullopt, "interrupted");
  auto again = s->claim_trial("a", claim("w:1", 2), counter());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, 1);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_TRUE(again->epochs.empty());  // a re-queued trial starts over
  s->record_epoch("a", 1, {1, 0.1, 0.2, 0.3, 0.75, 1.0});
  s->end_trial("a", 1, sweep::TrialStatus::finished, 0.75, "");
  auto rows = s->trials("a");
  EXPECT_EQ(rows[0].status, sweep::TrialStatus::finished);
  EXPECT_DOUBLE_EQ(*rows[0].value, 0.75);
  EXPECT_DOUBLE_EQ(rows[0].epochs.at(0).val_accuracy, 0.75);
  EXPECT_EQ(s->sweep_names(), (std::vector<std::string>{"a"}));
  EXPECT_THROW(sweep::open_storage("postgres://host/db"), garbage::ConfigError);
}

TEST_P(SweepStorage, SilentWorkersAreRequeuedThenFailed) {
  TempDir dir("storage");
  auto s = sweep::open_storage(url(dir));
  s->create_sweep("a", json::object());
  // Another host: only the heartbeat can tell it is gone.
  ASSERT_TRUE(s->claim_trial("a", claim("elsewhere:1", 5), counter()));
  EXPECT_EQ(s->reap_stale("a", claim("me:1", 5, 60)), 0);
  std::this_thread::sleep_for(300ms);
  s->heartbeat("a", "someone-else:2");  // other workers' heartbeats do not help
  EXPECT_EQ(s->reap_stale("a", claim("me:1", 5, 0.2)), 1);
  EXPECT_EQ(s->trials("a")[0].status, sweep::TrialStatus::queued);
  auto again = s->claim_trial("a", claim("elsewhere:1", 5), counter());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, 1);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(s->reap_stale("a", claim("me:1", 5, 0.2)), 1);
  auto t = s->trials("a")[0];
  EXPECT_EQ(t.status, sweep::TrialStatus::failed);  // max_attempts 2
  EXPECT_NE(t.note.find("silent"), std::string::npos) << t.note;
}

TEST_P(SweepStorage, TwoProcessesNeverDuplicateATrialAndRespectRunCap) {
  TempDir dir("storage");
  json doc = garbage::testing::sweep_document("bayes", mixed_space(), 14);
  auto config = garbage::testing::parse_sweep(doc);
  sweep::open_storage(url(dir))->create_sweep("two", config.document);
  std::vector<pid_t> children;
  for (int c = 0; c < 2; ++c)
    children.push_back(fork_child([&, c] {
      auto storage = sweep::open_storage(url(dir));
      std::ofstream log(dir / ("ran-" + std::to_string(c) + ".txt"));
      std::mutex log_mutex;  // both worker threads of this process write to the one stream
      auto curve = garbage::testing::curve_trial(smooth_curve, 3ms);
      sweep::TrialFn trial = [&](sweep::TrialContext& ctx) {
        {
          std::lock_guard<std::mutex> lock(log_mutex);
          log << ctx.trial.id << "\n" << std::flush;
        }
        curve(ctx);
      };
      sweep::run_sweep(*storage, config, run_options(dir, "two", 2), trial);
    }));
  for (pid_t pid : children) EXPECT_EQ(wait_child(pid), 0);
  std::multiset<int> ran;
  for (int c = 0; c < 2; ++c) {
    std::ifstream in(dir / ("ran-" + std::to_string(c) + ".txt"));
    for (int id; in >> id;) ran.insert(id);
  }
  EXPECT_EQ(ran.size(), 14u);
  for (int id = 1; id <= 14; ++id) EXPECT_EQ(ran.count(id), 1u) << "trial " << id;
  auto trials = sweep::open_storage(url(dir))->trials("two");
  ASSERT_EQ(trials.size(), 14u);
  std::set<std::string> params, workers;
  for (const auto& t : trials) {
    EXPECT_EQ(t.status, sweep::TrialStatus::finished);
    EXPECT_EQ(t.attempts, 1);
    EXPECT_EQ(t.epochs.size(), 9u);
    params.insert(t.params.dump());
    workers.insert(t.worker);
  }
  EXPECT_EQ(params.size(), 14u);  // pending points are not suggested twice
  EXPECT_EQ(workers.size(), 2u);
}

TEST_P(SweepStorage, KilledSweepResumesWhereItWas) {
  TempDir dir("storage");
  auto config =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("random", mixed_space(), 4));
  sweep::open_storage(url(dir))->create_sweep("resume", config.document);
  pid_t child = fork_child([&] {
    auto storage = sweep::open_storage(url(dir));
    sweep::run_sweep(*storage, config, run_options(dir, "resume"),
                     garbage::testing::curve_trial(smooth_curve, 200ms));
  });
  auto storage = sweep::open_storage(url(dir));
  // Kill the worker in the middle of its first trial.
  for (int i = 0; i < 200; ++i) {
    auto trials = storage->trials("resume");
    if (!trials.empty() && trials[0].epochs.size() >= 2) break;
    std::this_thread::sleep_for(20ms);
  }
  kill(child, SIGKILL);
  wait_child(child);
  auto before = storage->trials("resume");
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].status, sweep::TrialStatus::running);

  auto summary = sweep::run_sweep(*storage, config, run_options(dir, "resume"),
                                  garbage::testing::curve_trial(smooth_curve));
  auto after = storage->trials("resume");
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after[0].params, before[0].params);
  EXPECT_EQ(after[0].attempts, 2);  // re-queued at once: its process is gone
  for (const auto& t : after) {
    EXPECT_EQ(t.status, sweep::TrialStatus::finished);
    EXPECT_EQ(t.epochs.size(), 9u);
  }
  EXPECT_EQ(summary.trials_run, 4);
}

TEST_P(SweepRunner, DivergedTrialFailsAndTheSweepGoesOn) {
  TempDir dir("runner");
  json space = {{"num_dense", {{"values", {8, 9, 10}}}}};
  auto config = garbage::testing::parse_sweep(garbage::testing::sweep_document("grid", space, 3));
  auto storage = sweep::open_storage(url(dir));
  storage->create_sweep("nan", config.document);
  auto curve = garbage::testing::curve_trial([](const json&, int64_t e) { return 0.1 * e; });
  sweep::TrialFn trial = [&](sweep::TrialContext& ctx) {
    if (ctx.trial.params["num_dense"] == 9) throw garbage::Error("training diverged: loss is nan");
    curve(ctx);
  };
  sweep::run_sweep(*storage, config, run_options(dir, "nan"), trial);
  auto trials = storage->trials("nan");
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[1].status, sweep::TrialStatus::failed);
  EXPECT_NE(trials[1].note.find("diverged"), std::string::npos);
  EXPECT_EQ(trials[2].status, sweep::TrialStatus::finished);
  auto obs = sweep::observations(trials);
  EXPECT_EQ(obs[1].kind, sweep::Observation::Kind::failed);
}

TEST_P(SweepRunner, RestartWithALargerRunCapContinuesAndTimeBudgetStops) {
  TempDir dir("runner");
  json doc = garbage::testing::sweep_document("bayes", mixed_space(), 3);
  auto storage = sweep::open_storage(url(dir));
  auto first = garbage::testing::parse_sweep(doc);
  storage->create_sweep("grow", first.document);
  sweep::run_sweep(*storage, first, run_options(dir, "grow"),
                   garbage::testing::curve_trial(smooth_curve));
  auto before = storage->trials("grow");
  doc["run_cap"] = 6;
  auto second = garbage::testing::parse_sweep(doc);
  auto summary = sweep::run_sweep(*storage, second, run_options(dir, "grow", 2),
                                  garbage::testing::curve_trial(smooth_curve));
  auto after = storage->trials("grow");
  ASSERT_EQ(after.size(), 6u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(after[i].params, before[i].params);
  EXPECT_EQ(summary.trials_run, 3);
  EXPECT_EQ(summary.total_trials, 6);

  // A time budget ends the running trial after its epoch and starts no new one.
  doc["run_cap"] = 20;
  auto third = garbage::testing::parse_sweep(doc);
  auto options = run_options(dir, "grow");
  options.time_budget = 0.15;
  sweep::run_sweep(*storage, third, options, garbage::testing::curve_trial(smooth_curve, 100ms));
  auto last = storage->trials("grow");
  ASSERT_EQ(last.size(), 7u);
  EXPECT_EQ(last[6].status, sweep::TrialStatus::stopped);
  EXPECT_LT(last[6].epochs.size(), 9u);
  EXPECT_NE(last[6].note.find("time budget"), std::string::npos);
}

TEST_P(SweepStorage, WritesOfAStaleAttemptAreRefused) {
  TempDir dir("storage");
  auto s = sweep::open_storage(url(dir));
  s->create_sweep("a", json::object());
  auto first = s->claim_trial("a", claim("far:1", 5), counter());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->attempts, 1);
  EXPECT_TRUE(s->record_epoch("a", 1, {1, 0.1, 0.2, 0.3, 0.4, 1.0}, 1));
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(s->reap_stale("a", claim("me:1", 5, 0.2)), 1);  // far:1 looked dead
  // While queued, the old attempt can write nothing.
  EXPECT_FALSE(s->record_epoch("a", 1, {2, 0.1, 0.2, 0.3, 0.5, 1.0}, 1));
  auto second = s->claim_trial("a", claim("near:2", 5), counter());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, 1);
  EXPECT_EQ(second->attempts, 2);
  // far:1 comes back: its epoch and its result are refused, near:2's count.
  EXPECT_FALSE(s->record_epoch("a", 1, {2, 0.1, 0.2, 0.3, 0.5, 1.0}, 1));
  EXPECT_FALSE(s->end_trial("a", 1, sweep::TrialStatus::finished, 0.5, "", 1));
  EXPECT_TRUE(s->record_epoch("a", 1, {1, 0.1, 0.2, 0.3, 0.25, 1.0}, 2));
  EXPECT_TRUE(s->end_trial("a", 1, sweep::TrialStatus::finished, 0.25, "", 2));
  // A repeated write of the same end (a retry after a lost reply) is not stale.
  EXPECT_TRUE(s->end_trial("a", 1, sweep::TrialStatus::finished, 0.25, "", 2));
  auto t = s->trials("a").at(0);
  EXPECT_EQ(t.status, sweep::TrialStatus::finished);
  EXPECT_DOUBLE_EQ(*t.value, 0.25);
  ASSERT_EQ(t.epochs.size(), 1u);
  EXPECT_DOUBLE_EQ(t.epochs[0].val_accuracy, 0.25);
}

TEST_P(SweepStorage, WorkersReachingABracketTogetherAreJudgedOneAfterTheOther) {
  TempDir dir("storage");
  const int n = 4;
  {
    auto s = sweep::open_storage(url(dir));
    s->create_sweep("hb", json::object());
    for (int i = 0; i < n; ++i) ASSERT_TRUE(s->claim_trial("hb", claim("w:1", n), counter()));
  }
  // Each process records epoch 1 of its own trial; its judge counts the trials that have an
  // epoch 1 by then. Judged one after the other, the counts are 1..n; overlapping, some repeat.
  const auto start = std::chrono::steady_clock::now() + 300ms;
  std::vector<pid_t> children;
  for (int i = 1; i <= n; ++i)
    children.push_back(fork_child([&, i] {
      auto storage = sweep::open_storage(url(dir));
      std::this_thread::sleep_until(start);
      auto verdict = storage->record_epoch_and_judge(
          "hb", i, {1, 0.1, 0.2, 0.3, 0.4, 1.0}, 1,
          [&](const std::vector<sweep::TrialRecord>& all) {
            int seen = 0;
            for (const auto& t : all) seen += t.epochs.empty() ? 0 : 1;
            std::this_thread::sleep_for(50ms);  // widen the window a concurrent judge could use
            std::ofstream(dir / ("seen-" + std::to_string(i))) << seen;
            return false;
          });
      if (!verdict) throw std::runtime_error("stale");
    }));
  for (pid_t pid : children) EXPECT_EQ(wait_child(pid), 0);
  std::set<int> seen;
  for (int i = 1; i <= n; ++i) {
    std::ifstream in(dir / ("seen-" + std::to_string(i)));
    int v = 0;
    ASSERT_TRUE(in >> v) << "trial " << i;
    seen.insert(v);
  }
  EXPECT_EQ(seen, (std::set<int>{1, 2, 3, 4}));
}
