#pragma once
// Index + decode one split with progress and logging: the common first step of train and eval.

#include <memory>

#include "garbage/data/cache.hpp"
#include "garbage/data/dataset.hpp"
#include "garbage/data/image.hpp"

namespace garbage::data {

struct SplitData {
  DatasetIndex index;
  std::shared_ptr<const ImageCache> cache;
};

/// Indexes `split` under opts.root and decodes it at `resize` with `threads` threads.
SplitData load_split(const DatasetOptions& opts, Split split, const ResizeSpec& resize,
                     int threads);

}  // namespace garbage::data
