#pragma once
// Train-time augmentation and normalisation. Every random draw comes from the generator passed
// in, so a (seed, epoch, sample) triple always yields the same image whatever the thread.

#include <array>
#include <cstdint>
#include <random>

#include <opencv2/core.hpp>

#include "garbage/data/image.hpp"

namespace garbage::data {

struct AugmentOptions {
  bool enabled = false;
  double hflip_p = 0.5;
  double rotate_p = 0.5;
  double rotate_deg = 15.0;  ///< uniform in [-rotate_deg, rotate_deg], reflect border
  double affine_p = 0.5;
  double shift = 0.05;  ///< fraction of the side, uniform in [-shift, shift] per axis
  double scale = 0.10;  ///< zoom uniform in [1-scale, 1+scale]
  double color_p = 0.3;
  double brightness = 0.2;           ///< additive, fraction of 255, uniform in [-b, b]
  double contrast = 0.2;             ///< multiplicative around the mean, uniform in [1-c, 1+c]
  bool random_resized_crop = false;  ///< torchvision RandomResizedCrop to ResizeSpec::output_size
  double rrc_min_scale = 0.08;
  bool trivial_augment = false;   ///< torchvision TrivialAugmentWide after the above
  double random_erasing_p = 0.0;  ///< torchvision RandomErasing probability, last
};

struct Normalize {
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  ///< ImageNet
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};

struct TransformSpec {
  ResizeSpec resize;
  AugmentOptions augment;
  Normalize normalize;
};

/// Train path: random resized crop (if on) or center crop, then flip / rotate+shift+scale
/// (one warp, reflect border) / brightness+contrast, each with its probability. Returns uint8 RGB
/// of output_size x output_size. With augment.enabled == false this equals apply_eval.
cv::Mat apply_train(const cv::Mat& cached, const TransformSpec& spec, std::mt19937_64& rng);

/// Eval path: center crop to output_size (when the cached image is larger). uint8 RGB.
cv::Mat apply_eval(const cv::Mat& cached, const TransformSpec& spec);

/// Writes (x/255 - mean)/std as float. channels_last: HWC order (for NHWC tensors); else CHW.
void write_normalized(const cv::Mat& rgb, const Normalize& norm, float* dst, bool channels_last);

/// Deterministic per-sample generator: the same (seed, epoch, sample) always gives the same stream.
std::mt19937_64 sample_rng(uint64_t seed, int64_t epoch, int64_t sample);

}  // namespace garbage::data
