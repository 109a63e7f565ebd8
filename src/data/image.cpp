#include "garbage/data/image.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "garbage/core/errors.hpp"

namespace garbage::data {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw DataError("cannot decode image " + path + ": " + reason);
}

std::vector<uchar> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "file missing or unreadable");
  std::vector<uchar> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "read error");
  if (bytes.empty()) fail(path, "file is empty");
  return bytes;
}

// Brings any depth to 8 bit. Float images are assumed to be in 0..1 (OpenEXR/TIFF convention).
cv::Mat to_depth8(const cv::Mat& img, const std::string& path) {
  cv::Mat out;
  switch (img.depth()) {
    case CV_8U:
      return img;
    case CV_16U:
      img.convertTo(out, CV_8U, 1.0 / 257.0);  // 65535 -> 255 exactly
      return out;
    case CV_32F:
    case CV_64F:
      img.convertTo(out, CV_8U, 255.0);
      return out;
    default:
      fail(path, "unsupported pixel depth " + std::to_string(img.depth()));
  }
}

cv::Mat to_rgb(const cv::Mat& img8, const std::string& path) {
  cv::Mat out;
  switch (img8.channels()) {
    case 1:
      cv::cvtColor(img8, out, cv::COLOR_GRAY2RGB);
      break;
    case 2: {  // gray + alpha: keep the gray plane
      cv::Mat gray;
      cv::extractChannel(img8, gray, 0);
      cv::cvtColor(gray, out, cv::COLOR_GRAY2RGB);
      break;
    }
    case 3:
      cv::cvtColor(img8, out, cv::COLOR_BGR2RGB);
      break;
    case 4:
      cv::cvtColor(img8, out, cv::COLOR_BGRA2RGB);
      break;
    default:
      fail(path, "unsupported channel count " + std::to_string(img8.channels()));
  }
  return out;
}

int interpolation_for(const cv::Size& from, const cv::Size& to) {
  return static_cast<int64_t>(to.area()) < static_cast<int64_t>(from.area()) ? cv::INTER_AREA
                                                                             : cv::INTER_LINEAR;
}

}  // namespace

cv::Mat decode_rgb8(const std::string& path) {
  const std::vector<uchar> bytes = read_bytes(path);
  cv::Mat decoded;
  try {
    // IMREAD_UNCHANGED keeps depth and alpha so we decide the conversion (and can tell an empty
    // file from an undecodable one); note it also skips EXIF orientation.
    decoded = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail(path, std::string("OpenCV error: ") + e.what());
  }
  if (decoded.empty()) fail(path, "not a recognised or complete image");
  return to_rgb(to_depth8(decoded, path), path);
}

cv::Mat resize_for_cache(const cv::Mat& rgb, const ResizeSpec& spec) {
  if (spec.size <= 0)
    throw ConfigError("resize size must be positive, got " + std::to_string(spec.size));
  if (rgb.empty()) throw DataError("resize_for_cache: empty image");
  cv::Size target(spec.size, spec.size);
  if (spec.mode == ResizeSpec::Mode::shorter) {
    const double scale = static_cast<double>(spec.size) / std::min(rgb.cols, rgb.rows);
    // The shorter side is set exactly so rounding never leaves it one pixel short of a crop.
    target.width =
        rgb.cols <= rgb.rows ? spec.size : std::max(spec.size, int(std::lround(rgb.cols * scale)));
    target.height =
        rgb.rows < rgb.cols ? spec.size : std::max(spec.size, int(std::lround(rgb.rows * scale)));
  }
  if (target == rgb.size()) return rgb;
  cv::Mat out;
  cv::resize(rgb, out, target, 0, 0, interpolation_for(rgb.size(), target));
  return out;
}

cv::Mat center_crop(const cv::Mat& rgb, int crop) {
  if (crop <= 0 || (rgb.cols == crop && rgb.rows == crop)) return rgb;
  // A side already shorter than the crop is kept whole rather than padded.
  const int w = std::min(crop, rgb.cols);
  const int h = std::min(crop, rgb.rows);
  return rgb(cv::Rect((rgb.cols - w) / 2, (rgb.rows - h) / 2, w, h));
}

}  // namespace garbage::data
