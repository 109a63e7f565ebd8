#pragma once
// Models with non-trivial eval-mode state, for parity tests (exporters, interpreter, engine).

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::testing {

/// A 2-block SimpleCNN for 16 px inputs and 3 classes: quick to build and run.
inline models::ModelPtr tiny_simple_cnn() {
  return models::create_model(models::resolve_model_config({{"name", "simple_cnn"},
                                                            {"base_features", 4},
                                                            {"num_conv_layers", 2},
                                                            {"num_dense", 8},
                                                            {"img_size", 16},
                                                            {"num_classes", 3}},
                                                           "t"));
}

// Default BatchNorm statistics (mean 0, var 1, weight 1) would make folding trivially right.
inline void randomize_batchnorm(torch::nn::Module& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& m : model.modules(false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      const auto c = bn->running_mean.size(0);
      bn->running_mean.copy_(torch::rand({c}, gen) * 0.2 - 0.1);
      bn->running_var.copy_(torch::rand({c}, gen) * 1.5 + 0.5);
      bn->weight.copy_(torch::rand({c}, gen) + 0.5);
      bn->bias.copy_(torch::rand({c}, gen) * 0.2 - 0.1);
    }
  }
}

// Random deep nets (ResNet-50) can produce logits in the hundreds, where 1e-4 absolute is below
// float32 resolution. Trained classifiers give logits of order 10: scale the head to that.
inline void calibrate_head(models::ClassifierImpl& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  torch::nn::LinearImpl* head = nullptr;
  for (auto& m : model.modules(false))
    if (auto* fc = m->as<torch::nn::Linear>()) head = fc;
  ASSERT_NE(head, nullptr);
  const double scale = model.forward(x).abs().max().item<double>();
  head->weight.mul_(10.0 / scale);
  if (head->bias.defined()) head->bias.mul_(10.0 / scale);
}

}  // namespace garbage::testing
