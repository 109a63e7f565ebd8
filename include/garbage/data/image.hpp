#pragma once
// Decoding and geometric preprocessing of single images (OpenCV, 8-bit RGB, HWC).

#include <string>

#include <opencv2/core.hpp>

namespace garbage::data {

/// How images are brought to a fixed size before caching.
struct ResizeSpec {
  enum class Mode { square, shorter };
  int size = 128;  ///< square: output is size x size; shorter: shorter side becomes size
  Mode mode = Mode::square;
  int crop = 0;  ///< eval center crop (0: none); also the RandomResizedCrop output size
  /// Side of the square image the model sees.
  int output_size() const { return crop > 0 ? crop : size; }
};

/// Decodes any file OpenCV can read into 8-bit, 3-channel RGB: grayscale is expanded, alpha is
/// dropped, 16-bit and float images are scaled to 8 bit. Throws DataError naming the path when
/// the file is missing, empty, truncated beyond decoding, or not an image.
cv::Mat decode_rgb8(const std::string& path);

/// Resizes per spec (area interpolation when shrinking, linear when enlarging). No crop.
cv::Mat resize_for_cache(const cv::Mat& rgb, const ResizeSpec& spec);

/// Center crop to crop x crop (no-op when crop is 0 or the image is already that size).
cv::Mat center_crop(const cv::Mat& rgb, int crop);

}  // namespace garbage::data
