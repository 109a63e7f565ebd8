// A model family that exists only in the tests, to show what adding one takes: this file (the
// module, its one forward pass, its emit graph, its spec) and one register_model call. Everything
// else (configs, summary, explain, export graph, `garbage models`) picks it up from the registry.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/models/catalog.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/graph.hpp"
#include "garbage/models/graph_interpreter.hpp"
#include "garbage/models/layers.hpp"
#include "garbage/models/registry.hpp"
#include "garbage/models/summary.hpp"

namespace garbage::models {
namespace {

namespace nn = torch::nn;

/// conv3x3-BN-ReLU stem, global average pool, linear head.
class TinyNetImpl : public ClassifierImpl {
 public:
  TinyNetImpl(int64_t width, int64_t classes) {
    stem = register_module(
        "stem", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(3, width, 3).padding(1).bias(false)),
                               nn::BatchNorm2d(width), Activation(ActivationKind::relu)));
    head = register_module("head", nn::Linear(width, classes));
  }
  torch::Tensor run(torch::Tensor x, const Pass& pass) override {
    x = pass.sequential(*stem, x, "stem");
    pass.tap(Tap::first_layer, x);
    pass.tap(Tap::last_features, x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return pass.step("head", *head, x, [&](const torch::Tensor& v) { return head->forward(v); });
  }
  std::string emit(GraphBuilder& g, const std::string& input) override {
    auto x = emit_sequential(g, *stem, input, "stem");
    x = g.flatten(g.global_pool(x, GraphBuilder::Reduce::mean));
    return g.linear(x, *head, "head");
  }
  std::string head_name() const override { return "head"; }

  nn::Sequential stem{nullptr};
  nn::Linear head{nullptr};
};

ModelSpec tiny_spec() {
  ModelSpec spec;
  spec.name = "test_tiny_net";
  spec.description = "test-only: conv-BN-ReLU, pool, linear";
  spec.defaults = {{"width", 8}, {"num_classes", 6}};
  spec.rules = {{"width", Rule::range(1, 256)}, {"num_classes", Rule::range(2, 1000)}};
  spec.input_size = 32;
  spec.head = "head";
  spec.create = [](const nlohmann::json& c) -> ModelPtr {
    return std::make_shared<TinyNetImpl>(c.at("width").get<int64_t>(),
                                         c.at("num_classes").get<int64_t>());
  };
  return spec;
}

// The one registration call.
const bool kRegistered = (register_model(tiny_spec()), true);

TEST(TestOnlyModel, IsCreatedFromATrainConfigByName) {
  ASSERT_TRUE(kRegistered);
  auto cfg = config::make_train_config(config::resolve_train_document(
      {{"model", {{"name", "test_tiny_net"}, {"width", 4}}}}, "tiny.json"));
  EXPECT_EQ(cfg.transform.resize.output_size(), 32);  // the registry's input size
  auto model = create_model(cfg.model);
  EXPECT_EQ(model->forward(torch::zeros({2, 3, 32, 32})).sizes(), (c10::IntArrayRef{2, 6}));
  EXPECT_THROW(config::resolve_train_document(
                   {{"model", {{"name", "test_tiny_net"}, {"width", 0}}}}, "tiny.json"),
               ConfigError);
}

TEST(TestOnlyModel, SummaryExplainAndGraphComeFromItsOnePass) {
  auto model = create_model(resolve_model_config({{"name", "test_tiny_net"}}, "test"));
  model->eval();
  auto summary = summarize(*model, 32);
  std::vector<std::string> names;
  for (const auto& layer : summary.layers) names.push_back(layer.name);
  EXPECT_EQ(names, (std::vector<std::string>{"stem.0", "stem.1", "stem.2", "head"}));

  auto x = torch::randn({1, 3, 32, 32});
  auto taps = model->forward_explain(x);
  EXPECT_EQ(taps.first_layer.sizes(), (c10::IntArrayRef{1, 8, 32, 32}));
  EXPECT_TRUE(torch::allclose(taps.logits, model->forward(x)));
  EXPECT_TRUE(torch::allclose(run_emitted_graph(*model, x), model->forward(x), 1e-5, 1e-5));
}

TEST(TestOnlyModel, IsListedAndCannotBeRegisteredTwice) {
  bool listed = false;
  for (const auto& info : list_models())
    if (info.name == "test_tiny_net") listed = info.params == 3 * 8 * 9 + 2 * 8 + 8 * 6 + 6;
  EXPECT_TRUE(listed);
  EXPECT_THROW(register_model(tiny_spec()), Error);
}

}  // namespace
}  // namespace garbage::models
