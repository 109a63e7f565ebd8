#include "garbage/report/png.hpp"

#include <opencv2/imgcodecs.hpp>

#include "garbage/core/errors.hpp"

namespace garbage::report {

void save_png(const std::filesystem::path& path, const cv::Mat& img) {
  if (!cv::imwrite(path.string(), img)) throw Error(path.string() + ": cannot write PNG");
}

}  // namespace garbage::report
