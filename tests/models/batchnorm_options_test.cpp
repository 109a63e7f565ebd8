// model.bn_momentum / model.bn_eps reach every BatchNorm layer of every family, and libtorch's
// BatchNorm uses them as torch.nn.BatchNorm2d does (checked against the formulas by hand).

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {
namespace {

std::vector<torch::nn::BatchNorm2dImpl*> batchnorms(ClassifierImpl& model) {
  std::vector<torch::nn::BatchNorm2dImpl*> found;
  for (const auto& m : model.modules())
    if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) found.push_back(bn);
  return found;
}

TEST(BatchNormOptions, EveryFamilyHasTheKeysWithItsDefaults) {
  auto mobilenet = resolve_model_config({{"name", "mobilenet_v3_small"}}, "t");
  EXPECT_DOUBLE_EQ(mobilenet["bn_momentum"].get<double>(), 0.01);
  EXPECT_DOUBLE_EQ(mobilenet["bn_eps"].get<double>(), 1e-3);
  for (const char* name : {"simple_cnn", "resnet18"}) {
    auto c = resolve_model_config({{"name", name}}, "t");
    EXPECT_DOUBLE_EQ(c["bn_momentum"].get<double>(), 0.1) << name;
    EXPECT_DOUBLE_EQ(c["bn_eps"].get<double>(), 1e-5) << name;
  }
  EXPECT_THROW(resolve_model_config({{"name", "resnet18"}, {"bn_momentum", 1.5}}, "t"),
               ConfigError);
  EXPECT_THROW(resolve_model_config({{"name", "resnet18"}, {"bn_eps", 0}}, "t"), ConfigError);
}

TEST(BatchNormOptions, ConfiguredValuesReachEveryLayerOfEveryFamily) {
  for (const char* name : {"simple_cnn", "resnet18", "mobilenet_v3_small"}) {
    auto c = resolve_model_config(
        {{"name", name}, {"num_classes", 6}, {"bn_momentum", 0.25}, {"bn_eps", 2e-3}}, "t");
    auto model = create_model(c);
    auto layers = batchnorms(*model);
    ASSERT_FALSE(layers.empty()) << name;
    for (auto* bn : layers) {
      ASSERT_TRUE(bn->options.momentum().has_value()) << name;
      EXPECT_DOUBLE_EQ(*bn->options.momentum(), 0.25) << name;
      EXPECT_DOUBLE_EQ(bn->options.eps(), 2e-3) << name;
    }
  }
}

TEST(BatchNormOptions, OldModelSectionsKeepTheFamilysBuiltInValues) {
  // A checkpoint's model section written before the keys existed.
  auto old = resolve_model_config({{"name", "mobilenet_v3_small"}, {"num_classes", 6}}, "t");
  old.erase("bn_momentum");
  old.erase("bn_eps");
  auto model = create_model(old);
  for (auto* bn : batchnorms(*model)) {
    EXPECT_DOUBLE_EQ(*bn->options.momentum(), 0.01);
    EXPECT_DOUBLE_EQ(bn->options.eps(), 1e-3);
  }
  auto upgraded =
      config::upgrade_document({{"model", {{"name", "mobilenet_v3_small"}, {"num_classes", 6}}}});
  EXPECT_DOUBLE_EQ(upgraded["model"]["bn_momentum"].get<double>(), 0.01);
}

TEST(BatchNormOptions, RunningStatisticsAndEpsilonFollowTheFormulas) {
  auto c = resolve_model_config(
      {{"name", "mobilenet_v3_small"}, {"num_classes", 6}, {"bn_momentum", 0.3}, {"bn_eps", 0.5}},
      "t");
  auto model = create_model(c);
  auto* bn = batchnorms(*model).front();
  const auto channels = bn->running_mean.size(0);
  torch::manual_seed(3);
  auto x = torch::randn({4, channels, 5, 5}) * 2 + 1;
  bn->train();
  bn->forward(x);
  // running = (1 - m) * running + m * batch statistic (variance unbiased), from 0 and 1.
  auto mean = x.mean({0, 2, 3});
  auto var = x.var({0, 2, 3}, /*unbiased=*/true);
  EXPECT_TRUE(torch::allclose(bn->running_mean, 0.3 * mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(bn->running_var, 0.7 + 0.3 * var, 1e-5, 1e-6));
  bn->eval();
  torch::NoGradGuard no_grad;
  auto y = bn->forward(x);
  auto view = [](const torch::Tensor& t) { return t.view({1, -1, 1, 1}); };
  auto expected =
      (x - view(bn->running_mean)) / torch::sqrt(view(bn->running_var) + 0.5) * view(bn->weight) +
      view(bn->bias);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-5, 1e-6));
}

}  // namespace
}  // namespace garbage::models
