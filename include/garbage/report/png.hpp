#pragma once
// Writing figures.

#include <filesystem>

#include <opencv2/core.hpp>

namespace garbage::report {

/// Writes `img` (BGR) as PNG; throws Error naming the file when it cannot be written.
void save_png(const std::filesystem::path& path, const cv::Mat& img);

}  // namespace garbage::report
