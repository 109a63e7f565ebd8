#pragma once
// Helpers shared by the data tests: a self-deleting temp folder and synthetic images.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

namespace garbage::testing {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = std::filesystem::temp_directory_path() /
            ("garbage_test_" + std::to_string(stamp) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

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
