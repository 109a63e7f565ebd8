// Hyperband on synthetic learning curves: exactly the expected trials stop, at the expected
// bracket.

#include <gtest/gtest.h>

#include "garbage/sweep/hyperband.hpp"
#include "garbage/sweep/storage.hpp"
#include "sweep_fixture.hpp"

using garbage::sweep::Goal;
using garbage::sweep::HyperbandConfig;
using garbage::sweep::HyperbandRule;
using garbage::sweep::LearningCurve;
using nlohmann::json;

namespace {

HyperbandConfig hyperband(int64_t min_iter, double eta = 3) {
  HyperbandConfig h;
  h.enabled = true;
  h.min_iter = min_iter;
  h.eta = eta;
  return h;
}

}  // namespace

TEST(Hyperband, KeepsTheTopThirdAtEachBracket) {
  HyperbandRule rule(hyperband(1), Goal::maximize, 10);
  EXPECT_EQ(rule.brackets(), (std::vector<int64_t>{1, 3, 9}));
  std::vector<LearningCurve> curves = {{1, {0.5}}};
  EXPECT_FALSE(rule.should_stop(1, 1, curves));  // alone at the bracket
  curves.push_back({2, {0.4}});
  EXPECT_TRUE(rule.should_stop(2, 1, curves));  // ceil(2/3) = 1 survives
  EXPECT_FALSE(rule.should_stop(1, 1, curves));
  curves.push_back({3, {0.45}});
  curves.push_back({4, {0.47}});
  EXPECT_FALSE(rule.should_stop(4, 1, curves));  // ceil(4/3) = 2: 0.47 is second
  EXPECT_TRUE(rule.should_stop(3, 1, curves));
  EXPECT_FALSE(rule.should_stop(4, 2, curves));  // not a bracket
  // A tie with the last survivor survives.
  curves.push_back({5, {0.47}});
  EXPECT_FALSE(rule.should_stop(5, 1, curves));
}

TEST(Hyperband, JudgesTheBestValueSoFarAndOnlyTrialsThatGotThere) {
  HyperbandRule rule(hyperband(1), Goal::maximize, 10);
  std::vector<LearningCurve> curves = {
      {1, {0.9, 0.2, 0.2}},  // a noisy drop after a good epoch: judged by 0.9
      {2, {0.5, 0.6, 0.7}},
      {3, {0.95}},  // stopped at epoch 1: not part of the epoch-3 comparison
  };
  EXPECT_FALSE(rule.should_stop(1, 3, curves));
  EXPECT_TRUE(rule.should_stop(2, 3, curves));
}

TEST(Hyperband, MinimisesLoss) {
  HyperbandRule rule(hyperband(2, 2), Goal::minimize, 10);
  EXPECT_EQ(rule.brackets(), (std::vector<int64_t>{2, 4, 8}));
  std::vector<LearningCurve> curves = {{1, {1.0, 0.5}}, {2, {1.0, 0.7}}, {3, {0.9, 0.6}}};
  // ceil(3/2) = 2 survive: 0.5 and 0.6.
  EXPECT_FALSE(rule.should_stop(1, 2, curves));
  EXPECT_FALSE(rule.should_stop(3, 2, curves));
  EXPECT_TRUE(rule.should_stop(2, 2, curves));
}

TEST(Hyperband, SweepStopsExactlyTheExpectedTrials) {
  namespace sweep = garbage::sweep;
  garbage::testing::TempDir dir("hyperband");
  // Grid order fixes the arrival order; each trial's curve rises to its quality q.
  std::vector<double> quality = {0.5, 0.8, 0.3, 0.9, 0.6, 0.7};
  json values = json::array();
  for (size_t i = 0; i < quality.size(); ++i) values.push_back(static_cast<int64_t>(8 + i));
  json doc = garbage::testing::sweep_document("grid", {{"num_dense", {{"values", values}}}}, 6);
  doc["early_terminate"] = {{"type", "hyperband"}, {"min_iter", 1}, {"eta", 3}};
  auto config = garbage::testing::parse_sweep(doc);
  auto storage = sweep::open_storage("sqlite:///" + (dir / "s.db").string());
  storage->create_sweep("hb", config.document);
  sweep::RunOptions options;
  options.name = "hb";
  options.out_root = dir / "runs";
  auto trial = garbage::testing::curve_trial([&](const json& p, int64_t epoch) {
    double q = quality[static_cast<size_t>(p["num_dense"].get<int64_t>() - 8)];
    return q * (1.0 - std::pow(0.5, static_cast<double>(epoch)));
  });
  auto summary = sweep::run_sweep(*storage, config, options, trial);
  // Brackets at epochs 1 and 3 (of 9). At epoch 1 the values are q/2: trial 3 (0.15) trails
  // 0.25, 0.4; trial 5 (0.3) and 6 (0.35) are outside the top ceil(n/3) = 2 (0.45, 0.4).
  auto trials = storage->trials("hb");
  ASSERT_EQ(trials.size(), 6u);
  std::vector<std::string> status;
  std::vector<size_t> epochs;
  for (const auto& t : trials)
    status.push_back(to_string(t.status)), epochs.push_back(t.epochs.size());
  EXPECT_EQ(status, (std::vector<std::string>{"finished", "finished", "stopped", "finished",
                                              "stopped", "stopped"}));
  EXPECT_EQ(epochs, (std::vector<size_t>{9, 9, 1, 9, 1, 1}));
  EXPECT_NE(trials[2].note.find("hyperband"), std::string::npos);
  EXPECT_NEAR(*trials[2].value, 0.15, 1e-12);  // stopped trials keep their metric
  ASSERT_TRUE(summary.best);
  EXPECT_EQ(summary.best->id, 4);
  EXPECT_EQ(summary.epochs, 30);
}
