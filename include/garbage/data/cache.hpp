#pragma once
// Decode every image of a split once into memory at the size training needs, so epochs after
// the first never touch JPEG decoding.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "garbage/data/dataset.hpp"
#include "garbage/data/image.hpp"

namespace garbage::data {

struct ImageCache {
  std::vector<cv::Mat> images;  ///< uint8 RGB HWC, continuous, resized per ResizeSpec
  std::vector<int64_t> labels;
  std::vector<std::string> paths;
  std::vector<std::string> class_names;
  size_t bad_files = 0;      ///< files skipped as unreadable (BadFilePolicy::skip)
  size_t corrupt_files = 0;  ///< of those, truncated or damaged ones that decode only partly

  size_t size() const { return images.size(); }
};

/// Called from worker threads as images finish (done, total); must be thread safe.
using ProgressFn = std::function<void(size_t done, size_t total)>;

/// Decodes all samples with `threads` threads. Undecodable files are logged (spdlog warn, naming
/// the file) and counted, or rethrown as DataError under BadFilePolicy::error. Sample order is
/// preserved (minus skipped files). Throws DataError when no image at all could be decoded.
ImageCache build_cache(const DatasetIndex& index, const ResizeSpec& resize, BadFilePolicy policy,
                       int threads, const ProgressFn& progress = {});

}  // namespace garbage::data
