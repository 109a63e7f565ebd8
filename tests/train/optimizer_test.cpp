#include <gtest/gtest.h>

#include "garbage/train/optimizer.hpp"

TEST(Scheduler, StepCosineAndWarmup) {
  garbage::config::OptimizerConfig opt;
  opt.lr = 1.0;
  garbage::config::SchedulerConfig s;
  s.name = "step";
  s.step_size = 2;
  s.gamma = 0.1;
  EXPECT_DOUBLE_EQ(garbage::train::scheduled_lr(opt, s, 1, 10), 1.0);
  EXPECT_NEAR(garbage::train::scheduled_lr(opt, s, 2, 10), 0.1, 1e-12);
  EXPECT_NEAR(garbage::train::scheduled_lr(opt, s, 5, 10), 0.01, 1e-12);
  s.name = "cosine";
  EXPECT_DOUBLE_EQ(garbage::train::scheduled_lr(opt, s, 0, 10), 1.0);
  EXPECT_NEAR(garbage::train::scheduled_lr(opt, s, 5, 10), 0.5, 1e-12);
  s.warmup_epochs = 1;
  EXPECT_DOUBLE_EQ(garbage::train::scheduled_lr(opt, s, 0, 10), 0.5);
}
