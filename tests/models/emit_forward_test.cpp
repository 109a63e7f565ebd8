// One network, two descriptions: for every registered model (and its options that change the
// graph), the emit() graph run by the reference interpreter gives forward()'s logits.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/model_fixture.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/graph_interpreter.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::models {
namespace {

using nlohmann::json;

/// Small inputs keep the deep ResNets quick; SimpleCNN's flatten fixes its input size.
int side_for(const json& resolved) {
  return resolved.contains("img_size") ? resolved["img_size"].get<int>() : 64;
}

void expect_emit_matches_forward(const json& user) {
  SCOPED_TRACE(user.dump());
  torch::manual_seed(3);
  auto resolved = resolve_model_config(user, "test");
  auto model = create_model(resolved);
  testing::randomize_batchnorm(*model, 5);
  model->eval();
  const int side = side_for(resolved);
  auto x = torch::randn({2, 3, side, side});
  torch::NoGradGuard no_grad;
  auto expected = model->forward(x);
  auto emitted = run_emitted_graph(*model, x);
  ASSERT_EQ(emitted.sizes(), expected.sizes());
  const double scale = std::max(1.0, expected.abs().max().item<double>());
  EXPECT_LE((emitted - expected).abs().max().item<double>(), 1e-4 * scale);
}

TEST(EmitMatchesForward, EveryRegisteredModelAtItsDefaults) {
  for (const auto& spec : all_models()) expect_emit_matches_forward({{"name", spec.name}});
}

TEST(EmitMatchesForward, OptionsThatChangeTheGraph) {
  for (const char* act : {"relu", "gelu", "silu", "mish"})
    for (const char* strategy : {"same", "doubling", "halving"})
      for (bool bn : {true, false})
        expect_emit_matches_forward({{"name", "simple_cnn"},
                                     {"conv_activation", act},
                                     {"dense_activation", act},
                                     {"strategy", strategy},
                                     {"batchnorm", bn},
                                     {"base_features", 8},
                                     {"num_conv_layers", 3},
                                     {"img_size", 32}});
  for (const char* attention : {"se", "cbam"})
    expect_emit_matches_forward({{"name", "resnet18"}, {"attention", attention}});
  for (const char* fusion : {"sum", "mul", "max", "channel", "spatial"})
    expect_emit_matches_forward(
        {{"name", "resnet50"}, {"attention", "recyclenet"}, {"recyclenet_fusion", fusion}});
}

}  // namespace
}  // namespace garbage::models
