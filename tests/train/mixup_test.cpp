// Mixup / CutMix targets, boxes and lambdas by hand (timm's rules), and the soft-target loss
// against libtorch's cross-entropy with label smoothing and class weights.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "garbage/train/mixup.hpp"

namespace garbage::train {
namespace {

using torch::indexing::Slice;

TEST(Mixup, CutmixBoxIsClippedAndLambdaFollowsItsArea) {
  // lam 0.64: sides int(10 * 0.6) = 6, half 3; centre (1, 8) clips to rows 0..4, cols 5..10.
  const Box b = cutmix_box(10, 10, 0.64, 1, 8);
  EXPECT_EQ(b.y0, 0);
  EXPECT_EQ(b.y1, 4);
  EXPECT_EQ(b.x0, 5);
  EXPECT_EQ(b.x1, 10);
  EXPECT_EQ(b.area(), 20);
  const Box inside = cutmix_box(10, 10, 0.64, 5, 5);
  EXPECT_EQ(inside.area(), 36);
}

TEST(Mixup, TargetsBlendSmoothedOneHotWithTheReversedBatch) {
  const auto labels = torch::tensor({0, 2, 1}, torch::kLong);
  const auto t = mixed_targets(labels, 3, 0.7, 0.3);
  // off 0.1, on 0.8; row 0 mixes class 0 (0.7) with the reversed batch's class 1 (0.3).
  const auto expected = torch::tensor({{0.59, 0.31, 0.10}, {0.10, 0.10, 0.80}, {0.31, 0.59, 0.10}});
  EXPECT_TRUE(torch::allclose(t, expected.to(torch::kFloat), 1e-6, 1e-6)) << t;
  EXPECT_TRUE(torch::allclose(t.sum(1), torch::ones({3})));
}

TEST(Mixup, CutmixPastesTheReversedBatchInTheBoxAndCorrectsLambda) {
  torch::manual_seed(1);
  const auto images = torch::rand({4, 3, 16, 12});
  const auto labels = torch::tensor({0, 1, 2, 1}, torch::kLong);
  config::MixupConfig c;
  c.cutmix_alpha = 1.0;
  int checked = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const auto m = mix_batch(images, labels, 3, c, 0.0, seed);
    ASSERT_TRUE(m.cutmix);
    ASSERT_TRUE(m.targets.defined());
    EXPECT_DOUBLE_EQ(m.lam, 1.0 - static_cast<double>(m.box.area()) / (16.0 * 12.0));
    EXPECT_TRUE(torch::allclose(m.targets, mixed_targets(labels, 3, m.lam, 0.0)));
    auto expected = images.clone();
    const auto rows = Slice(m.box.y0, m.box.y1), cols = Slice(m.box.x0, m.box.x1);
    expected.index_put_({Slice(), Slice(), rows, cols},
                        images.flip({0}).index({Slice(), Slice(), rows, cols}));
    EXPECT_TRUE(torch::equal(m.images, expected)) << "seed " << seed;
    checked += m.box.area() > 0;
    // Same seed, same draws.
    const auto again = mix_batch(images, labels, 3, c, 0.0, seed);
    EXPECT_EQ(again.lam, m.lam);
    EXPECT_TRUE(torch::equal(again.images, m.images));
  }
  EXPECT_GT(checked, 10);
}

TEST(Mixup, MixupBlendsWholeImagesAndProbZeroLeavesTheBatch) {
  torch::manual_seed(2);
  const auto images = torch::rand({3, 3, 8, 8});
  const auto labels = torch::tensor({0, 1, 2}, torch::kLong);
  config::MixupConfig c;
  c.mixup_alpha = 0.4;
  const auto m = mix_batch(images, labels, 3, c, 0.1, 7);
  ASSERT_FALSE(m.cutmix);
  ASSERT_LT(m.lam, 1.0);
  EXPECT_TRUE(torch::allclose(m.images, images * m.lam + images.flip({0}) * (1 - m.lam)));
  EXPECT_TRUE(torch::allclose(m.targets, mixed_targets(labels, 3, m.lam, 0.1)));
  c.prob = 0.0;
  const auto none = mix_batch(images, labels, 3, c, 0.1, 7);
  EXPECT_FALSE(none.targets.defined());
  EXPECT_TRUE(torch::equal(none.images, images));
}

TEST(Mixup, SwitchProbabilityAndBetaVarianceOverManySteps) {
  const auto images = torch::zeros({2, 1, 8, 8});
  const auto labels = torch::tensor({0, 1}, torch::kLong);
  config::MixupConfig c;
  c.mixup_alpha = 0.4;
  c.cutmix_alpha = 1.0;
  c.switch_prob = 0.3;
  c.prob = 0.8;
  const int n = 4000;
  int cutmix = 0, mixed = 0, mixup = 0;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const auto m = mix_batch(images, labels, 2, c, 0.0, mix_step_seed(9, 0, i));
    mixed += m.targets.defined();
    cutmix += m.cutmix;
    if (m.targets.defined() && !m.cutmix) {
      ++mixup;
      sum += m.lam;
      sum_sq += m.lam * m.lam;
    }
  }
  // Binomial: 3 standard deviations.
  EXPECT_NEAR(mixed / static_cast<double>(n), 0.8, 3 * std::sqrt(0.8 * 0.2 / n));
  EXPECT_NEAR(cutmix / static_cast<double>(n), 0.8 * 0.3, 3 * std::sqrt(0.24 * 0.76 / n));
  // Beta(0.4, 0.4): mean 1/2, variance 1 / (4 (2a + 1)) = 0.1389.
  const double mean = sum / mixup, var = sum_sq / mixup - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.03);
  EXPECT_NEAR(var, 1.0 / (4 * 1.8), 0.01);
}

TEST(Mixup, SoftTargetLossMatchesTorchCrossEntropyWithSmoothingAndWeights) {
  torch::manual_seed(3);
  const auto logits = torch::randn({5, 4});
  const auto labels = torch::tensor({0, 3, 1, 1, 2}, torch::kLong);
  namespace F = torch::nn::functional;
  MixedBatch plain;
  const auto reference =
      F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().label_smoothing(0.2));
  EXPECT_TRUE(torch::allclose(training_loss(logits, labels, plain, 0.2), reference));
  MixedBatch soft;
  soft.targets = mixed_targets(labels, 4, 1.0, 0.2);  // lam 1: the smoothed one-hot targets
  EXPECT_TRUE(torch::allclose(training_loss(logits, labels, soft, 0.2), reference, 1e-5, 1e-6));
  const auto weights = torch::tensor({0.5, 2.0, 1.0, 3.0});
  const auto weighted =
      F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().weight(weights));
  EXPECT_TRUE(torch::allclose(training_loss(logits, labels, plain, 0.0, weights), weighted));
  soft.targets = mixed_targets(labels, 4, 1.0, 0.0);
  EXPECT_TRUE(
      torch::allclose(training_loss(logits, labels, soft, 0.0, weights), weighted, 1e-5, 1e-6));
}

TEST(Mixup, BalancedClassWeights) {
  // n / (K * n_c): 4 samples, 2 classes, counts 3 and 1.
  const auto w = balanced_class_weights({0, 0, 1, 0}, 2);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_DOUBLE_EQ(w[0], 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(w[1], 2.0);
}

}  // namespace
}  // namespace garbage::train
