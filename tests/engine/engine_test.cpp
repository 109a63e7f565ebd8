// The native engine against libtorch eager: every model family's logits at batch 1, 3 and 64,
// plan reuse across batch sizes, thread counts, fusion of the graph, and refusals by name.

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/model_fixture.hpp"
#include "garbage/engine/engine.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/graph.hpp"
#include "garbage/models/layers.hpp"
#include "garbage/models/registry.hpp"

namespace garbage::engine {
namespace {

using nlohmann::json;

// Random residual branches at full scale make a 100-block ResNet's activations grow until
// float32 itself (eager vs double) is off by more than 1e-4; trained ones add small updates.
void damp_residual_branches(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& item : model.named_modules("", false)) {
    const std::string& name = item.key();
    auto* bn = item.value()->as<torch::nn::BatchNorm2d>();
    if (bn && name.size() > 4 && name.compare(name.size() - 4, 4, ".bn3") == 0)
      bn->weight.mul_(0.2);
  }
}

models::ModelPtr make_model(const json& user) {
  torch::manual_seed(7);
  auto model = models::create_model(models::resolve_model_config(user, "test"));
  testing::randomize_batchnorm(*model, 11);
  damp_residual_branches(*model);
  model->eval();
  return model;
}

torch::Tensor images(int64_t n, int64_t side, uint64_t seed) {
  return torch::randn({n, 3, side, side}, at::detail::createCPUGenerator(seed));
}

torch::Tensor eager(models::ClassifierImpl& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model.forward(x);
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

struct Case {
  std::string label;
  json model;
  int side;
  std::vector<int64_t> batches;
};

json cnn(const std::string& act, bool bn, const std::string& strategy, int side = 32) {
  return {{"name", "simple_cnn"},    {"base_features", 8},   {"num_conv_layers", 3},
          {"filter_size", 3},        {"strategy", strategy}, {"conv_activation", act},
          {"dense_activation", act}, {"num_dense", 16},      {"batchnorm", bn},
          {"img_size", side},        {"num_classes", 6}};
}

json resnet(int depth, const std::string& attention, const std::string& fusion = "sum") {
  return {{"name", "resnet" + std::to_string(depth)},
          {"attention", attention},
          {"recyclenet_fusion", fusion}};
}

std::vector<Case> every_family() {
  const std::vector<int64_t> small = {1, 3, 64}, large = {1, 3}, once = {1};
  return {{"simple_cnn relu bn same", cnn("relu", true, "same"), 32, small},
          {"simple_cnn relu no-bn doubling", cnn("relu", false, "doubling"), 32, large},
          {"simple_cnn gelu bn doubling", cnn("gelu", true, "doubling"), 32, small},
          {"simple_cnn silu no-bn halving", cnn("silu", false, "halving"), 32, small},
          {"simple_cnn mish bn same", cnn("mish", true, "same"), 32, small},
          {"simple_cnn mish bn halving 5x5",
           {{"name", "simple_cnn"},
            {"base_features", 16},
            {"num_conv_layers", 4},
            {"filter_size", 5},
            {"strategy", "halving"},
            {"conv_activation", "mish"},
            {"dense_activation", "gelu"},
            {"num_dense", 32},
            {"batchnorm", true},
            {"img_size", 48},
            {"num_classes", 6}},
           48,
           large},
          {"mobilenet_v3_small", {{"name", "mobilenet_v3_small"}}, 64, small},
          {"mobilenet_v3_large", {{"name", "mobilenet_v3_large"}}, 64, large},
          {"resnet18", resnet(18, "none"), 64, small},
          {"resnet18 se", resnet(18, "se"), 64, large},
          {"resnet18 cbam", resnet(18, "cbam"), 64, large},
          {"resnet18 recyclenet sum", resnet(18, "recyclenet", "sum"), 64, large},
          {"resnet18 recyclenet max", resnet(18, "recyclenet", "max"), 64, large},
          {"resnet18 recyclenet mul", resnet(18, "recyclenet", "mul"), 64, large},
          {"resnet18 recyclenet channel", resnet(18, "recyclenet", "channel"), 64, large},
          {"resnet18 recyclenet spatial", resnet(18, "recyclenet", "spatial"), 64, large},
          {"resnet34", resnet(34, "none"), 32, once},
          {"resnet50 se", resnet(50, "se"), 32, large},
          {"resnet101", resnet(101, "none"), 32, once},
          {"resnet152 cbam", resnet(152, "cbam"), 32, once}};
}

TEST(NativeEngine, EveryFamilyGivesLibtorchLogits) {
  const auto cases = every_family();
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    SCOPED_TRACE(c.label);
    auto model = make_model(c.model);
    testing::calibrate_head(*model, images(2, c.side, 99));
    NativeModel native(*model, c.label);
    for (int64_t batch : c.batches) {
      auto x = images(batch, c.side, 100 + i * 10 + batch);
      auto expected = eager(*model, x);
      EXPECT_LE(max_diff(native.forward(x), expected), 1e-4) << "batch " << batch;
    }
    EXPECT_EQ(native.plans_compiled(), static_cast<int64_t>(c.batches.size()));
  }
}

TEST(NativeEngine, ChannelsLastInputGivesTheSameLogits) {
  auto model = make_model(resnet(18, "se"));
  NativeModel native(*model, "resnet18");
  auto x = images(2, 64, 5);
  auto a = native.forward(x);
  auto b = native.forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_EQ(max_diff(a, b), 0.0);
  EXPECT_EQ(native.plans_compiled(), 1);
}

TEST(NativeEngine, PlansAreCompiledOncePerShapeAndReused) {
  auto model = make_model(cnn("mish", true, "same"));
  NativeModel native(*model, "cnn", NativeOptions{0, 2});
  auto x3 = images(3, 32, 1), x5 = images(5, 32, 2), x1 = images(1, 32, 3);
  auto first = native.forward(x3);
  EXPECT_EQ(native.plans_compiled(), 1);
  EXPECT_EQ(max_diff(native.forward(x3), first), 0.0);  // reused, same buffers, same result
  EXPECT_EQ(native.plans_compiled(), 1);
  EXPECT_LE(max_diff(native.forward(x5), eager(*model, x5)), 1e-4);
  EXPECT_EQ(native.plans_compiled(), 2);
  EXPECT_EQ(native.plans_cached(), 2u);
  EXPECT_EQ(max_diff(native.forward(x3), first), 0.0);  // batch 3 again: no recompilation
  EXPECT_EQ(native.plans_compiled(), 2);
  // A third shape evicts the least recently used (batch 5), which then compiles again.
  EXPECT_LE(max_diff(native.forward(x1), eager(*model, x1)), 1e-4);
  EXPECT_EQ(native.plans_cached(), 2u);
  EXPECT_LE(max_diff(native.forward(x5), eager(*model, x5)), 1e-4);
  EXPECT_EQ(native.plans_compiled(), 4);
  EXPECT_GT(native.plan_memory_bytes(), 0);
}

// A second batch size reuses the first plan's packed weights instead of packing (and holding)
// another copy: it adds far less memory than the model's weights. Direct convolution, whose
// weight layout does not depend on the batch (Winograd's F(2,3) / F(4,3) choice may).
TEST(NativeEngine, PlansForOtherBatchSizesShareThePackedWeights) {
  auto model = make_model(resnet(18, "none"));
  int64_t weight_bytes = 0;
  for (const auto& p : model->parameters()) weight_bytes += p.numel() * 4;
  NativeModel native(*model, "resnet18", NativeOptions{0, 4, false});
  auto x2 = images(2, 32, 1), x3 = images(3, 32, 2);
  native.forward(x2);
  const int64_t first = native.plan_memory_bytes();
  EXPECT_GT(first, weight_bytes);
  EXPECT_LE(max_diff(native.forward(x3), eager(*model, x3)), 1e-4);
  EXPECT_EQ(native.plans_cached(), 2u);
  EXPECT_LT(native.plan_memory_bytes() - first, weight_bytes / 2);
  // Evicting the first plan keeps the weights the second one shares alive.
  NativeModel one_plan(*model, "resnet18", NativeOptions{0, 1, false});
  one_plan.forward(x2);
  auto expected = eager(*model, x3);
  EXPECT_LE(max_diff(one_plan.forward(x3), expected), 1e-4);
  EXPECT_LE(max_diff(one_plan.forward(x2), eager(*model, x2)), 1e-4);
}

TEST(NativeEngine, OneAndTwoThreadsAgree) {
  const int before = at::get_num_threads();
  for (const auto& user : {json(cnn("gelu", true, "doubling")),
                           json{{"name", "mobilenet_v3_small"}}, resnet(18, "cbam")}) {
    SCOPED_TRACE(user.dump());
    auto model = make_model(user);
    const int side = user.at("name") == "simple_cnn" ? 32 : 64;
    auto x = images(4, side, 8);
    NativeModel one(*model, "m", NativeOptions{1, 4});
    NativeModel two(*model, "m", NativeOptions{2, 4});
    EXPECT_LE(max_diff(one.forward(x), two.forward(x)), 1e-5);
    EXPECT_EQ(at::get_num_threads(), before);  // the engine restores the caller's count
  }
}

// Winograd (on by default where oneDNN has it) and direct convolution both give eager's logits,
// including the residual 3x3 convs whose sum post-op Winograd may refuse.
TEST(NativeEngine, WinogradAndDirectConvolutionsBothGiveLibtorchLogits) {
  json wide_cnn = cnn("relu", true, "same");
  wide_cnn["base_features"] = 32;  // oneDNN's Winograd wants channels in multiples of 16
  for (const auto& user : {wide_cnn, resnet(18, "none"), resnet(34, "se")}) {
    SCOPED_TRACE(user.dump());
    auto model = make_model(user);
    const int side = user.at("name") == "simple_cnn" ? 32 : 64;
    testing::calibrate_head(*model, images(2, side, 21));
    NativeModel winograd(*model, "m", NativeOptions{0, 4, true});
    NativeModel direct(*model, "m", NativeOptions{0, 4, false});
    const auto x1 = images(1, side, 23);
    const auto first = winograd.forward(x1);
    for (int64_t batch : {1, 8}) {
      auto x = images(batch, side, 22 + batch);
      auto expected = eager(*model, x);
      EXPECT_LE(max_diff(winograd.forward(x), expected), 1e-4) << "batch " << batch;
      EXPECT_LE(max_diff(direct.forward(x), expected), 1e-4) << "batch " << batch;
    }
    // Batch 8's plan grew (moved) the scratchpad the batch-1 plan shares: rebound, same logits.
    EXPECT_EQ(max_diff(winograd.forward(x1), first), 0.0);
    EXPECT_EQ(winograd.plans_compiled(), 2);
  }
}

TEST(NativeEngine, FusionLeavesNoStandaloneActivationsOrResidualAdds) {
  auto model = make_model(resnet(18, "none"));
  auto graph = capture_graph(*model, "resnet18");
  auto fused = fuse_graph(graph, infer_shapes(graph, {1, 3, 64, 64}));
  int convs = 0, sums = 0, others = 0;
  for (const auto& op : fused.ops) {
    if (op.kind == OpKind::conv) ++convs;
    for (const auto& p : op.post_ops) sums += p.kind == PostOp::Kind::sum;
    if (op.kind == OpKind::activation || op.kind == OpKind::binary) ++others;
  }
  EXPECT_EQ(convs, 20);  // stem + 8 blocks x 2 + 3 downsamples
  EXPECT_EQ(sums, 8);    // every residual add rides on a conv
  EXPECT_EQ(others, 0);
  EXPECT_LT(fused.ops.size(), graph.ops.size());

  // SimpleCNN's BatchNorm after the activation becomes a post-op of the conv too.
  auto cnn_model = make_model(cnn("relu", true, "same"));
  auto cnn_graph = capture_graph(*cnn_model, "cnn");
  auto cnn_fused = fuse_graph(cnn_graph, infer_shapes(cnn_graph, {1, 3, 32, 32}));
  int scale_shifts = 0;
  for (const auto& op : cnn_fused.ops)
    for (const auto& p : op.post_ops) scale_shifts += p.kind == PostOp::Kind::scale_shift;
  EXPECT_EQ(scale_shifts, 3);
}

class WithLayer : public models::ClassifierImpl {
 public:
  explicit WithLayer(torch::nn::Sequential seq) : seq_(register_module("features", seq)) {}
  torch::Tensor run(torch::Tensor x, const models::Pass& /*pass*/) override {
    return seq_->forward(x);
  }
  std::string emit(models::GraphBuilder& g, const std::string& input) override {
    return models::emit_sequential(g, *seq_, input, "features");
  }

