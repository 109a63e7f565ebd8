// Each fused kernel against the unfused libtorch composition: outputs, input and parameter
// gradients within 1e-5 relative, running statistics equal, in NCHW and channels-last.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "garbage/kernels/fused.hpp"

namespace k = garbage::kernels;

namespace {

/// |a - b| <= 1e-5 |b| elementwise, with an absolute floor of 1e-5 of b's largest magnitude
/// (values that cancel to near zero carry the rounding of their larger parts).
void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const auto scale = b.abs().max().item<double>();
  const auto bound = b.abs() * 1e-5 + 1e-5 * scale + 1e-12;
  const auto excess = ((a - b).abs() - bound).max().item<double>();
  EXPECT_LE(excess, 0.0) << what << ": max |a - b| = " << (a - b).abs().max().item<double>()
                         << " at scale " << scale;
}

torch::Tensor plain(k::Act act, const torch::Tensor& x) {
  switch (act) {
    case k::Act::identity:
      return x;
    case k::Act::relu:
      return torch::relu(x);
    case k::Act::gelu:
      return torch::gelu(x);
    case k::Act::silu:
      return torch::silu(x);
    case k::Act::mish:
      return torch::mish(x);
    case k::Act::hardswish:
      return torch::hardswish(x);
    case k::Act::hardsigmoid:
      return torch::hardsigmoid(x);
  }
  return x;
}

const k::Act kActivations[] = {k::Act::relu, k::Act::gelu,      k::Act::silu,
                               k::Act::mish, k::Act::hardswish, k::Act::hardsigmoid};

std::string name_of(k::Act act) {
  static const char* names[] = {"identity", "relu",      "gelu",       "silu",
                                "mish",     "hardswish", "hardsigmoid"};
  return names[static_cast<int>(act)];
}

/// Inputs over the interesting range: both tails, the kinks at 0 and +-3, exp's clamps.
torch::Tensor input(std::vector<int64_t> shape, bool channels_last) {
  auto x = torch::randn(shape) * 4.0;
  if (x.numel() > 4) {
    auto flat = x.view(-1);
    flat[0] = 30.0f;
    flat[1] = -30.0f;
    flat[2] = 100.0f;
    flat[3] = -100.0f;
  }
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  return x;
}

struct Layout {
  std::vector<int64_t> shape;
  bool channels_last;
};

const Layout kLayouts[] = {{{2, 3, 5, 7}, false}, {{4, 8, 6, 6}, true}, {{3, 16, 9, 9}, false},
                           {{2, 32, 4, 4}, true}, {{5, 33}, false},     {{1, 1, 1, 1}, false}};

}  // namespace

TEST(FusedActivation, MatchesLibtorchForwardAndBackward) {
  torch::manual_seed(1);
  for (k::Act act : kActivations)
    for (const auto& layout : kLayouts) {
      const std::string what = name_of(act) + " " + c10::str(layout.shape) +
                               (layout.channels_last ? " channels-last" : "");
      auto x = input(layout.shape, layout.channels_last);
      auto grad = torch::randn(layout.shape);
      auto x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
      auto y1 = k::activation(act, x1), y2 = plain(act, x2);
      expect_close(y1, y2, what + " forward");
      EXPECT_TRUE(layout.channels_last ? y1.is_contiguous(torch::MemoryFormat::ChannelsLast)
                                       : y1.is_contiguous())
          << what << ": the output keeps the input's layout";
      y1.backward(grad);
      y2.backward(grad);
      expect_close(x1.grad(), x2.grad(), what + " backward");
    }
}

TEST(FusedActivation, RunsWithoutGradientsAndLeavesOtherDtypesToLibtorch) {
  auto x = torch::randn({2, 3, 4, 4});
  torch::NoGradGuard no_grad;
  expect_close(k::activation(k::Act::mish, x), torch::mish(x), "no-grad mish");
  // double and integer tensors take libtorch's ops
  auto d = torch::randn({3, 4}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(k::activation(k::Act::silu, d), torch::silu(d)));
}

