// Per-step learning rates against torch.optim.lr_scheduler (OneCycleLR, CosineAnnealingLR) run
// by /usr/bin/python3, and warm-up by hand.

#include <sstream>

#include <gtest/gtest.h>

#include "../support/python_oracle.hpp"
#include "garbage/train/schedule.hpp"

namespace garbage::train {
namespace {

std::vector<double> torch_rates(const std::string& args) {
  bool ok = false;
  const auto out = testing::run_python_script("tests/train/lr_reference.py", args, ok);
  EXPECT_TRUE(ok) << out;
  std::vector<double> values;
  std::istringstream in(out);
  for (double v; in >> v;) values.push_back(v);
  return values;
}

TEST(Schedule, OneCycleMatchesTorchEveryStep) {
  if (!testing::have_torchvision()) GTEST_SKIP() << "no /usr/bin/python3 with torch";
  config::OptimizerConfig opt;
  opt.lr = 0.1;
  config::SchedulerConfig s;
  s.name = "onecycle";
  s.pct_start = 0.25;
  s.div_factor = 20;
  s.final_div_factor = 100;
  const int64_t steps_per_epoch = 7, epochs = 3, total = steps_per_epoch * epochs;
  const auto expected = torch_rates("onecycle 0.1 21 0.25 20 100");
  ASSERT_EQ(static_cast<int64_t>(expected.size()), total);
  for (int64_t t = 0; t < total; ++t)
    EXPECT_NEAR(
        scheduled_lr_at(opt, s, t / steps_per_epoch, t % steps_per_epoch, steps_per_epoch, epochs),
        expected[t], 1e-12)
        << "step " << t;
}

TEST(Schedule, CosineByStepAfterWarmupMatchesCosineAnnealingLR) {
  if (!testing::have_torchvision()) GTEST_SKIP() << "no /usr/bin/python3 with torch";
  config::OptimizerConfig opt;
  opt.lr = 0.5;
  config::SchedulerConfig s;
  s.name = "cosine";
  s.per_step = true;
  s.min_lr = 0.01;
  s.warmup_epochs = 1;
  s.warmup_steps = 2;
  const int64_t steps_per_epoch = 5, epochs = 4, warmup = 7, total = 20;
  // Warm-up: lr * (t + 1) / (warmup + 1), by hand.
  for (int64_t t = 0; t < warmup; ++t)
    EXPECT_DOUBLE_EQ(
        scheduled_lr_at(opt, s, t / steps_per_epoch, t % steps_per_epoch, steps_per_epoch, epochs),
        0.5 * static_cast<double>(t + 1) / 8.0)
        << "step " << t;
  // Then CosineAnnealingLR over the remaining 13 steps.
  const auto expected = torch_rates("cosine 0.5 13 0.01 13");
  ASSERT_EQ(expected.size(), 13u);
  for (int64_t t = warmup; t < total; ++t)
    EXPECT_NEAR(
        scheduled_lr_at(opt, s, t / steps_per_epoch, t % steps_per_epoch, steps_per_epoch, epochs),
        expected[t - warmup], 1e-12)
        << "step " << t;
}

TEST(Schedule, EpochSchedulesAreUnchangedUnlessPerStep) {
  config::OptimizerConfig opt;
  opt.lr = 1.0;
  config::SchedulerConfig s;
  s.name = "step";
  s.step_size = 2;
  s.gamma = 0.1;
  // Per epoch: constant within an epoch.
  EXPECT_DOUBLE_EQ(scheduled_lr_at(opt, s, 1, 9, 10, 10), 1.0);
  EXPECT_NEAR(scheduled_lr_at(opt, s, 2, 0, 10, 10), 0.1, 1e-15);
  s.name = "cosine";
  EXPECT_DOUBLE_EQ(scheduled_lr_at(opt, s, 5, 3, 10, 10), 0.5);
  // Per step: step 53 of 100 sits at cos(pi * 0.53).
  s.per_step = true;
  EXPECT_NEAR(scheduled_lr_at(opt, s, 5, 3, 10, 10), 0.5 * (1 + std::cos(M_PI * 0.53)), 1e-15);
  s.name = "step";  // decays every step_size * steps_per_epoch steps
  EXPECT_DOUBLE_EQ(scheduled_lr_at(opt, s, 1, 9, 10, 10), 1.0);
  EXPECT_NEAR(scheduled_lr_at(opt, s, 2, 0, 10, 10), 0.1, 1e-15);
}

}  // namespace
}  // namespace garbage::train
