#include <gtest/gtest.h>

#include <torch/torch.h>

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

TEST(Optimizer, NoDecayNormBiasLeavesOneDimensionalTensorsUndecayed) {
  torch::manual_seed(0);
  torch::nn::Linear linear(3, 2);
  torch::nn::BatchNorm1d norm(2);
  garbage::config::OptimizerConfig c;
  c.name = "sgd";
  c.lr = 0.1;
  c.momentum = 0.0;
  c.weight_decay = 0.5;
  c.no_decay_norm_bias = true;
  std::vector<torch::Tensor> params = linear->parameters();
  for (const auto& p : norm->parameters()) params.push_back(p);
  auto opt = garbage::train::make_optimizer(c, {{params, 2.0}});
  auto& groups = opt->optimizer->param_groups();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].params().size(), 1u);  // the Linear weight
  EXPECT_EQ(groups[1].params().size(), 3u);  // Linear bias, norm weight and bias
  EXPECT_EQ(opt->factors(), (std::vector<double>{2.0, 2.0}));
  // With zero gradients only weight decay moves a tensor: w - lr * factor * wd * w.
  const auto weight = linear->weight.detach().clone();
  const auto bias = linear->bias.detach().clone();
  const auto gamma = norm->weight.detach().clone();
  for (auto& p : params) p.mutable_grad() = torch::zeros_like(p);
  opt->optimizer->step();
  EXPECT_TRUE(torch::allclose(linear->weight, weight * (1 - 0.1 * 2.0 * 0.5)));
  EXPECT_TRUE(torch::equal(linear->bias, bias));
  EXPECT_TRUE(torch::equal(norm->weight, gamma));
  // Off: one group, every tensor decays.
  c.no_decay_norm_bias = false;
  auto plain = garbage::train::make_optimizer(c, {{params, 1.0}});
  EXPECT_EQ(plain->optimizer->param_groups().size(), 1u);
}
