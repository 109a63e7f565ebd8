// Sweep report plots: nothing drawn is cut off by the image edge or hidden under the frame.

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "../support/synthetic_data.hpp"
#include "garbage/report/plots.hpp"

using garbage::testing::TempDir;

namespace {

bool column_is_white(const cv::Mat& img, int x) {
  for (int y = 0; y < img.rows; ++y)
    if (img.at<cv::Vec3b>(y, x) != cv::Vec3b(255, 255, 255)) return false;
  return true;
}

// The frame's top edge: the first row that is mostly black.
int first_mostly_black_row(const cv::Mat& img) {
  for (int y = 0; y < img.rows; ++y) {
    int black = 0;
    for (int x = 0; x < img.cols; ++x) black += img.at<cv::Vec3b>(y, x) == cv::Vec3b(0, 0, 0);
    if (black > img.cols / 2) return y;
  }
  return -1;
}

}  // namespace

TEST(ParallelCoordinates, LongNamesOfTheOuterAxesStayInsideTheImage) {
  TempDir dir;
  std::vector<garbage::report::Axis> axes = {
      {"augment.random_erasing_probability", {0.0, 1.0}, {{0.0, "0"}, {1.0, "0.4"}}},
      {"train.lr", {0.5, 0.2}, {{0.0, "1e-4"}, {1.0, "1e-2"}}},
      {"train.optimizer.weight_decay_on_norms", {1.0, 0.0}, {{0.0, "0"}, {1.0, "0.3"}}}};
  const auto path = dir.path() / "pc.png";
  garbage::report::write_parallel_coordinates_png(path, axes, {0.4, 0.8}, true, "sweep s");
  cv::Mat img = cv::imread(path.string());
  ASSERT_FALSE(img.empty());
  EXPECT_TRUE(column_is_white(img, 0)) << "the first axis's name is cut off on the left";
  EXPECT_TRUE(column_is_white(img, img.cols - 1)) << "the last axis's name is cut off";
}

TEST(Scatter, ExtremePointsAreDrawnInsideTheFrame) {
  TempDir dir;
  const auto path = dir.path() / "scatter.png";
  garbage::report::write_scatter_png(path, {1, 2, 3}, {0.9, 0.5, 0.7}, {0, 0, 0}, {"finished"},
                                     {0.9, 0.9, 0.9}, "", "trial", "acc");
  cv::Mat img = cv::imread(path.string());
  ASSERT_FALSE(img.empty());
  const int frame_top = first_mostly_black_row(img);
  ASSERT_GT(frame_top, 0);
  const cv::Vec3b filled(180, 119, 31);
  int marker_rows_at_or_above_frame = 0, marker_pixels = 0;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols * 3 / 4; ++x)  // left of the legend
      if (img.at<cv::Vec3b>(y, x) == filled)
        ++marker_pixels, marker_rows_at_or_above_frame += y <= frame_top;
  EXPECT_GT(marker_pixels, 0);
  EXPECT_EQ(marker_rows_at_or_above_frame, 0) << "the best trial's marker overlaps the frame";
}
