// The EMA update and its warm-up, by hand.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/model_fixture.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/train/ema.hpp"

namespace garbage::train {
namespace {

using testing::tiny_simple_cnn;

void fill(models::ClassifierImpl& model, double value, int64_t count) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) p.fill_(value);
  for (auto& b : model.buffers()) b.is_floating_point() ? b.fill_(value) : b.fill_(count);
}

TEST(Ema, UpdateBlendsParametersAndFloatBuffersAndCopiesCounters) {
  auto ema = tiny_simple_cnn(), model = tiny_simple_cnn();
  fill(*ema, 1.0, 5);
  fill(*model, 3.0, 9);
  ema_update(*ema, *model, 0.9);
  // 0.9 * 1 + 0.1 * 3 = 1.2
  for (const auto& p : ema->parameters()) EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 1.2)));
  size_t counters = 0;
  for (const auto& b : ema->buffers()) {
    if (b.is_floating_point()) {
      EXPECT_TRUE(torch::allclose(b, torch::full_like(b, 1.2)));
    } else {
      EXPECT_EQ(b.item<int64_t>(), 9);
      ++counters;
    }
  }
  EXPECT_GT(counters, 0u);  // BatchNorm's num_batches_tracked
  copy_weights(*ema, *model);
  for (const auto& p : ema->parameters()) EXPECT_TRUE(torch::equal(p, torch::full_like(p, 3.0)));
}

TEST(Ema, WarmupDecayRisesToTheConfiguredDecay) {
  EXPECT_DOUBLE_EQ(ema_decay_at(0.999, false, 0), 0.999);
  EXPECT_DOUBLE_EQ(ema_decay_at(0.999, true, 0), 0.1);            // 1 / 10
  EXPECT_DOUBLE_EQ(ema_decay_at(0.999, true, 90), 91.0 / 100.0);  // (1 + 90) / (10 + 90)
  EXPECT_DOUBLE_EQ(ema_decay_at(0.9, true, 1000), 0.9);
}

}  // namespace
}  // namespace garbage::train
