// The pretrained model zoo: torchvision architectures (parity with PyTorch on the same weights),
// parameter counts, attention variants, fine-tuning strategies and parameter groups.

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../support/python_oracle.hpp"
#include "../support/synthetic_data.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/loading/checkpoint.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/finetune.hpp"
#include "garbage/models/pretrained.hpp"
#include "garbage/models/registry.hpp"
#include "garbage/models/summary.hpp"
#include "garbage/train/optimizer.hpp"
#include "garbage/train/trainer.hpp"

namespace garbage::models {
namespace {

using nlohmann::json;
using testing::TempDir;

ModelPtr make(const json& user) {
  return create_model(resolve_model_config(user, "test"));
}

int64_t total_params(const json& user) {
  return count_parameters(*make(user), false);
}

TEST(Zoo, ParameterCountsMatchTorchvisionAndThePaper) {
  // RecycleNet's published counts with a 6-class head (attention after layer4).
  EXPECT_EQ(total_params({{"name", "resnet18"}, {"attention", "recyclenet"}}), 11237991);
  EXPECT_EQ(total_params({{"name", "resnet34"}, {"attention", "recyclenet"}}), 21346151);
  EXPECT_EQ(total_params({{"name", "resnet50"}, {"attention", "recyclenet"}}), 24147143);
  // torchvision's ImageNet models.
  EXPECT_EQ(total_params({{"name", "resnet18"}, {"num_classes", 1000}}), 11689512);
  EXPECT_EQ(total_params({{"name", "resnet34"}, {"num_classes", 1000}}), 21797672);
  EXPECT_EQ(total_params({{"name", "resnet50"}, {"num_classes", 1000}}), 25557032);
  EXPECT_EQ(total_params({{"name", "resnet101"}, {"num_classes", 1000}}), 44549160);
  EXPECT_EQ(total_params({{"name", "resnet152"}, {"num_classes", 1000}}), 60192808);
  EXPECT_EQ(total_params({{"name", "mobilenet_v3_small"}, {"num_classes", 1000}}), 2542856);
  EXPECT_EQ(total_params({{"name", "mobilenet_v3_large"}, {"num_classes", 1000}}), 5483032);
}

TEST(Zoo, EveryVariantProducesLogitsAt64Pixels) {
  std::vector<json> configs = {{{"name", "mobilenet_v3_small"}}, {{"name", "mobilenet_v3_large"}}};
  for (int depth : {18, 34, 50, 101, 152})
    configs.push_back({{"name", "resnet" + std::to_string(depth)}});
  for (const char* attention : {"se", "cbam"})
    configs.push_back({{"name", "resnet18"}, {"attention", attention}});
  for (const char* fusion : {"sum", "mul", "max", "channel", "spatial"})
    configs.push_back(
        {{"name", "resnet18"}, {"attention", "recyclenet"}, {"recyclenet_fusion", fusion}});
  configs.push_back({{"name", "resnet50"}, {"attention", "cbam"}});
  torch::NoGradGuard no_grad;
  for (const auto& c : configs) {
    SCOPED_TRACE(c.dump());
    auto model = make(c);
    model->eval();
    auto y = model->forward(torch::randn({2, 3, 64, 64}));
    EXPECT_EQ(y.sizes().vec(), (std::vector<int64_t>{2, 6}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

TEST(Zoo, SummaryTracesEveryLayer) {
  auto model = make({{"name", "resnet18"}, {"attention", "recyclenet"}});
  auto s = summarize(*model, 64);
  auto find = [&](const std::string& name) -> const LayerRecord* {
    for (const auto& l : s.layers)
      if (l.name == name) return &l;
    return nullptr;
  };
  ASSERT_TRUE(find("layer4.1.conv2"));
  EXPECT_EQ(find("layer4.1.conv2")->output_shape, (std::vector<int64_t>{1, 512, 2, 2}));
  ASSERT_TRUE(find("layer2.0.downsample.0"));
  ASSERT_TRUE(find("attention"));
  ASSERT_TRUE(find("fc"));
  EXPECT_EQ(find("fc")->output_shape, (std::vector<int64_t>{1, 6}));
  EXPECT_GT(s.macs, 100000000);  // ~150 M MACs for ResNet18 at 64 px

  auto mobile = make({{"name", "mobilenet_v3_small"}});
  auto m = summarize(*mobile, 224);
  bool saw_se = false, saw_head = false;
  for (const auto& l : m.layers) {
    saw_se |= l.name == "features.1.block.1" && l.macs == 16 * 8 * 2;  // SE: two 1x1 on [16,1,1]
    saw_head |= l.name == "classifier.3" && l.output_shape == std::vector<int64_t>{1, 6};
  }
  EXPECT_TRUE(saw_se);
  EXPECT_TRUE(saw_head);
  // The paper counts 56 M multiply-adds (conv, linear and SE layers; pooling and gating excluded).
  EXPECT_NEAR(m.macs / 1e6, 56.0, 1.0);
}

std::set<std::string> trainable(ClassifierImpl& model) {
  std::set<std::string> names;
  for (const auto& p : model.named_parameters())
    if (p.value().requires_grad()) names.insert(p.key());
  return names;
}

TEST(Zoo, FreezeStrategiesLeaveExactlyTheIntendedParametersTrainable) {
  auto last = make({{"name", "mobilenet_v3_small"}, {"freeze_strategy", "freeze_all_except_last"}});
  EXPECT_EQ(trainable(*last), (std::set<std::string>{"classifier.3.weight", "classifier.3.bias"}));

  auto all = make({{"name", "mobilenet_v3_small"}, {"freeze_strategy", "finetune_all"}});
  EXPECT_EQ(trainable(*all).size(), all->named_parameters().size());

  // 13 feature stages: features.0-5 frozen, features.6-12 and the classifier train.
  auto half = make({{"name", "mobilenet_v3_small"}, {"freeze_strategy", "freeze_backbone_half"}});
  for (const auto& p : half->named_parameters()) {
    const auto& name = p.key();
    bool early = false;
    for (int i = 0; i < 6; ++i) early |= name.rfind("features." + std::to_string(i) + ".", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), !early) << name;
  }

  // Attention modules are new: they train even when the backbone is frozen.
  auto resnet = make({{"name", "resnet18"},
                      {"attention", "recyclenet"},
                      {"freeze_strategy", "freeze_all_except_last"}});
  for (const auto& name : trainable(*resnet))
    EXPECT_TRUE(name.rfind("fc.", 0) == 0 || name.rfind("attention.", 0) == 0) << name;
  EXPECT_EQ(trainable(*resnet).size(), 2u + 6u);  // fc + attention (w, b) x 3

  auto resnet_half = make({{"name", "resnet18"}, {"freeze_strategy", "freeze_backbone_half"}});
  for (const auto& p : resnet_half->named_parameters()) {
    const auto& name = p.key();
    bool early =
        name.rfind("conv1.", 0) == 0 || name.rfind("bn1.", 0) == 0 || name.rfind("layer1.", 0) == 0;
    EXPECT_EQ(p.value().requires_grad(), !early) << name;
  }
}

TEST(Zoo, FrozenBatchNormStaysInEvalModeWhileTraining) {
  auto model = make({{"name", "resnet18"}, {"freeze_strategy", "freeze_backbone_half"}});
  model->train();
  for (const auto& m : model->named_modules()) {
    auto* bn = m.value()->as<torch::nn::BatchNorm2dImpl>();
    if (!bn) continue;
    bool frozen = m.key() == "bn1" || m.key().rfind("layer1.", 0) == 0;
    EXPECT_EQ(bn->is_training(), !frozen) << m.key();
  }
  model->eval();
  for (const auto& m : model->modules()) EXPECT_FALSE(m->is_training());
}

TEST(Zoo, ParameterGroupsCarryTheBackboneLearningRateFactor) {
  auto model = make({{"name", "mobilenet_v3_small"}, {"backbone_lr_factor", 0.1}});
  auto groups = model->parameter_groups();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].name, "backbone");
  EXPECT_DOUBLE_EQ(groups[0].lr_factor, 0.1);
  EXPECT_DOUBLE_EQ(groups[1].lr_factor, 1.0);
  EXPECT_EQ(groups[1].params.size(), 4u);  // classifier.0 and classifier.3
  EXPECT_EQ(groups[0].params.size() + groups[1].params.size(), model->parameters().size());

  config::OptimizerConfig oc;
  oc.name = "adam";
  oc.lr = 1e-3;
  std::vector<train::ParamGroup> pg;
  for (auto& g : groups) pg.push_back({g.params, g.lr_factor});
  auto opt = train::make_optimizer(oc, pg);
  auto& torch_groups = opt->optimizer->param_groups();
  ASSERT_EQ(torch_groups.size(), 2u);
  EXPECT_NEAR(torch_groups[0].options().get_lr(), 1e-4, 1e-12);
  EXPECT_NEAR(torch_groups[1].options().get_lr(), 1e-3, 1e-12);
  opt->set_lr(1e-2);  // a schedule moves both, keeping the ratio
  EXPECT_NEAR(torch_groups[0].options().get_lr(), 1e-3, 1e-12);
  EXPECT_NEAR(torch_groups[1].options().get_lr(), 1e-2, 1e-12);

  // Frozen parameters join no group; attention (new) learns at the head's rate.
  auto resnet = make({{"name", "resnet18"},
                      {"attention", "se"},
                      {"freeze_strategy", "freeze_all_except_last"},
                      {"backbone_lr_factor", 0.01}});
  auto rg = resnet->parameter_groups();
  EXPECT_TRUE(rg[0].params.empty());
  EXPECT_EQ(rg[1].params.size(), 2u + 8u * 2u);  // fc + (fc1, fc2) of 8 SE blocks
}

TEST(Zoo, ConfigsValidateAndPretrainedNeedsAFile) {
  for (const char* name : {"mobilenet_v3_small.json", "resnet18_attention.json"}) {
    SCOPED_TRACE(name);
    auto cfg = config::load_train_config(std::string(GARBAGE_SOURCE_DIR) + "/configs/" + name);
    EXPECT_EQ(cfg.transform.resize.output_size(), 224);
  }
  EXPECT_THROW(resolve_model_config({{"name", "resnet18"}, {"attention", "bogus"}}, "t"),
               ConfigError);
  EXPECT_THROW(
      resolve_model_config({{"name", "resnet18"}, {"pretrained", true}, {"weights", "x.pth"}}, "t"),
      ConfigError);
  EXPECT_THROW(configured_weights_file({{"weights", "/nonexistent/w.pth"}}), ConfigError);
  EXPECT_FALSE(configured_weights_file({{"weights", ""}, {"pretrained", false}}).has_value());
  EXPECT_EQ(official_weights_name("resnet18"), "resnet18-f37072fd.pth");
  EXPECT_EQ(official_weights_name("mobilenet_v3_small"), "mobilenet_v3_small-047dcff4.pth");
  bool present = false;
  for (const auto& dir : weights_search_path())
    present |= std::filesystem::exists(dir / "resnet152-394f9c45.pth") ||
               std::filesystem::exists(dir / "resnet152-f82ba261.pth");
  if (!present) {
    try {
      find_official_weights("resnet152");
      FAIL();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("scripts/get_weights.sh"), std::string::npos);
    }
  }
}

TEST(ZooTraining, OneEpochKeepsFrozenWeightsAndBatchNormStatistics) {
  TempDir dir("zoo-train");
  testing::write_synthetic_dataset(dir / "data", 3, 16, 64);
  json user = {{"name", "zoo"},
               {"seed", 3},
               {"threads", 2},
               {"model",
                {{"name", "mobilenet_v3_small"},
                 {"freeze_strategy", "freeze_backbone_half"},
                 {"backbone_lr_factor", 0.1}}},
               {"data",
                {{"root", (dir / "data").string()},
                 {"layout", "folder"},
                 {"val_fraction", 0.25},
                 {"test_fraction", 0.25},
                 {"workers", 2}}},
               {"preprocess", {{"resize", 64}}},
               {"train",
                {{"epochs", 1},
                 {"batch_size", 8},
                 {"test_at_end", false},
                 {"optimizer", {{"name", "adam"}, {"lr", 1e-3}}}}}};
  train::TrainRequest request;
  request.config = config::make_train_config(config::resolve_train_document(user, "zoo"));
  request.out_dir = dir / "run";
  train::run_training(request);

  // The trainer seeds before building, so the same seed rebuilds the initial weights.
  torch::manual_seed(3);
  auto initial = make({{"name", "mobilenet_v3_small"}, {"num_classes", 3}});
  auto trained = loading::load_checkpoint(dir / "run" / "last.pt").model;
  auto before = initial->named_parameters();
  auto before_buffers = initial->named_buffers();
  for (const auto& p : trained->named_parameters()) {
    bool frozen = p.key().rfind("features.0.", 0) == 0 || p.key().rfind("features.5.", 0) == 0;
    if (frozen) {
      EXPECT_TRUE(torch::equal(p.value(), before[p.key()])) << p.key();
    }
  }
  EXPECT_FALSE(torch::equal(trained->named_parameters()["features.12.0.weight"],
                            before["features.12.0.weight"]));
  // Frozen BatchNorm stayed in eval mode: its running statistics did not move.
  EXPECT_TRUE(torch::equal(trained->named_buffers()["features.0.1.running_mean"],
                           before_buffers["features.0.1.running_mean"]));
  EXPECT_FALSE(torch::equal(trained->named_buffers()["features.12.1.running_mean"],
                            before_buffers["features.12.1.running_mean"]));
}

// ---- parity with torchvision on the same weights -------------------------------------------

class TorchvisionParity : public ::testing::Test {
 protected:
  static constexpr int kSize = 224;
  static void SetUpTestSuite() {
    if (testing::have_torchvision()) dir_ = new TempDir("parity");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 with torchvision missing";
  }
  /// Writes NAME's files once per process: ctest runs each test in its own process, so each
  /// generates only the model it needs.
  static void ensure(const std::string& name) {
    static std::set<std::string> done;
    if (done.count(name)) return;
    bool ok = false;
    auto out = testing::run_oracle(
        "models " + dir_->path().string() + " " + std::to_string(kSize) + " " + name, ok);
    ASSERT_TRUE(ok) << "oracle failed: " << out;
    done.insert(name);
  }
  static torch::Tensor load_floats(const std::filesystem::path& path, std::vector<int64_t> shape) {
    auto bytes = testing::read_bytes(path);
    auto t = torch::empty(shape, torch::kFloat32);
    EXPECT_EQ(bytes.size(), static_cast<size_t>(t.numel()) * 4) << path;
    std::memcpy(t.data_ptr(), bytes.data(), std::min<size_t>(bytes.size(), t.numel() * 4));
    return t;
  }
  static double max_diff(const std::string& name, const std::string& format) {
    ensure(name);
    if (::testing::Test::HasFatalFailure()) return INFINITY;
    auto model = make({{"name", name}, {"num_classes", 10}});
    LoadOptions strict;
    strict.replace_mismatched_head = false;
    auto report = load_weights_file(*model, dir_->path() / (name + "." + format + ".pth"), strict);
    EXPECT_TRUE(report.missing.empty() && report.unexpected.empty() && report.mismatched.empty());
    model->eval();
    torch::NoGradGuard no_grad;
    auto x = load_floats(dir_->path() / "input.bin", {2, 3, kSize, kSize});
    auto expected = load_floats(dir_->path() / (name + ".logits.bin"), {2, 10});
    EXPECT_GT(expected.abs().max().item<double>(), 1e-3);  // not a degenerate reference
    double diff = (model->forward(x) - expected).abs().max().item<double>();
    std::printf("parity %-20s %-6s max |diff| = %.3g\n", name.c_str(), format.c_str(), diff);
    return diff;
  }
  static TempDir* dir_;
};
TempDir* TorchvisionParity::dir_ = nullptr;

TEST_F(TorchvisionParity, MobileNetV3Small) {
  EXPECT_LE(max_diff("mobilenet_v3_small", "zip"), 1e-4);
  EXPECT_LE(max_diff("mobilenet_v3_small", "legacy"), 1e-4);
}
TEST_F(TorchvisionParity, MobileNetV3Large) {
  EXPECT_LE(max_diff("mobilenet_v3_large", "zip"), 1e-4);
  EXPECT_LE(max_diff("mobilenet_v3_large", "legacy"), 1e-4);
}
TEST_F(TorchvisionParity, ResNet18) {
  EXPECT_LE(max_diff("resnet18", "zip"), 1e-4);
  EXPECT_LE(max_diff("resnet18", "legacy"), 1e-4);
}
TEST_F(TorchvisionParity, ResNet50) {
  EXPECT_LE(max_diff("resnet50", "zip"), 1e-4);
  EXPECT_LE(max_diff("resnet50", "legacy"), 1e-4);
}

TEST_F(TorchvisionParity, HeadForOtherClassesIsReplacedOtherMismatchesFail) {
  ensure("resnet18");
  ASSERT_FALSE(HasFatalFailure());
  auto six = make({{"name", "resnet18"}});
  auto report = load_weights_file(*six, dir_->path() / "resnet18.zip.pth");
  EXPECT_EQ(report.head_replaced.size(), 2u);
  EXPECT_EQ(report.loaded.size() + 2, six->named_parameters().size() + six->named_buffers().size());

  auto attention = make({{"name", "resnet18"}, {"attention", "recyclenet"}});
  auto r = load_weights_file(*attention, dir_->path() / "resnet18.zip.pth");
  EXPECT_EQ(r.new_modules.size(), 6u);

  auto wrong = make({{"name", "resnet34"}});
  EXPECT_THROW(load_weights_file(*wrong, dir_->path() / "resnet18.zip.pth"), Error);
  LoadOptions lenient;
  lenient.strict = false;
  auto partial = load_weights_file(*wrong, dir_->path() / "resnet18.zip.pth", lenient);
  EXPECT_FALSE(partial.missing.empty());
}

TEST(OfficialWeights, ParityWhenTheFilesArePresent) {
  if (!testing::have_torchvision()) GTEST_SKIP() << "/usr/bin/python3 with torchvision missing";
  int checked = 0;
  for (const char* name :
       {"mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet34", "resnet50"}) {
    std::filesystem::path file;
    try {
      file = find_official_weights(name);
    } catch (const ConfigError&) {
      continue;
    }
    TempDir dir("official");
    bool ok = false;
    auto out = testing::run_oracle(
        "official " + dir.path().string() + " 224 " + name + " " + file.string(), ok);
    ASSERT_TRUE(ok) << out;
    auto model = make({{"name", name}, {"num_classes", 1000}});
    load_weights_file(*model, file, LoadOptions{false, true});
    model->eval();
    torch::NoGradGuard no_grad;
    auto input = testing::read_bytes(dir.path() / "input.bin");
    auto x = torch::empty({2, 3, 224, 224});
    std::memcpy(x.data_ptr(), input.data(), input.size());
    auto ref = testing::read_bytes(dir.path() / (std::string(name) + ".official.logits.bin"));
    auto expected = torch::empty({2, 1000});
    std::memcpy(expected.data_ptr(), ref.data(), ref.size());
    double diff = (model->forward(x) - expected).abs().max().item<double>();
    std::printf("official %-20s %s max |diff| = %.3g\n", name, file.string().c_str(), diff);
    EXPECT_LE(diff, 1e-4) << file;
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no official torchvision files in the weights search path";
}

}  // namespace
}  // namespace garbage::models
