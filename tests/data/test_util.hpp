#pragma once
// Helpers shared by the data tests: synthetic images (TempDir comes from tests/support).

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "../support/synthetic_data.hpp"

namespace garbage::testing {

/// A BGR image whose pixels depend on position and `seed`, so crops and flips are detectable.
inline cv::Mat pattern_bgr(int width, int height, int seed = 0) {
  cv::Mat img(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uchar>((x * 7 + seed * 31) % 256),
                                          static_cast<uchar>((y * 5 + seed * 17) % 256),
                                          static_cast<uchar>((x * y + seed) % 256));
    }
  }
  return img;
}

inline void write_image(const std::filesystem::path& path, int width = 24, int height = 20,
                        int seed = 0) {
  std::filesystem::create_directories(path.parent_path());
  if (!cv::imwrite(path.string(), pattern_bgr(width, height, seed))) {
    throw std::runtime_error("test setup: cannot write " + path.string());
  }
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace garbage::testing
