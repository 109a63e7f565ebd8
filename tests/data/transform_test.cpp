#include "garbage/data/transform.hpp"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace garbage::data {
namespace {

using garbage::testing::pattern_bgr;

bool same_pixels(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

TransformSpec augmenting_spec() {
  TransformSpec spec;
  spec.resize.size = 40;
  spec.augment.enabled = true;
  // Every augmentation fires, so any seed difference shows up in the pixels.
  spec.augment.hflip_p = 0.5;
  spec.augment.rotate_p = 1.0;
  spec.augment.affine_p = 1.0;
  spec.augment.color_p = 1.0;
  return spec;
}

TEST(Transform, SameSeedSameImageDifferentSeedDifferent) {
  const cv::Mat img = pattern_bgr(40, 40, 5);
  const TransformSpec spec = augmenting_spec();
  auto run = [&](uint64_t seed, int64_t epoch, int64_t sample) {
    auto rng = sample_rng(seed, epoch, sample);
    return apply_train(img, spec, rng);
  };
  const cv::Mat a = run(1, 2, 3);
  EXPECT_TRUE(same_pixels(a, run(1, 2, 3)));
  EXPECT_FALSE(same_pixels(a, run(2, 2, 3)));
  EXPECT_FALSE(same_pixels(a, run(1, 3, 3)));
  EXPECT_FALSE(same_pixels(a, run(1, 2, 4)));
  EXPECT_FALSE(same_pixels(a, img));  // augmentation actually changed something
}

TEST(Transform, DisabledAugmentationEqualsEval) {
  const cv::Mat img = pattern_bgr(48, 40, 1);
  TransformSpec spec = augmenting_spec();
  spec.resize.mode = ResizeSpec::Mode::shorter;
  spec.resize.crop = 32;
  spec.augment.enabled = false;
  auto rng = sample_rng(9, 0, 0);
  const cv::Mat eval = apply_eval(img, spec);
  EXPECT_TRUE(same_pixels(apply_train(img, spec, rng), eval));
  ASSERT_EQ(eval.size(), cv::Size(32, 32));
  EXPECT_TRUE(same_pixels(eval, img(cv::Rect(8, 4, 32, 32))));  // centered crop
}

TEST(Transform, OutputSizes) {
  TransformSpec spec = augmenting_spec();
  auto rng = sample_rng(0, 0, 0);
  // square cache image, no crop
  EXPECT_EQ(apply_train(pattern_bgr(40, 40), spec, rng).size(), cv::Size(40, 40));
  // shorter-side cache image plus crop: train and eval both center crop
  spec.resize.mode = ResizeSpec::Mode::shorter;
  spec.resize.crop = 36;
  const cv::Mat wide = pattern_bgr(60, 40);
  EXPECT_EQ(apply_train(wide, spec, rng).size(), cv::Size(36, 36));
  EXPECT_EQ(apply_eval(wide, spec).size(), cv::Size(36, 36));
  // shorter-side without crop: the model still gets a square of `size`
  spec.resize.crop = 0;
  EXPECT_EQ(apply_eval(wide, spec).size(), cv::Size(40, 40));
  // random resized crop to output_size, many draws
  spec.resize.crop = 24;
  spec.augment.random_resized_crop = true;
  for (int i = 0; i < 20; ++i) {
    auto r = sample_rng(4, 0, i);
    const cv::Mat out = apply_train(wide, spec, r);
    EXPECT_EQ(out.size(), cv::Size(24, 24));
    EXPECT_EQ(out.type(), CV_8UC3);
  }
}

TEST(Transform, EmptyInputThrows) {
  TransformSpec spec;
  EXPECT_THROW(apply_eval(cv::Mat(), spec), std::exception);
}

TEST(WriteNormalized, MatchesManualComputationInBothLayouts) {
  const cv::Mat img = pattern_bgr(5, 3, 2);  // treat as RGB
  Normalize norm;
  norm.mean = {0.1f, 0.5f, 0.9f};
  norm.std = {0.2f, 0.3f, 0.4f};
  std::vector<float> hwc(5 * 3 * 3), chw(5 * 3 * 3);
  write_normalized(img, norm, hwc.data(), true);
  write_normalized(img, norm, chw.data(), false);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 5; ++x) {
      for (int c = 0; c < 3; ++c) {
        const float expected = (img.at<cv::Vec3b>(y, x)[c] / 255.0f - norm.mean[c]) / norm.std[c];
        EXPECT_NEAR(hwc[(y * 5 + x) * 3 + c], expected, 1e-5f);
        EXPECT_NEAR(chw[c * 15 + y * 5 + x], expected, 1e-5f);
      }
    }
  }
}

TEST(WriteNormalized, HandlesNonContinuousViews) {
  const cv::Mat img = pattern_bgr(10, 10, 3);
  const cv::Mat view = img(cv::Rect(2, 3, 4, 4));
  ASSERT_FALSE(view.isContinuous());
  Normalize norm;
  std::vector<float> a(48), b(48);
  write_normalized(view, norm, a.data(), false);
  write_normalized(view.clone(), norm, b.data(), false);
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace garbage::data
