// Models with train.fused_kernels on (kernels::FusedScope) against the same models on libtorch's
// ops: training-mode logits, every parameter's gradient and every buffer agree; eval mode is
// untouched by the switch; the state_dict names do not change.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/model_fixture.hpp"
#include "garbage/kernels/fused.hpp"
#include "garbage/models/registry.hpp"

using garbage::kernels::FusedScope;

namespace {

void expect_close(const torch::Tensor& a, const torch::Tensor& b, double rtol,
                  const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double scale = b.abs().max().item<double>();
  const double diff = (a - b).abs().max().item<double>();
  EXPECT_LE(diff, rtol * scale + 1e-7) << what << " (scale " << scale << ")";
}

struct Pair {
  garbage::models::ModelPtr fused, plain;
};

Pair twins(const nlohmann::json& user, bool channels_last) {
  const auto cfg = garbage::models::resolve_model_config(user, "test");
  Pair p;
  torch::manual_seed(7);
  p.fused = garbage::models::create_model(cfg);
  torch::manual_seed(7);
  p.plain = garbage::models::create_model(cfg);
  for (auto* m : {&p.fused, &p.plain}) {
    garbage::testing::randomize_batchnorm(**m, 3);
    if (channels_last) garbage::models::convert_to_channels_last(**m);
  }
  return p;
}

/// One training step's forward and backward with the same dropout masks.
torch::Tensor train_step(garbage::models::ClassifierImpl& model, const torch::Tensor& x,
                         const torch::Tensor& grad, bool fused) {
  FusedScope scope(fused);
  model.train();
  torch::manual_seed(11);
  auto logits = model.forward(x);
  logits.backward(grad);
  return logits.detach();
}

void check_model(const nlohmann::json& user, std::vector<int64_t> shape, bool channels_last,
                 double rtol) {
  const std::string what =
      user.at("name").get<std::string>() + (channels_last ? " channels-last" : " NCHW");
  auto p = twins(user, channels_last);
  torch::manual_seed(5);
  auto x = torch::randn(shape);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Tensor grad;
  {
    torch::NoGradGuard no_grad;
    p.plain->eval();
    grad = torch::randn_like(p.plain->forward(x));
  }
  auto a = train_step(*p.fused, x, grad, true);
  auto b = train_step(*p.plain, x, grad, false);
  expect_close(a, b, rtol, what + " logits");

  auto fused_params = p.fused->named_parameters();
  for (const auto& item : p.plain->named_parameters()) {
    ASSERT_TRUE(fused_params.contains(item.key())) << item.key();
    const auto& g = fused_params[item.key()].grad();
    ASSERT_TRUE(g.defined()) << what << " " << item.key();
    expect_close(g, item.value().grad(), rtol, what + " grad " + item.key());
  }
  auto fused_buffers = p.fused->named_buffers();
  for (const auto& item : p.plain->named_buffers()) {
    ASSERT_TRUE(fused_buffers.contains(item.key())) << item.key();
    expect_close(fused_buffers[item.key()].to(torch::kDouble), item.value().to(torch::kDouble),
                 1e-5, what + " buffer " + item.key());
  }

  // Eval mode: the switch changes nothing (from identical weights and statistics).
  torch::NoGradGuard no_grad;
  for (auto& item : p.fused->named_parameters())
    item.value().copy_(p.plain->named_parameters()[item.key()]);
  for (auto& item : p.fused->named_buffers())
    item.value().copy_(p.plain->named_buffers()[item.key()]);
  p.fused->eval();
  p.plain->eval();
  FusedScope on(true);
  EXPECT_TRUE(torch::equal(p.fused->forward(x), p.plain->forward(x))) << what << " eval";
}

}  // namespace

TEST(FusedLayers, SimpleCnnTrainsTheSameWithFusedKernels) {
  const nlohmann::json user = {{"name", "simple_cnn"}, {"base_features", 16},
                               {"num_conv_layers", 3}, {"img_size", 32},
                               {"num_dense", 32},      {"dropout", 0.2}};
  // Per-op agreement is 1e-5 (tests/kernels); a whole network's gradients add the rounding of
  // every layer, and BatchNorm over few values per channel amplifies it.
  check_model(user, {4, 3, 32, 32}, true, 1e-4);
  check_model(user, {4, 3, 32, 32}, false, 1e-4);
  for (const char* act : {"relu", "silu", "gelu"}) {
    auto with_act = user;
    with_act["conv_activation"] = act;
    check_model(with_act, {4, 3, 32, 32}, true, 1e-4);
  }
}

// Deep nets with BatchNorm over few values per channel (layer3/4 at 64 px) amplify rounding:
// 1e-2 of the largest gradient here catches a wrong formula or layout, not the last bits.
TEST(FusedLayers, ResNetAndMobileNetTrainTheSameWithFusedKernels) {
  check_model({{"name", "resnet18"}, {"num_classes", 6}}, {4, 3, 64, 64}, true, 1e-2);
  check_model({{"name", "resnet18"}, {"num_classes", 6}}, {4, 3, 64, 64}, false, 1e-2);
  check_model({{"name", "mobilenet_v3_small"}, {"num_classes", 6}}, {4, 3, 64, 64}, true, 1e-2);
}