namespace {

struct BnCase {
  k::Act act;
  bool pre;  // act -> BN (SimpleCNN) or BN -> act
};

/// BatchNorm in training mode, fused vs libtorch, on one layout: output, dx, dweight, dbias and
/// the running statistics.
void check_batchnorm(const BnCase& c, const Layout& layout, double momentum) {
  const std::string what = std::string(c.pre ? "act->bn " : "bn->act ") + name_of(c.act) + " " +
                           c10::str(layout.shape) + (layout.channels_last ? " channels-last" : "");
  const int64_t channels = layout.shape[1];
  auto x = input(layout.shape, layout.channels_last) * 0.5 + 0.3;
  auto grad = torch::randn(layout.shape);
  auto weight = torch::rand({channels}) + 0.5, bias = torch::randn({channels});
  auto mean0 = torch::randn({channels}), var0 = torch::rand({channels}) + 0.5;

  auto x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
  auto w1 = weight.clone().requires_grad_(true), w2 = weight.clone().requires_grad_(true);
  auto b1 = bias.clone().requires_grad_(true), b2 = bias.clone().requires_grad_(true);
  auto m1 = mean0.clone(), m2 = mean0.clone(), v1 = var0.clone(), v2 = var0.clone();

  k::BatchNormState bn{w1, b1, m1, v1, momentum, 1e-5};
  auto y1 = c.pre ? k::activation_batchnorm(c.act, x1, bn) : k::batchnorm_activation(x1, bn, c.act);
  auto y2 = c.pre
                ? torch::batch_norm(plain(c.act, x2), w2, b2, m2, v2, true, momentum, 1e-5, false)
                : plain(c.act, torch::batch_norm(x2, w2, b2, m2, v2, true, momentum, 1e-5, false));
  expect_close(y1, y2, what + " forward");
  expect_close(m1, m2, what + " running_mean");
  expect_close(v1, v2, what + " running_var");
  y1.backward(grad);
  y2.backward(grad);
  expect_close(x1.grad(), x2.grad(), what + " dx");
  expect_close(w1.grad(), w2.grad(), what + " dweight");
  expect_close(b1.grad(), b2.grad(), what + " dbias");
}

const Layout kBnLayouts[] = {{{4, 6, 5, 5}, false},
                             {{4, 6, 5, 5}, true},
                             {{2, 16, 8, 8}, true},
                             {{3, 5, 1, 1}, false},
                             {{8, 64, 3, 3}, true}};

}  // namespace

TEST(FusedBatchNorm, ActivationThenBatchNormMatchesLibtorch) {
  torch::manual_seed(2);
  for (k::Act act : kActivations)
    for (const auto& layout : kBnLayouts) check_batchnorm({act, true}, layout, 0.1);
}

TEST(FusedBatchNorm, BatchNormThenActivationMatchesLibtorch) {
  torch::manual_seed(3);
  for (k::Act act : {k::Act::identity, k::Act::relu, k::Act::hardswish, k::Act::mish, k::Act::silu,
                     k::Act::hardsigmoid, k::Act::gelu})
    for (const auto& layout : kBnLayouts) check_batchnorm({act, false}, layout, 0.01);
}

TEST(FusedBatchNorm, ScopeSwitchesPerThreadAndRestores) {
  EXPECT_FALSE(k::enabled());
  {
    k::FusedScope on(true);
    EXPECT_TRUE(k::enabled());
    {
      k::FusedScope off(false);
      EXPECT_FALSE(k::enabled());
    }
    EXPECT_TRUE(k::enabled());
  }
  EXPECT_FALSE(k::enabled());
  EXPECT_TRUE(std::string(k::isa()) == "avx512" || std::string(k::isa()) == "avx2" ||
              std::string(k::isa()) == "default");
}

TEST(FusedMaxPoolDropout, EqualsMaxPoolThenDropoutBitForBit) {
  const Layout layouts[] = {
      {{2, 3, 8, 8}, false}, {{2, 5, 7, 9}, true}, {{3, 16, 6, 10}, true}, {{1, 4, 9, 7}, false}};
  for (double p : {0.0, 0.3})
    for (const auto& layout : layouts)
      for (bool ties : {false, true}) {
        const std::string what = c10::str(layout.shape) +
                                 (layout.channels_last ? " channels-last" : "") + " p " +
                                 std::to_string(p) + (ties ? " with ties" : "");
        torch::manual_seed(4);
        auto x = ties ? torch::randint(0, 3, layout.shape).to(torch::kFloat)
                      : torch::randn(layout.shape);
        if (layout.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        auto x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
        torch::manual_seed(9);
        auto y1 = k::maxpool2_dropout(x1, p);
        torch::manual_seed(9);
        auto y2 = torch::max_pool2d(x2, {2, 2}, {2, 2});
        if (p > 0) y2 = torch::dropout(y2, p, true);
        EXPECT_TRUE(torch::equal(y1, y2)) << what;
        if (layout.channels_last) {
          EXPECT_TRUE(y1.is_contiguous(torch::MemoryFormat::ChannelsLast)) << what;
        }
        auto grad = torch::randn(y2.sizes());
        y1.backward(grad);
        y2.backward(grad);
        EXPECT_TRUE(torch::equal(x1.grad(), x2.grad())) << what;
      }
}

TEST(FusedAddRelu, MatchesReluOfTheSumForBothInputs) {
  for (const auto& layout : kLayouts) {
    torch::manual_seed(6);
    auto a = input(layout.shape, layout.channels_last),
         b = input(layout.shape, layout.channels_last);
    auto a1 = a.clone().requires_grad_(true), b1 = b.clone().requires_grad_(true);
    auto a2 = a.clone().requires_grad_(true), b2 = b.clone().requires_grad_(true);
    auto y1 = k::add_relu(a1, b1), y2 = torch::relu(a2 + b2);
    EXPECT_TRUE(torch::equal(y1, y2)) << c10::str(layout.shape);
    auto grad = torch::randn(layout.shape);
    y1.backward(grad);
    y2.backward(grad);
    EXPECT_TRUE(torch::equal(a1.grad(), a2.grad())) << c10::str(layout.shape);
    EXPECT_TRUE(torch::equal(b1.grad(), b2.grad())) << c10::str(layout.shape);
  }
}
