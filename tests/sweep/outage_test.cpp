// A worker cut off from its database (any back end: a wrapper makes the storage unreachable on
// demand) keeps training, writes its epochs and result when the database is back, and drops its
// result when the trial was re-queued and claimed by another worker meanwhile.

#include <atomic>

#include <gtest/gtest.h>

#include "garbage/sweep/runner.hpp"
#include "garbage/sweep/storage.hpp"
#include "sweep_fixture.hpp"

namespace sweep = garbage::sweep;
using garbage::testing::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// Forwards to a real storage, or throws StorageUnavailable while `down` (as the PostgreSQL
/// back end does once its retry window has passed).
class Unreachable : public sweep::Storage {
 public:
  explicit Unreachable(std::unique_ptr<sweep::Storage> inner) : inner_(std::move(inner)) {}
  std::atomic<bool> down{false};
  std::atomic<int> refused{0};

  json create_sweep(const std::string& n, const json& d) override {
    check();
    return inner_->create_sweep(n, d);
  }
  std::optional<json> load_sweep(const std::string& n) override {
    check();
    return inner_->load_sweep(n);
  }
  void update_sweep(const std::string& n, const json& d) override {
    check();
    inner_->update_sweep(n, d);
  }
  std::vector<std::string> sweep_names() override {
    check();
    return inner_->sweep_names();
  }
  std::optional<sweep::TrialRecord> claim_trial(const std::string& s, const sweep::ClaimOptions& o,
                                                const Suggest& suggest) override {
    check();
    return inner_->claim_trial(s, o, suggest);
  }
  void set_run_dir(const std::string& s, int64_t t, const std::string& d) override {
    check();
    inner_->set_run_dir(s, t, d);
  }
  bool record_epoch(const std::string& s, int64_t t, const sweep::EpochRecord& e,
                    int64_t a) override {
    check();
    return inner_->record_epoch(s, t, e, a);
  }
  std::optional<bool> record_epoch_and_judge(const std::string& s, int64_t t,
                                             const sweep::EpochRecord& e, int64_t a,
                                             const Judge& j) override {
    check();
    return inner_->record_epoch_and_judge(s, t, e, a, j);
  }
  bool end_trial(const std::string& s, int64_t t, sweep::TrialStatus st, std::optional<double> v,
                 const std::string& n, int64_t a) override {
    check();
    return inner_->end_trial(s, t, st, v, n, a);
  }
  void heartbeat(const std::string& s, const std::string& w) override {
    check();
    inner_->heartbeat(s, w);
  }
  int reap_stale(const std::string& s, const sweep::ClaimOptions& o) override {
    check();
    return inner_->reap_stale(s, o);
  }
  std::vector<sweep::TrialRecord> trials(const std::string& s) override {
    check();
    return inner_->trials(s);
  }
  void import_trials(const std::string& s, const std::vector<sweep::TrialRecord>& t) override {
    check();
    inner_->import_trials(s, t);
  }
  sweep::Storage& inner() { return *inner_; }

 private:
  void check() {
    if (!down.load()) return;
    ++refused;
    throw sweep::StorageUnavailable("test: the database is unreachable");
  }
  std::unique_ptr<sweep::Storage> inner_;
};

sweep::RunOptions options(const TempDir& dir) {
  sweep::RunOptions o;
  o.name = "o";
  o.out_root = dir / "runs";
  o.heartbeat_every = 0.02;
  o.wait_for_storage = 30;
  return o;
}

json one_parameter() {
  return {{"num_dense", {{"values", {8}}}}};
}

}  // namespace

TEST(SweepOutage, AWorkerCutOffKeepsTrainingAndWritesEverythingWhenTheDatabaseIsBack) {
  TempDir dir("outage");
  Unreachable storage(sweep::open_storage("sqlite:///" + (dir / "s.db").string()));
  auto config =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("grid", one_parameter(), 1));
  storage.create_sweep("o", config.document);
  auto curve = garbage::testing::curve_trial([](const json&, int64_t e) { return 0.1 * e; }, 20ms);
  std::vector<int64_t> trained;
  sweep::TrialFn trial = [&](sweep::TrialContext& ctx) {
    auto report = ctx.on_epoch;
    ctx.on_epoch = [&, report](const sweep::EpochRecord& e) {
      trained.push_back(e.epoch);
      if (e.epoch == 3) storage.down = true;   // cut off after epoch 3 ...
      if (e.epoch == 7) storage.down = false;  // ... back after epoch 7
      return report(e);
    };
    curve(ctx);
  };
  sweep::run_sweep(storage, config, options(dir), trial);
  EXPECT_EQ(trained.size(), 9u);  // training never stopped
  EXPECT_GT(storage.refused.load(), 0);
  auto t = storage.inner().trials("o").at(0);
  EXPECT_EQ(t.status, sweep::TrialStatus::finished);
  ASSERT_EQ(t.epochs.size(), 9u);  // the epochs of the outage were written afterwards
  for (int64_t e = 1; e <= 9; ++e) EXPECT_EQ(t.epochs[e - 1].epoch, e);
  EXPECT_DOUBLE_EQ(*t.value, 0.9);
  EXPECT_EQ(t.attempts, 1);
}

TEST(SweepOutage, AResultOfATrialReQueuedMeanwhileIsRefusedAndCountsOnce) {
  TempDir dir("outage");
  Unreachable storage(sweep::open_storage("sqlite:///" + (dir / "s.db").string()));
  auto config =
      garbage::testing::parse_sweep(garbage::testing::sweep_document("grid", one_parameter(), 1));
  storage.create_sweep("o", config.document);
  auto curve = garbage::testing::curve_trial([](const json&, int64_t e) { return 0.1 * e; }, 5ms);
  sweep::TrialFn trial = [&](sweep::TrialContext& ctx) {
    auto report = ctx.on_epoch;
    ctx.on_epoch = [&, report](const sweep::EpochRecord& e) {
      if (e.epoch == 2) {
        storage.down = true;
        // Meanwhile another host decides this worker is dead and runs the trial itself.
        auto& db = storage.inner();
        sweep::ClaimOptions other;
        other.worker = "other:1";
        other.run_cap = 1;
        other.stale_after = 0;
        std::this_thread::sleep_for(20ms);
        EXPECT_EQ(db.reap_stale("o", other), 1);
        auto again = db.claim_trial("o", other, [](const auto&) { return std::nullopt; });
        EXPECT_TRUE(again && again->attempts == 2);
        for (int64_t k = 1; k <= 9; ++k) db.record_epoch("o", 1, {k, 0, 0, 0, 0.5, 0}, 2);
        db.end_trial("o", 1, sweep::TrialStatus::finished, 0.5, "", 2);
        storage.down = false;
      }
      return report(e);
    };
    curve(ctx);
  };
  auto summary = sweep::run_sweep(storage, config, options(dir), trial);
  EXPECT_EQ(summary.trials_run, 0);  // this worker's attempt did not count
  auto t = storage.inner().trials("o").at(0);
  EXPECT_EQ(t.status, sweep::TrialStatus::finished);
  EXPECT_EQ(t.worker, "other:1");
  EXPECT_EQ(t.attempts, 2);
  EXPECT_DOUBLE_EQ(*t.value, 0.5);
  ASSERT_EQ(t.epochs.size(), 9u);
  for (const auto& e : t.epochs) EXPECT_DOUBLE_EQ(e.val_accuracy, 0.5);
}
