#pragma once
// Index + decode one split with progress and logging: the common first step of train and eval.

#include <initializer_list>
#include <memory>

#include "garbage/data/cache.hpp"
#include "garbage/data/dataset.hpp"
#include "garbage/data/image.hpp"

namespace garbage::data {

struct SplitData {
  DatasetIndex index;
  std::shared_ptr<const ImageCache> cache;
};

/// Files skipped while loading splits, by reason (summary.json's "skipped_files").
struct SkippedFiles {
  size_t undecodable = 0;  ///< no decoder could read them
  size_t corrupt = 0;      ///< truncated or damaged JPEG/PNG that decode only partly
  size_t missing = 0;      ///< listed in a split file but absent
};
SkippedFiles skipped_files(std::initializer_list<const SplitData*> splits);

/// Indexes `split` under opts.root and decodes it at `resize` with `threads` threads.
SplitData load_split(const DatasetOptions& opts, Split split, const ResizeSpec& resize,
                     int threads);

}  // namespace garbage::data
