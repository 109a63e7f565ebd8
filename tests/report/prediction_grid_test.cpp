// The eval prediction grid: a seeded choice spread over classes, drawn with coloured labels.

#include <map>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "../support/synthetic_data.hpp"
#include "garbage/report/plots.hpp"

namespace fs = std::filesystem;
using garbage::report::PredictionGridLayout;
using garbage::report::PredictionSample;
using garbage::testing::TempDir;

namespace {

int count_colour(const cv::Mat& img, const cv::Vec3b& bgr) {
  int n = 0;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x) n += img.at<cv::Vec3b>(y, x) == bgr;
  return n;
}

const cv::Vec3b kGreen(0, 150, 0), kRed(0, 0, 220);

}  // namespace

TEST(PredictionGrid, PicksAreSpreadOverClassesSeededAndOrderedByClass) {
  std::vector<int64_t> targets;
  for (int i = 0; i < 20; ++i) targets.push_back(0);
  for (int i = 0; i < 5; ++i) targets.push_back(1);
  targets.push_back(2);
  std::swap(targets[3], targets[24]);  // classes interleaved in the input

  auto picks = garbage::report::pick_grid_samples(targets, 9, 0);
  ASSERT_EQ(picks.size(), 9u);
  std::map<int64_t, int> per_class;
  for (size_t i : picks) ++per_class[targets.at(i)];
  EXPECT_EQ(per_class[0], 4);
  EXPECT_EQ(per_class[1], 4);
  EXPECT_EQ(per_class[2], 1);
  for (size_t i = 1; i < picks.size(); ++i) EXPECT_LE(targets[picks[i - 1]], targets[picks[i]]);
  EXPECT_EQ(picks, garbage::report::pick_grid_samples(targets, 9, 0));
  EXPECT_NE(picks, garbage::report::pick_grid_samples(targets, 9, 1));
  EXPECT_EQ(garbage::report::pick_grid_samples(targets, 30, 0).size(), targets.size());
}

TEST(PredictionGrid, RightIsGreenWrongIsRedAtTheLayoutSize) {
  TempDir dir("grid");
  garbage::testing::write_synthetic_dataset(dir / "data", 2, 2, 48);
  const std::string a = (dir / "data" / "class_0" / "img_0.png").string();
  const std::string b = (dir / "data" / "class_1" / "img_1.png").string();
  const std::vector<std::string> names = {"glass", "metal"};
  PredictionGridLayout layout;

  std::vector<PredictionSample> mixed = {
      {a, 0, 0}, {b, 1, 0}, {b, 1, 1}, {(dir / "missing.png").string(), 0, 1}};
  EXPECT_EQ(garbage::report::write_prediction_grid(dir / "mixed.png", mixed, names, layout), 4u);
  cv::Mat img = cv::imread((dir / "mixed.png").string());
  ASSERT_FALSE(img.empty());
  EXPECT_EQ(img.cols, layout.width());
  EXPECT_EQ(img.rows, layout.height());
  EXPECT_EQ(layout.width(), 8 + 10 * (128 + 8));
  EXPECT_GT(count_colour(img, kGreen), 100);
  EXPECT_GT(count_colour(img, kRed), 100);
  // The thumbnail is the decoded image, not a placeholder: the synthetic background is light.
  EXPECT_GT(img.at<cv::Vec3b>(layout.gap + 4, layout.gap + 64)[1], 150);

  std::vector<PredictionSample> right = {{a, 0, 0}, {b, 1, 1}};
  garbage::report::write_prediction_grid(dir / "right.png", right, names, layout);
  cv::Mat all_right = cv::imread((dir / "right.png").string());
  EXPECT_GT(count_colour(all_right, kGreen), 100);
  EXPECT_EQ(count_colour(all_right, kRed), 0);
}
