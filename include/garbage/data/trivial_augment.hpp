#pragma once
// torchvision's TrivialAugmentWide (one op of 14, a magnitude bin of 31, both uniform; signed ops
// negated with probability 1/2) and RandomErasing, on uint8 RGB images. Photometric ops follow
// torchvision's tensor kernels (uint8 results truncated as theirs are); geometric ops use
// nearest-neighbour sampling and a black fill, as TrivialAugmentWide's defaults.

#include <cstdint>
#include <random>
#include <string>

#include <opencv2/core.hpp>

namespace garbage::data {

enum class TaOp {
  identity,
  shear_x,
  shear_y,
  translate_x,
  translate_y,
  rotate,
  brightness,
  color,
  contrast,
  sharpness,
  posterize,
  solarize,
  autocontrast,
  equalize,
};
constexpr int kTaOps = 14;
constexpr int kTaBins = 31;

std::string to_string(TaOp op);

/// TrivialAugmentWide's magnitude of `op` at `bin` (0..30), before the sign.
double ta_magnitude(TaOp op, int bin);

/// Whether the op's magnitude is negated with probability 1/2.
bool ta_signed(TaOp op);

/// One op at a signed magnitude on a uint8 RGB image.
cv::Mat apply_ta_op(const cv::Mat& rgb, TaOp op, double magnitude);

/// Draws an op, a bin and a sign, and applies them.
cv::Mat trivial_augment(const cv::Mat& rgb, std::mt19937_64& rng);

/// With probability p, torchvision RandomErasing (scale 0.02..0.33 of the area, aspect ratio
/// 0.3..3.3, 10 attempts): the box takes `fill`, the normalisation mean, which is what
/// torchvision's value 0 on the normalised tensor is.
cv::Mat random_erasing(const cv::Mat& rgb, double p, const cv::Scalar& fill, std::mt19937_64& rng);

}  // namespace garbage::data
