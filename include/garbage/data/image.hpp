#pragma once
// Decoding and geometric preprocessing of single images (OpenCV, 8-bit RGB, HWC).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "garbage/core/errors.hpp"

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

/// An image that decodes, but only partly: a truncated or damaged JPEG/PNG. OpenCV's decoders
/// fill what is missing with gray and only warn on stderr, so training would see made-up pixels.
class CorruptImageError : public DataError {
 public:
  using DataError::DataError;
};

/// Largest image decoded (width x height); a header asking for more is refused before decoding.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

/// What the container structure of a JPEG or PNG says, without decoding pixels.
struct ImageStructure {
  int64_t width = 0, height = 0;  ///< from the JPEG frame / PNG IHDR header; 0: not found
  /// Empty when complete; otherwise what is wrong ("truncated: no JPEG end-of-image marker",
  /// "CRC mismatch in PNG chunk IDAT", ...). Always empty for other formats.
  std::string problem;
};

/// Checks the structure of a JPEG (segments, entropy-coded data, restart markers, end-of-image
/// marker) or a PNG (chunk lengths, CRCs, IEND); other formats are not inspected.
ImageStructure inspect_image_structure(const uint8_t* data, size_t size);

/// Decodes any file OpenCV can read into 8-bit, 3-channel RGB: grayscale is expanded, alpha is
/// dropped, 16-bit and float images are scaled to 8 bit. Throws DataError naming the path when
/// the file is missing, empty, not an image or too large, and CorruptImageError when a JPEG or
/// PNG decodes but is truncated or damaged.
cv::Mat decode_rgb8(const std::string& path);

/// The same for a file's bytes; `name` (the path) is named in errors.
cv::Mat decode_rgb8_bytes(const std::vector<uchar>& bytes, const std::string& name);

/// Makes OpenCV single-threaded for the whole process, once: our decode threads and loader
/// workers are the parallelism, and cv::setNumThreads replaces a process-wide TBB arena (Debian's
/// OpenCV), which crashes a thread running OpenCV in it, so it must not be changed back and forth.
void use_single_threaded_opencv();

/// Resizes per spec (area interpolation when shrinking, linear when enlarging). No crop.
cv::Mat resize_for_cache(const cv::Mat& rgb, const ResizeSpec& spec);

/// Center crop to crop x crop (no-op when crop is 0 or the image is already that size).
cv::Mat center_crop(const cv::Mat& rgb, int crop);

}  // namespace garbage::data
