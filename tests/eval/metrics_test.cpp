#include <gtest/gtest.h>

#include "garbage/eval/metrics.hpp"

using garbage::eval::compute_metrics;

TEST(Metrics, MatchesAHandComputedExample) {
  // true:  0 0 0 1 1 2
  // pred:  0 0 1 1 2 2
  auto m = compute_metrics({0, 0, 0, 1, 1, 2}, {0, 0, 1, 1, 2, 2}, 3, 6.0);
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(m.loss, 1.0);
  EXPECT_EQ(m.confusion[0], (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(m.confusion[1], (std::vector<int64_t>{0, 1, 1}));
  EXPECT_DOUBLE_EQ(m.per_class[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(m.per_class[0].recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.per_class[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[2].precision, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[2].recall, 1.0);
  double f0 = 0.8, f1 = 0.5, f2 = 2.0 / 3.0;
  EXPECT_NEAR(m.macro_f1, (f0 + f1 + f2) / 3, 1e-12);
  EXPECT_NEAR(m.weighted_f1, (3 * f0 + 2 * f1 + 1 * f2) / 6, 1e-12);
  EXPECT_EQ(m.per_class[0].support, 3);
}

TEST(Metrics, ClassNeverPredictedScoresZeroNotNaN) {
  auto m = compute_metrics({0, 1}, {0, 0}, 2, 0.0);
  EXPECT_DOUBLE_EQ(m.per_class[1].precision, 0.0);
  EXPECT_DOUBLE_EQ(m.per_class[1].f1, 0.0);
  auto j = garbage::eval::metrics_to_json(m, {"a", "b"});
  EXPECT_EQ(j["per_class"]["b"]["support"], 1);
  EXPECT_EQ(j["confusion_matrix"][0][0], 1);
}
