// TrivialAugmentWide's op table and photometric ops against torchvision 1.13 (run by
// /usr/bin/python3), geometric ops and random erasing by hand, determinism per seed.

#include <sstream>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "../support/python_oracle.hpp"
#include "garbage/data/transform.hpp"
#include "garbage/data/trivial_augment.hpp"

namespace garbage::data {
namespace {

constexpr int kH = 24, kW = 20;  // > 255 pixels, so equalize does something

/// The oracle's image: (7x + 13y + 50c + 3xy) mod 256, RGB.
cv::Mat formula_image() {
  cv::Mat img(kH, kW, CV_8UC3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c)
        img.at<cv::Vec3b>(y, x)[c] =
            static_cast<uint8_t>((7 * x + 13 * y + 50 * c + 3 * x * y) % 256);
  return img;
}

/// torchvision's result of every (op, magnitude) case, in one Python run.
std::vector<std::vector<int>> torchvision_ops(
    const std::vector<std::pair<std::string, double>>& cases) {
  std::ostringstream args;
  args << "apply " << kH << " " << kW;
  for (const auto& [op, magnitude] : cases) args << " " << op << " " << magnitude;
  bool ok = false;
  const auto out =
      testing::run_python_script("tests/data/trivial_augment_reference.py", args.str(), ok);
  EXPECT_TRUE(ok) << out;
  std::vector<std::vector<int>> results;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    results.emplace_back();
    for (int v; in >> v;) results.back().push_back(v);
  }
  return results;
}

std::vector<int> values_of(const cv::Mat& img) {
  std::vector<int> v;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x)
      for (int c = 0; c < 3; ++c) v.push_back(img.at<cv::Vec3b>(y, x)[c]);
  return v;
}

const std::vector<std::pair<std::string, TaOp>> kNames = {{"Identity", TaOp::identity},
                                                          {"ShearX", TaOp::shear_x},
                                                          {"ShearY", TaOp::shear_y},
                                                          {"TranslateX", TaOp::translate_x},
                                                          {"TranslateY", TaOp::translate_y},
                                                          {"Rotate", TaOp::rotate},
                                                          {"Brightness", TaOp::brightness},
                                                          {"Color", TaOp::color},
                                                          {"Contrast", TaOp::contrast},
                                                          {"Sharpness", TaOp::sharpness},
                                                          {"Posterize", TaOp::posterize},
                                                          {"Solarize", TaOp::solarize},
                                                          {"AutoContrast", TaOp::autocontrast},
                                                          {"Equalize", TaOp::equalize}};

TEST(TrivialAugment, OpTableMatchesTorchvision) {
  if (!testing::have_torchvision()) GTEST_SKIP() << "no /usr/bin/python3 with torchvision";
  bool ok = false;
  const auto out =
      testing::run_python_script("tests/data/trivial_augment_reference.py", "table", ok);
  ASSERT_TRUE(ok) << out;
  std::istringstream lines(out);
  size_t index = 0;
  for (std::string line; std::getline(lines, line); ++index) {
    std::istringstream in(line);
    std::string name;
    int is_signed = 0;
    in >> name >> is_signed;
    ASSERT_LT(index, kNames.size());
    ASSERT_EQ(name, kNames[index].first) << "op order";
    const TaOp op = kNames[index].second;
    EXPECT_EQ(ta_signed(op), is_signed == 1) << name;
    int bin = 0;
    for (double v; in >> v; ++bin) EXPECT_NEAR(ta_magnitude(op, bin), v, 1e-5) << name << bin;
  }
  EXPECT_EQ(index, kNames.size());
}

TEST(TrivialAugment, PhotometricOpsMatchTorchvision) {
  if (!testing::have_torchvision()) GTEST_SKIP() << "no /usr/bin/python3 with torchvision";
  const cv::Mat img = formula_image();
  const std::vector<std::pair<std::string, double>> cases = {
      {"Brightness", 0.5}, {"Brightness", -0.4}, {"Color", 0.7},      {"Color", -0.6},
      {"Contrast", 0.9},   {"Contrast", -0.5},   {"Sharpness", 0.8},  {"Sharpness", -0.9},
      {"Posterize", 5},    {"Posterize", 2},     {"Solarize", 127.5}, {"AutoContrast", 0},
      {"Equalize", 0},     {"TranslateX", -7.4}, {"TranslateY", 5.3}, {"Identity", 0}};
  const auto expected = torchvision_ops(cases);
  ASSERT_EQ(expected.size(), cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto& [name, magnitude] = cases[k];
    TaOp op{};
    for (const auto& [n, o] : kNames)
      if (n == name) op = o;
    const auto mine = values_of(apply_ta_op(img, op, magnitude));
    const auto& theirs = expected[k];
    ASSERT_EQ(mine.size(), theirs.size()) << name;
    int off_by_one = 0, wrong = 0;
    for (size_t i = 0; i < mine.size(); ++i) {
      const int d = std::abs(mine[i] - theirs[i]);
      off_by_one += d == 1;
      wrong += d > 1;
    }
    // float32 rounding at .5 boundaries may differ by one level, rarely.
    EXPECT_EQ(wrong, 0) << name << " " << magnitude;
    EXPECT_LE(off_by_one, static_cast<int>(mine.size() / 100)) << name << " " << magnitude;
  }
}

