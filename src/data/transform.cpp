#include "garbage/data/transform.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include <opencv2/imgproc.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/core/runtime.hpp"
#include "garbage/data/trivial_augment.hpp"

namespace garbage::data {
namespace {

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

bool chance(std::mt19937_64& rng, double p) {
  return p > 0.0 && uniform(rng, 0.0, 1.0) < p;
}

void check_input(const cv::Mat& img, const char* where) {
  if (img.empty() || img.type() != CV_8UC3) {
    throw DataError(
        std::string(where) + ": expected a non-empty 8-bit RGB image, got " +
        (img.empty() ? std::string("an empty one") : "type " + std::to_string(img.type())));
  }
}

cv::Mat resize_to(const cv::Mat& img, int side) {
  if (img.cols == side && img.rows == side) return img;
  cv::Mat out;
  const bool shrinking = img.cols * img.rows > side * side;
  cv::resize(img, out, cv::Size(side, side), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

// Center crop to the model's input; an image smaller than that (misconfigured cache) is resized
// so every sample of a batch has the same shape.
cv::Mat crop_to_output(const cv::Mat& img, int side) {
  return resize_to(center_crop(img, side), side);
}

// torchvision.transforms.RandomResizedCrop: area fraction in [min_scale, 1], log-uniform aspect
// ratio in [3/4, 4/3], 10 attempts, then a center crop clamped to the ratio range.
cv::Mat random_resized_crop(const cv::Mat& img, int side, double min_scale, std::mt19937_64& rng) {
  constexpr double kMinRatio = 3.0 / 4.0, kMaxRatio = 4.0 / 3.0;
  const int W = img.cols, H = img.rows;
  const double area = static_cast<double>(W) * H;
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * uniform(rng, std::clamp(min_scale, 0.0, 1.0), 1.0);
    const double ratio = std::exp(uniform(rng, std::log(kMinRatio), std::log(kMaxRatio)));
    const int w = static_cast<int>(std::lround(std::sqrt(target_area * ratio)));
    const int h = static_cast<int>(std::lround(std::sqrt(target_area / ratio)));
    if (w > 0 && h > 0 && w <= W && h <= H) {
      const int y = std::uniform_int_distribution<int>(0, H - h)(rng);
      const int x = std::uniform_int_distribution<int>(0, W - w)(rng);
      return resize_to(img(cv::Rect(x, y, w, h)), side);
    }
  }
  const double in_ratio = static_cast<double>(W) / H;
  int w = W, h = H;
  if (in_ratio < kMinRatio) {
    h = std::min(H, static_cast<int>(std::lround(W / kMinRatio)));
  } else if (in_ratio > kMaxRatio) {
    w = std::min(W, static_cast<int>(std::lround(H * kMaxRatio)));
  }
  return resize_to(img(cv::Rect((W - w) / 2, (H - h) / 2, w, h)), side);
}

// Rotation and shift/scale share one warp so the image is resampled once.
cv::Mat random_warp(const cv::Mat& img, const AugmentOptions& aug, std::mt19937_64& rng) {
  const bool rotate = chance(rng, aug.rotate_p);
  const bool affine = chance(rng, aug.affine_p);
  if (!rotate && !affine) return img;
  const double angle = rotate ? uniform(rng, -aug.rotate_deg, aug.rotate_deg) : 0.0;
  double zoom = 1.0, dx = 0.0, dy = 0.0;
  if (affine) {
    zoom = uniform(rng, 1.0 - aug.scale, 1.0 + aug.scale);
    dx = uniform(rng, -aug.shift, aug.shift) * img.cols;
    dy = uniform(rng, -aug.shift, aug.shift) * img.rows;
  }
  const cv::Point2f center(0.5f * (img.cols - 1), 0.5f * (img.rows - 1));
  cv::Mat m = cv::getRotationMatrix2D(center, angle, zoom);
  m.at<double>(0, 2) += dx;
  m.at<double>(1, 2) += dy;
  cv::Mat out;
  cv::warpAffine(img, out, m, img.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT_101);
  return out;
}

cv::Mat random_color(const cv::Mat& img, const AugmentOptions& aug, std::mt19937_64& rng) {
  if (!chance(rng, aug.color_p)) return img;
  const double brightness = uniform(rng, -aug.brightness, aug.brightness);
  const double contrast = uniform(rng, 1.0 - aug.contrast, 1.0 + aug.contrast);
  const cv::Scalar m = cv::mean(img);
  const double mean = (m[0] + m[1] + m[2]) / 3.0;
  // out = contrast * (x - mean) + mean + brightness * 255, saturated to 0..255 by convertTo.
  cv::Mat out;
  img.convertTo(out, CV_8U, contrast, (1.0 - contrast) * mean + brightness * 255.0);
  return out;
}

}  // namespace

cv::Mat apply_eval(const cv::Mat& cached, const TransformSpec& spec) {
  check_input(cached, "apply_eval");
  // May share pixels with `cached` (a view); callers only read it.
  return crop_to_output(cached, spec.resize.output_size());
}

cv::Mat apply_train(const cv::Mat& cached, const TransformSpec& spec, std::mt19937_64& rng) {
  const AugmentOptions& aug = spec.augment;
  if (!aug.enabled) return apply_eval(cached, spec);
  check_input(cached, "apply_train");
  const int side = spec.resize.output_size();
  cv::Mat img = aug.random_resized_crop ? random_resized_crop(cached, side, aug.rrc_min_scale, rng)
                                        : crop_to_output(cached, side);
  if (chance(rng, aug.hflip_p)) {
    cv::Mat flipped;
    cv::flip(img, flipped, 1);
    img = flipped;
  }
  img = random_warp(img, aug, rng);
  img = random_color(img, aug, rng);
  if (aug.trivial_augment) img = trivial_augment(img, rng);
  if (aug.random_erasing_p > 0) {
    // torchvision erases the normalised tensor with 0: the mean colour here.
    const auto& m = spec.normalize.mean;
    img = random_erasing(
        img, aug.random_erasing_p,
        cv::Scalar(std::round(m[0] * 255.0), std::round(m[1] * 255.0), std::round(m[2] * 255.0)),
        rng);
  }
  return img;
}

void write_normalized(const cv::Mat& rgb, const Normalize& norm, float* dst, bool channels_last) {
  check_input(rgb, "write_normalized");
  // (x / 255 - mean) / std == x * scale + offset
  float scale[3], offset[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / (255.0f * norm.std[c]);
    offset[c] = -norm.mean[c] / norm.std[c];
  }
  const int H = rgb.rows, W = rgb.cols;
  const size_t plane = static_cast<size_t>(H) * W;
  for (int y = 0; y < H; ++y) {
    const uint8_t* src = rgb.ptr<uint8_t>(y);  // row pointer: views need not be continuous
    if (channels_last) {
      float* out = dst + static_cast<size_t>(y) * W * 3;
      for (int x = 0; x < W * 3; x += 3) {
        out[x] = src[x] * scale[0] + offset[0];
        out[x + 1] = src[x + 1] * scale[1] + offset[1];
        out[x + 2] = src[x + 2] * scale[2] + offset[2];
      }
    } else {
      float* r = dst + static_cast<size_t>(y) * W;
      float* g = r + plane;
      float* b = g + plane;
      for (int x = 0; x < W; ++x) {
        r[x] = src[3 * x] * scale[0] + offset[0];
        g[x] = src[3 * x + 1] * scale[1] + offset[1];
        b[x] = src[3 * x + 2] * scale[2] + offset[2];
      }
    }
  }
}

std::mt19937_64 sample_rng(uint64_t seed, int64_t epoch, int64_t sample) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(epoch));
  h = splitmix64(h ^ static_cast<uint64_t>(sample));
  return std::mt19937_64(h);
}

}  // namespace garbage::data
