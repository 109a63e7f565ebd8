// The explain hooks of the models: forward_explain agrees with forward and exposes the maps
// explain draws; guided backpropagation's gradient clamp in the shared activation code.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/layers.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {
namespace {

using nlohmann::json;

ModelPtr make(const json& user) {
  auto model = create_model(resolve_model_config(user, "test"));
  model->eval();
  return model;
}

torch::Tensor grad_through(ActivationKind kind, const torch::Tensor& x,
                           const torch::Tensor& upstream) {
  auto y = activate(kind, x);
  return torch::autograd::grad({y}, {x}, {upstream})[0];
}

TEST(GuidedBackprop, ReluLikeActivationsPassOnlyPositiveGradientsWhileTheGuardLives) {
  auto x = torch::tensor({-1.0, 2.0, 3.0, -4.0, 5.0}).requires_grad_();
  auto upstream = torch::tensor({1.0, -1.0, 2.0, 3.0, -0.5});
  auto plain = grad_through(ActivationKind::relu, x, upstream);
  EXPECT_TRUE(torch::equal(plain, torch::tensor({0.0, -1.0, 2.0, 0.0, -0.5})));
  {
    GuidedBackpropGuard guard;
    EXPECT_TRUE(torch::equal(grad_through(ActivationKind::relu, x, upstream),
                             torch::tensor({0.0, 0.0, 2.0, 0.0, 0.0})));
    EXPECT_GE(grad_through(ActivationKind::hardswish, x, upstream).min().item<double>(), 0.0);
    // Sigmoid gates are not ReLU-like: their negative gradients stay.
    EXPECT_LT(grad_through(ActivationKind::sigmoid, x, upstream).min().item<double>(), 0.0);
    { GuidedBackpropGuard nested; }
    EXPECT_TRUE(torch::equal(grad_through(ActivationKind::relu, x, upstream),
                             torch::tensor({0.0, 0.0, 2.0, 0.0, 0.0})));
  }
  EXPECT_TRUE(torch::equal(grad_through(ActivationKind::relu, x, upstream), plain));
}

struct Case {
  json model;
  std::vector<int64_t> first_layer, last_features;  // without the batch dimension
  bool spatial_attention;
};

TEST(ExplainTaps, EveryFamilyMatchesForwardAndExposesItsMaps) {
  const std::vector<Case> cases = {
      {{{"name", "simple_cnn"},
        {"base_features", 4},
        {"num_conv_layers", 2},
        {"filter_size", 3},
        {"num_dense", 8},
        {"img_size", 64},
        {"num_classes", 3}},
       {4, 64, 64},
       {4, 32, 32},
       false},
      {{{"name", "mobilenet_v3_small"}, {"num_classes", 3}}, {16, 32, 32}, {576, 2, 2}, false},
      {{{"name", "resnet18"}, {"num_classes", 3}, {"attention", "se"}},
       {64, 32, 32},
       {512, 2, 2},
       false},
      {{{"name", "resnet18"}, {"num_classes", 3}, {"attention", "cbam"}},
       {64, 32, 32},
       {512, 2, 2},
       true},
      {{{"name", "resnet18"}, {"num_classes", 3}, {"attention", "recyclenet"}},
       {64, 32, 32},
       {512, 2, 2},
       true},
      {{{"name", "resnet18"},
        {"num_classes", 3},
        {"attention", "recyclenet"},
        {"recyclenet_fusion", "channel"}},
       {64, 32, 32},
       {512, 2, 2},
       false},
  };
  torch::manual_seed(3);
  auto x = torch::randn({1, 3, 64, 64});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.model.dump());
    auto model = make(c.model);
    torch::NoGradGuard no_grad;
    auto taps = model->forward_explain(x);
    EXPECT_TRUE(torch::allclose(taps.logits, model->forward(x), 1e-5, 1e-6));
    auto shape = [](std::vector<int64_t> s) {
      s.insert(s.begin(), 1);
      return s;
    };
    EXPECT_EQ(taps.first_layer.sizes().vec(), shape(c.first_layer));
    EXPECT_EQ(taps.last_features.sizes().vec(), shape(c.last_features));
    EXPECT_EQ(taps.attention.defined(), c.spatial_attention);
    if (c.spatial_attention) {
      EXPECT_EQ(taps.attention.sizes().vec(), (std::vector<int64_t>{1, 1, 2, 2}));
      EXPECT_GE(taps.attention.min().item<double>(), 0.0);
      EXPECT_LE(taps.attention.max().item<double>(), 1.0);
    }
  }
}

class NoExplain : public ClassifierImpl {
 public:
  torch::Tensor run(torch::Tensor x, const Pass& /*pass*/) override { return x; }
};

TEST(ExplainTaps, ModelsWithoutSupportSaySo) {
  NoExplain model;
  try {
    model.forward_explain(torch::zeros({1, 3, 8, 8}));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("NoExplain does not support explain"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace garbage::models
