// Models with train.fused_kernels on (kernels::FusedScope) against the same models on libtorch's
// ops: training-mode logits, every parameter's gradient and every buffer agree; eval mode is
// untouched by the switch; the state_dict names do not change.

#include <optional>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/model_fixture.hpp"
#include "garbage/kernels/fused.hpp"
#include "garbage/models/registry.hpp"

using garbage::kernels::FusedScope;

namespace {

struct Trio {
  garbage::models::ModelPtr fused, plain, reference;  ///< reference: libtorch's ops in double
};

Trio models_for(const nlohmann::json& user, bool channels_last) {
  const auto cfg = garbage::models::resolve_model_config(user, "test");
  Trio t;
  for (auto* m : {&t.fused, &t.plain, &t.reference}) {
    torch::manual_seed(7);
    *m = garbage::models::create_model(cfg);
    garbage::testing::randomize_batchnorm(**m, 3);
    if (channels_last) garbage::models::convert_to_channels_last(**m);
  }
  t.reference->to(torch::kDouble);
  return t;
}

/// One training step's forward and backward with the same dropout masks.
torch::Tensor train_step(garbage::models::ClassifierImpl& model, const torch::Tensor& x,
                         const torch::Tensor& grad, bool fused) {
  FusedScope scope(fused);
  model.train();
  torch::manual_seed(11);
  auto logits = model.forward(x.to(grad.dtype()));
  logits.backward(grad);
  return logits.detach();
}

double relative_error(const torch::Tensor& a, const torch::Tensor& reference) {
  const auto ref = reference.to(torch::kDouble);
  return (a.to(torch::kDouble) - ref).abs().max().item<double>() /
         std::max(1e-30, ref.abs().max().item<double>());
}

/// The fused float result is as close to the double-precision reference as libtorch's own float
/// ops are (within a factor for rounding order) and, given `rtol`, that close to libtorch's float
/// result. Deep nets need the reference: BatchNorm over few values per channel amplifies float
/// rounding in both, and a gradient that is zero in exact arithmetic (a BatchNorm bias whose
/// shift the next BatchNorm subtracts again, as in MobileNetV3's projections) is pure rounding
/// noise in both, so their direct distance says nothing.
void expect_as_accurate(const torch::Tensor& fused, const torch::Tensor& plain,
                        const torch::Tensor& reference, std::optional<double> rtol,
                        const std::string& what) {
  ASSERT_EQ(fused.sizes(), plain.sizes()) << what;
  const double fused_error = relative_error(fused, reference);
  const double plain_error = relative_error(plain, reference);
  EXPECT_LE(fused_error, 4 * plain_error + 1e-6)
      << what << ": fused " << fused_error << " vs libtorch float " << plain_error;
  if (rtol) {
    EXPECT_LE(relative_error(fused, plain), *rtol) << what;
  }
}

void check_model(const nlohmann::json& user, std::vector<int64_t> shape, bool channels_last,
                 std::optional<double> rtol) {
  const std::string what =
      user.at("name").get<std::string>() + (channels_last ? " channels-last" : " NCHW");
  auto t = models_for(user, channels_last);
  torch::manual_seed(5);
  auto x = torch::randn(shape, torch::kDouble);
  if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  torch::Tensor grad;
  {
    torch::NoGradGuard no_grad;
    t.reference->eval();
    grad = torch::randn_like(t.reference->forward(x));
  }
  auto reference = train_step(*t.reference, x, grad, false);
  auto a = train_step(*t.fused, x, grad.to(torch::kFloat), true);
  auto b = train_step(*t.plain, x, grad.to(torch::kFloat), false);
  expect_as_accurate(a, b, reference, rtol, what + " logits");

  auto fused_params = t.fused->named_parameters();
  auto reference_params = t.reference->named_parameters();
  for (const auto& item : t.plain->named_parameters()) {
    ASSERT_TRUE(fused_params.contains(item.key())) << item.key();
    const auto& g = fused_params[item.key()].grad();
    ASSERT_TRUE(g.defined()) << what << " " << item.key();
    expect_as_accurate(g, item.value().grad(), reference_params[item.key()].grad(), rtol,
                       what + " grad " + item.key());
  }
  auto fused_buffers = t.fused->named_buffers();
  for (const auto& item : t.plain->named_buffers()) {
    ASSERT_TRUE(fused_buffers.contains(item.key())) << item.key();
    EXPECT_LE(relative_error(fused_buffers[item.key()], item.value()), 1e-5)
        << what << " buffer " << item.key();
  }

  // Eval mode: the switch changes nothing (from identical weights and statistics).
  torch::NoGradGuard no_grad;
  for (auto& item : t.fused->named_parameters())
    item.value().copy_(t.plain->named_parameters()[item.key()]);
  for (auto& item : t.fused->named_buffers())
    item.value().copy_(t.plain->named_buffers()[item.key()]);
  t.fused->eval();
  t.plain->eval();
  FusedScope on(true);
  const auto xf = x.to(torch::kFloat);
  EXPECT_TRUE(torch::equal(t.fused->forward(xf), t.plain->forward(xf))) << what << " eval";
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

// Deep nets with BatchNorm over few values per channel (layer4 at 64 px: 16 values) amplify
// rounding in libtorch's float ops too; the double-precision reference judges both.
TEST(FusedLayers, ResNetAndMobileNetTrainTheSameWithFusedKernels) {
  check_model({{"name", "resnet18"}, {"num_classes", 6}}, {4, 3, 64, 64}, true, std::nullopt);
  check_model({{"name", "resnet18"}, {"num_classes", 6}}, {4, 3, 64, 64}, false, std::nullopt);
  check_model({{"name", "mobilenet_v3_small"}, {"num_classes", 6}}, {4, 3, 64, 64}, true,
              std::nullopt);
}
