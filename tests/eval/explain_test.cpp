// garbage explain: the maps (Grad-CAM, guided backprop, feature maps, attention) and the PNGs
// drawn over the original image.

#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "../support/checkpoint_fixture.hpp"
#include "../support/train_fixture.hpp"
#include "garbage/config/train_config.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/eval/explain.hpp"
#include "garbage/loading/inference_model.hpp"

namespace fs = std::filesystem;
using garbage::testing::TempDir;
using nlohmann::json;

namespace {

/// A non-square test image: a gradient with a filled circle and a bar.
void write_image(const fs::path& path, int width, int height) {
  cv::Mat img(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>(2 * x), static_cast<uchar>(3 * y), 90);
  cv::circle(img, {width / 3, height / 2}, height / 4, cv::Scalar(20, 200, 240), cv::FILLED);
  cv::rectangle(img, cv::Rect(2 * width / 3, height / 4, width / 8, height / 2),
                cv::Scalar(200, 40, 30), cv::FILLED);
  cv::imwrite(path.string(), img);
}

cv::Mat read_png(const fs::path& path) {
  cv::Mat img = cv::imread(path.string(), cv::IMREAD_COLOR);
  EXPECT_FALSE(img.empty()) << path;
  return img;
}

double max_channel_std(const cv::Mat& img) {
  cv::Scalar mean, stddev;
  cv::meanStdDev(img, mean, stddev);
  return std::max({stddev[0], stddev[1], stddev[2]});
}

garbage::loading::InferenceModel resnet_model(const std::string& attention) {
  json user = {{"name", "explain-" + attention},
               {"model", {{"name", "resnet18"}, {"num_classes", 3}, {"attention", attention}}},
               {"preprocess", {{"resize", 72}, {"resize_mode", "shorter"}, {"crop", 64}}},
               {"augment", {{"enabled", false}}}};
  garbage::loading::InferenceModel m;
  m.document = garbage::config::resolve_train_document(user, "test");
  torch::manual_seed(11);
  m.model = garbage::models::create_model(m.document["model"]);
  m.model->eval();
  m.class_names = {"glass", "metal", "paper"};
  m.transform = garbage::config::transform_from_document(m.document);
  m.source = "test";
  return m;
}

}  // namespace

