#include "garbage/data/pipeline.hpp"

#include <spdlog/spdlog.h>

#include "garbage/core/progress.hpp"

namespace garbage::data {

SplitData load_split(const DatasetOptions& opts, Split split, const ResizeSpec& resize,
                     int threads) {
  SplitData out;
  out.index = index_split(opts, split);
  ProgressBar bar(static_cast<int64_t>(out.index.samples.size()), "decode " + to_string(split),
                  "img");
  auto cache = build_cache(out.index, resize, opts.on_bad_file, threads,
                           [&](size_t done, size_t) { bar.update(static_cast<int64_t>(done)); });
  bar.finish();
  spdlog::info("{} split: {} images in {} classes from {}{}", to_string(split), cache.size(),
               cache.class_names.size(), opts.root,
               cache.bad_files + out.index.missing_files
                   ? fmt::format(" ({} unreadable of which {} corrupt, {} missing: skipped)",
                                 cache.bad_files, cache.corrupt_files, out.index.missing_files)
                   : "");
  out.cache = std::make_shared<const ImageCache>(std::move(cache));
  return out;
}

SkippedFiles skipped_files(std::initializer_list<const SplitData*> splits) {
  SkippedFiles out;
  for (const SplitData* split : splits) {
    if (!split || !split->cache) continue;
    out.undecodable += split->cache->bad_files - split->cache->corrupt_files;
    out.corrupt += split->cache->corrupt_files;
    out.missing += split->index.missing_files;
  }
  return out;
}

}  // namespace garbage::data