 private:
  torch::nn::Sequential seq_;
};

std::string refusal(models::ClassifierImpl& model) {
  try {
    NativeModel native(model, "test_model");
  } catch (const UnsupportedOpError& e) {
    EXPECT_NE(std::string(e.what()).find("test_model"), std::string::npos) << e.what();
    return e.op();
  }
  ADD_FAILURE() << "expected UnsupportedOpError";
  return "";
}

TEST(NativeEngine, UnsupportedOpsAreRefusedByName) {
  WithLayer leaky(torch::nn::Sequential(torch::nn::Conv2d(3, 4, 3), torch::nn::LeakyReLU(),
                                        torch::nn::Flatten(), torch::nn::Linear(4, 2)));
  EXPECT_NE(refusal(leaky).find("LeakyReLU"), std::string::npos);

  WithLayer reflect(torch::nn::Sequential(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).padding(1).padding_mode(torch::kReflect)),
      torch::nn::Flatten(), torch::nn::Linear(4, 2)));
  const auto op = refusal(reflect);
  EXPECT_NE(op.find("features.0"), std::string::npos) << op;
  EXPECT_NE(op.find("padding mode"), std::string::npos) << op;

  class Opaque : public models::ClassifierImpl {
   public:
    torch::Tensor run(torch::Tensor x, const models::Pass& /*pass*/) override {
      return x.flatten(1);
    }
  } opaque;
  EXPECT_NE(refusal(opaque).find("does not describe its graph"), std::string::npos);
}

TEST(NativeEngine, WrongInputSizeIsAnErrorNotACrash) {
  auto model = make_model(cnn("relu", true, "same"));
  NativeModel native(*model, "cnn");
  EXPECT_THROW(native.forward(images(1, 40, 1)), Error);  // the head expects 32 px
  EXPECT_THROW(native.forward(torch::randn({1, 3, 32})), Error);
  EXPECT_EQ(parse_engine_choice("auto"), EngineChoice::automatic);
  EXPECT_THROW(parse_engine_choice("fast"), ConfigError);
}

}  // namespace
}  // namespace garbage::engine