TEST(TrivialAugment, GeometricOpsByHand) {
  const cv::Mat img = formula_image();
  for (auto op : {TaOp::shear_x, TaOp::shear_y, TaOp::rotate, TaOp::translate_x})
    EXPECT_EQ(values_of(apply_ta_op(img, op, 0.0)), values_of(img)) << to_string(op);
  const cv::Mat moved = apply_ta_op(img, TaOp::translate_x, 3.9);  // int(3.9) = 3 pixels right
  for (int y = 0; y < kH; ++y) {
    EXPECT_EQ(moved.at<cv::Vec3b>(y, 1), cv::Vec3b(0, 0, 0));
    EXPECT_EQ(moved.at<cv::Vec3b>(y, 10), img.at<cv::Vec3b>(y, 7));
  }
  // Shear x by m samples (x + m (y + 0.5), y): the top row barely moves, the bottom one most.
  const cv::Mat sheared = apply_ta_op(img, TaOp::shear_x, 0.5);
  EXPECT_EQ(sheared.at<cv::Vec3b>(0, 5), img.at<cv::Vec3b>(0, 5));
  EXPECT_EQ(sheared.at<cv::Vec3b>(10, 2), img.at<cv::Vec3b>(10, 7));
  // A quarter turn counter-clockwise of a square image: out(x, y) = in(W-1-y, x).
  cv::Mat square = img(cv::Rect(0, 0, 20, 20)).clone();
  const cv::Mat turned = apply_ta_op(square, TaOp::rotate, 90.0);
  EXPECT_EQ(turned.at<cv::Vec3b>(3, 5), square.at<cv::Vec3b>(5, 19 - 3));
}

TEST(TrivialAugment, SameSeedSameImageAndOpsVaryOverSeeds) {
  const cv::Mat img = formula_image();
  int changed = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto a = sample_rng(seed, 0, 0), b = sample_rng(seed, 0, 0);
    const cv::Mat x = trivial_augment(img, a), y = trivial_augment(img, b);
    EXPECT_EQ(values_of(x), values_of(y)) << seed;
    changed += values_of(x) != values_of(img);
  }
  // identity, and magnitude-0 bins, leave the image: 1/14 + a little of 40.
  EXPECT_GT(changed, 25);
  TransformSpec spec;
  spec.resize.size = kW;
  spec.augment.enabled = true;
  spec.augment.trivial_augment = true;
  spec.augment.random_erasing_p = 0.5;
  const cv::Mat square = img(cv::Rect(0, 0, kW, kW)).clone();
  auto r1 = sample_rng(7, 3, 11), r2 = sample_rng(7, 3, 11);
  EXPECT_EQ(values_of(apply_train(square, spec, r1)), values_of(apply_train(square, spec, r2)));
}

TEST(TrivialAugment, RandomErasingFillsOneBoxOfTheDrawnSize) {
  const cv::Mat img(40, 30, CV_8UC3, cv::Scalar(1, 2, 3));
  const cv::Scalar fill(124, 116, 104);
  int erased = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto rng = sample_rng(seed, 0, 0);
    const cv::Mat out = random_erasing(img, 1.0, fill, rng);
    cv::Mat mask;
    cv::inRange(out, fill, fill, mask);
    const int n = cv::countNonZero(mask);
    if (n == 0) continue;  // all 10 attempts too large: unchanged, as torchvision
    ++erased;
    const cv::Rect box = cv::boundingRect(mask);
    EXPECT_EQ(box.area(), n) << "one rectangle";
    EXPECT_GE(n, static_cast<int>(0.02 * 1200 * 0.5)) << seed;  // rounding of small sides
    EXPECT_LE(n, static_cast<int>(0.33 * 1200 * 1.3)) << seed;
  }
  EXPECT_GT(erased, 40);
  auto rng = sample_rng(1, 0, 0);
  EXPECT_EQ(values_of(random_erasing(img, 0.0, fill, rng)), values_of(img));
}

}  // namespace
}  // namespace garbage::data