TEST(Explain, SimpleCnnCheckpointMapsAreDrawnAtTheImageSize) {
  TempDir dir("explain");
  torch::manual_seed(1);
  garbage::testing::write_untrained_checkpoint(dir / "ck.pt",
                                               garbage::testing::tiny_train_document(dir / "data"),
                                               {"class_0", "class_1", "class_2"});
  write_image(dir / "img.png", 96, 72);
  garbage::loading::ModelSource source;
  source.checkpoint = dir / "ck.pt";
  auto model = garbage::loading::load_inference_model(source);

  garbage::eval::ExplainOptions options;
  options.image = dir / "img.png";
  options.out_dir = dir / "out";
  auto result = garbage::eval::explain_image(model, options);

  const auto& ex = result.explanation;
  EXPECT_NEAR(ex.probabilities.sum().item<double>(), 1.0, 1e-5);
  {
    torch::NoGradGuard no_grad;
    auto input = garbage::loading::load_image_tensor(options.image, model.transform).unsqueeze(0);
    EXPECT_EQ(model.model->forward(input).argmax(1).item<int64_t>(), ex.predicted);
  }
  EXPECT_EQ(ex.target, ex.predicted);
  EXPECT_GE(ex.grad_cam.min().item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(ex.grad_cam.max().item<double>(), 1.0);
  EXPECT_EQ(ex.first_layer.sizes().vec(), (std::vector<int64_t>{8, 64, 64}));
  // Guided backprop drops negative gradients at every activation: a different saliency.
  EXPECT_GT(ex.gradient.abs().max().item<double>(), 0.0);
  EXPECT_GT(ex.guided.abs().max().item<double>(), 0.0);
  EXPECT_GT((ex.guided - ex.gradient).abs().max().item<double>(),
            1e-3 * ex.gradient.abs().max().item<double>());
  EXPECT_FALSE(ex.attention.defined());

  for (const char* name : {"grad_cam.png", "guided_backprop.png"}) {
    cv::Mat img = read_png(dir / "out" / name);
    EXPECT_EQ(img.cols, 96) << name;
    EXPECT_EQ(img.rows, 72) << name;
    EXPECT_GT(max_channel_std(img), 1.0) << name;
  }
  cv::Mat grid = read_png(dir / "out" / "feature_maps.png");
  EXPECT_EQ(grid.cols, 2 + 3 * (64 + 2));  // 8 channels: 3 x 3 tiles of 64 px, 2 px gaps
  EXPECT_GT(max_channel_std(grid), 1.0);
  EXPECT_FALSE(fs::exists(dir / "out" / "attention.png"));

  json saved = json::parse(std::ifstream(dir / "out" / "explain.json"));
  EXPECT_EQ(saved["predicted"]["index"], ex.predicted);
  EXPECT_EQ(saved["image_size"], json::array({96, 72}));
  EXPECT_EQ(saved["model_view"], json::array({0, 0, 96, 72}));  // square resize: all of it
  EXPECT_EQ(saved["files"].size(), 3u);
  EXPECT_EQ(result.files.size(), 4u);

  options.target_class = "class_2";
  auto other = garbage::eval::explain_image(model, options);
  EXPECT_EQ(other.explanation.target, 2);
  EXPECT_EQ(other.json["explained"]["label"], "class_2");
  options.target_class = "1";
  EXPECT_EQ(garbage::eval::explain_image(model, options).explanation.target, 1);
  options.target_class = "plastic";
  EXPECT_THROW(garbage::eval::explain_image(model, options), garbage::ConfigError);
}

TEST(Explain, AttentionResNetsDrawTheirSpatialMapOverTheCroppedView) {
  TempDir dir("explain");
  write_image(dir / "img.png", 120, 80);
  garbage::eval::ExplainOptions options;
  options.image = dir / "img.png";

  auto recyclenet = resnet_model("recyclenet");
  options.out_dir = dir / "recyclenet";
  auto result = garbage::eval::explain_image(recyclenet, options);
  ASSERT_TRUE(result.explanation.attention.defined());
  EXPECT_EQ(result.explanation.attention.sizes().vec(), (std::vector<int64_t>{2, 2}));
  EXPECT_NE(result.json["attention"]["kind"].get<std::string>().find("recyclenet"),
            std::string::npos);
  // Shorter side 80 -> 72 (x0.9): 108 x 72, center crop 64 at (22, 4), back in original pixels.
  EXPECT_EQ(result.json["model_view"], json::array({24, 4, 71, 71}));
  cv::Mat original = read_png(dir / "img.png");
  for (const char* name : {"attention.png", "grad_cam.png", "guided_backprop.png"}) {
    cv::Mat img = read_png(dir / "recyclenet" / name);
    EXPECT_EQ(img.size(), original.size()) << name;
    EXPECT_GT(max_channel_std(img), 1.0) << name;
  }
  // Outside the model's view the image is only dimmed.
  cv::Mat attention = read_png(dir / "recyclenet" / "attention.png");
  cv::Vec3b outside = attention.at<cv::Vec3b>(40, 5), source = original.at<cv::Vec3b>(40, 5);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(outside[c], 0.45 * source[c], 1.0);

  auto cbam = resnet_model("cbam");
  options.out_dir = dir / "cbam";
  garbage::eval::explain_image(cbam, options);
  EXPECT_TRUE(fs::exists(dir / "cbam" / "attention.png"));

  auto se = resnet_model("se");
  options.out_dir = dir / "se";
  auto se_result = garbage::eval::explain_image(se, options);
  EXPECT_FALSE(fs::exists(dir / "se" / "attention.png"));
  EXPECT_TRUE(se_result.json["attention"].is_null());
  EXPECT_TRUE(fs::exists(dir / "se" / "grad_cam.png"));
}

TEST(Explain, ClassesResolveByLabelOrIndex) {
  const std::vector<std::string> names = {"glass", "metal", "paper"};
  EXPECT_EQ(garbage::eval::resolve_class("metal", names), 1);
  EXPECT_EQ(garbage::eval::resolve_class("2", names), 2);
  EXPECT_THROW(garbage::eval::resolve_class("3", names), garbage::ConfigError);
  EXPECT_THROW(garbage::eval::resolve_class("-1", names), garbage::ConfigError);
  EXPECT_THROW(garbage::eval::resolve_class("Glass", names), garbage::ConfigError);
}
