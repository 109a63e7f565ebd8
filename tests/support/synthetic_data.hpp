#pragma once
// Small, deterministic image folders for tests that train: each class has its own colour and
// shape, so a tiny model separates them within a couple of epochs.

#include <filesystem>
#include <random>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace garbage::testing {

/// A uniquely named folder under the system temp dir, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    static std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("garbage-" + tag + "-" + std::to_string(rd()) + std::to_string(rd()));
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
  std::filesystem::path operator/(const std::string& child) const { return path_ / child; }

 private:
  std::filesystem::path path_;
};

/// Writes root/class_<c>/img_<i>.png for `classes` classes, `per_class` images of `size` px.
inline void write_synthetic_dataset(const std::filesystem::path& root, int classes, int per_class,
                                    int size, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> jitter(-size / 8, size / 8);
  for (int c = 0; c < classes; ++c) {
    auto dir = root / ("class_" + std::to_string(c));
    std::filesystem::create_directories(dir);
    for (int i = 0; i < per_class; ++i) {
      cv::Mat img(size, size, CV_8UC3, cv::Scalar(240, 240, 240));
      cv::Mat noise(size, size, CV_8UC3);
      cv::randn(noise, 0, 12);
      img -= noise;
      cv::Scalar colour(c % 3 == 0 ? 220 : 30, c % 3 == 1 ? 200 : 40, c % 3 == 2 ? 210 : 50);
      cv::Point centre(size / 2 + jitter(rng), size / 2 + jitter(rng));
      if (c % 2 == 0)
        cv::circle(img, centre, size / 4, colour, cv::FILLED);
      else
        cv::rectangle(img, {centre.x - size / 4, centre.y - size / 5, size / 2, size / 3}, colour,
                      cv::FILLED);
      cv::imwrite((dir / ("img_" + std::to_string(i) + ".png")).string(), img);
    }
  }
}

}  // namespace garbage::testing
