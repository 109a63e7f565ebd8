#include <gtest/gtest.h>
#include <torch/torch.h>

#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/models/classifier.hpp"
#include "garbage/models/registry.hpp"
#include "garbage/models/simple_cnn.hpp"
#include "garbage/models/summary.hpp"

using garbage::models::count_parameters;
using garbage::models::create_model;
using nlohmann::json;

namespace {
json best_seed_config() {
  return garbage::models::resolve_model_config({{"name", "simple_cnn"},
                                                {"base_features", 64},
                                                {"num_conv_layers", 5},
                                                {"filter_size", 5},
                                                {"strategy", "same"},
                                                {"conv_activation", "mish"},
                                                {"dense_activation", "relu"},
                                                {"num_dense", 128},
                                                {"batchnorm", true},
                                                {"dropout", 0.2},
                                                {"img_size", 128},
                                                {"num_classes", 6}},
                                               "test");
}
}  // namespace

TEST(SimpleCNN, BestSeedConfigHasExactly547334TrainableParameters) {
  auto model = create_model(best_seed_config());
  EXPECT_EQ(count_parameters(*model, true), 547334);
}

class SimpleCNNStrategy : public ::testing::TestWithParam<std::string> {};

TEST_P(SimpleCNNStrategy, OutputShapeAndFeatureWidths) {
  auto cfg = best_seed_config();
  cfg["strategy"] = GetParam();
  cfg["base_features"] = 16;
  cfg["num_conv_layers"] = 4;
  cfg["img_size"] = 64;
  cfg["conv_activation"] = "gelu";
  auto model = create_model(cfg);
  model->eval();
  auto y = model->forward(torch::randn({3, 3, 64, 64}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{3, 6}));

  auto summary = garbage::models::summarize(*model, 64);
  std::vector<int64_t> widths;
  for (const auto& layer : summary.layers)
    if (layer.type == "Conv2d") widths.push_back(layer.output_shape[1]);
  std::vector<int64_t> expected = GetParam() == "same"       ? std::vector<int64_t>{16, 16, 16, 16}
                                  : GetParam() == "doubling" ? std::vector<int64_t>{16, 32, 64, 128}
                                                             : std::vector<int64_t>{16, 8, 4, 2};
  EXPECT_EQ(widths, expected);
  EXPECT_EQ(summary.layers.back().output_shape, (std::vector<int64_t>{1, 6}));
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, SimpleCNNStrategy,
                         ::testing::Values("same", "doubling", "halving"));

TEST(SimpleCNN, EveryActivationRunsAndWithoutBatchNormHasFewerParameters) {
  for (const char* act : {"relu", "gelu", "silu", "mish"}) {
    auto cfg = best_seed_config();
    cfg["conv_activation"] = act;
    cfg["dense_activation"] = act;
    cfg["img_size"] = 32;
    cfg["num_conv_layers"] = 2;
    auto model = create_model(cfg);
    auto y = model->forward(torch::randn({2, 3, 32, 32}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << act;
  }
  auto with_bn = best_seed_config();
  auto without_bn = with_bn;
  without_bn["batchnorm"] = false;
  EXPECT_EQ(count_parameters(*create_model(with_bn), true) -
                count_parameters(*create_model(without_bn), true),
            5 * 2 * 64);
}

TEST(SimpleCNN, SummaryCountsMacsOfTheBestConfig) {
  auto model = create_model(best_seed_config());
  auto s = garbage::models::summarize(*model, 128);
  EXPECT_EQ(s.trainable_params, 547334);
  // conv1 128^2*64*3*25 + conv2 64^2*64*64*25 + ... + fc 1024*128 + 128*6
  int64_t conv = 128LL * 128 * 64 * 75;
  for (int side = 64; side >= 8; side /= 2) conv += int64_t(side) * side * 64 * 64 * 25;
  EXPECT_EQ(s.macs, conv + 1024 * 128 + 128 * 6);
}

TEST(SimpleCNN, TooSmallImageForThePoolingStackIsAConfigError) {
  auto cfg = best_seed_config();
  cfg["img_size"] = 16;
  cfg["num_conv_layers"] = 5;
  EXPECT_THROW(garbage::models::resolve_model_config(cfg, "test"), garbage::ConfigError);
}

TEST(Registry, UnknownModelNamesTheNearest) {
  try {
    garbage::models::find_model("simple_cn");
    FAIL() << "expected ConfigError";
  } catch (const garbage::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("simple_cnn"), std::string::npos);
  }
}
