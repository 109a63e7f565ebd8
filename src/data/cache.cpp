#include "garbage/data/cache.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <opencv2/core.hpp>

#include "garbage/core/errors.hpp"

namespace garbage::data {
namespace {

struct DecodeResult {
  cv::Mat image;
  std::string error;     // non-empty when the file could not be used
  bool corrupt = false;  // decodable but truncated or damaged
};

DecodeResult decode_one(const std::string& path, const ResizeSpec& resize) {
  try {
    cv::Mat img = resize_for_cache(decode_rgb8(path), resize);
    // Loader code indexes rows by pointer arithmetic: make sure the buffer is one block.
    if (!img.isContinuous()) img = img.clone();
    return {std::move(img), {}};
  } catch (const CorruptImageError& e) {
    return {{}, e.what(), true};
  } catch (const std::exception& e) {
    return {{}, e.what()};
  }
}

int worker_count(int requested, size_t jobs) {
  int n = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  n = std::max(1, n);
  return static_cast<int>(std::min<size_t>(static_cast<size_t>(n), std::max<size_t>(1, jobs)));
}

}  // namespace

ImageCache build_cache(const DatasetIndex& index, const ResizeSpec& resize, BadFilePolicy policy,
                       int threads, const ProgressFn& progress) {
  const size_t total = index.samples.size();
  if (total == 0) throw DataError("cannot build an image cache: the data set index is empty");

  use_single_threaded_opencv();  // our decode threads use every core
  std::vector<DecodeResult> results(total);
  std::atomic<size_t> next{0}, done{0};
  std::atomic<bool> abort{false};
  std::mutex error_mutex;
  std::exception_ptr callback_error;

  auto work = [&] {
    for (size_t i = next++; i < total && !abort; i = next++) {
      results[i] = decode_one(index.samples[i].path, resize);
      // Under the error policy the first bad file fails the whole build: stop early.
      if (!results[i].error.empty() && policy == BadFilePolicy::error) abort = true;
      if (!progress) continue;
      try {
        progress(++done, total);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!callback_error) callback_error = std::current_exception();
        abort = true;
      }
    }
  };
  std::vector<std::thread> pool;
  const int n_threads = worker_count(threads, total);
  for (int t = 0; t < n_threads; ++t) pool.emplace_back(work);
  for (auto& th : pool) th.join();
  if (callback_error) std::rethrow_exception(callback_error);

  ImageCache cache;
  cache.class_names = index.class_names;
  std::string first_error;
  for (size_t i = 0; i < total; ++i) {
    auto& r = results[i];
    if (!r.error.empty()) {
      if (policy == BadFilePolicy::error) throw DataError(r.error);
      // The message names the file.
      spdlog::warn("skipping {} image ({})", r.corrupt ? "corrupt" : "unreadable", r.error);
      if (first_error.empty()) first_error = r.error;
      ++cache.bad_files;
      if (r.corrupt) ++cache.corrupt_files;
      continue;
    }
    cache.images.push_back(std::move(r.image));
    cache.labels.push_back(index.samples[i].label);
    cache.paths.push_back(index.samples[i].path);
  }
  if (cache.images.empty()) {
    throw DataError("none of the " + std::to_string(total) +
                    " images could be decoded; first error: " + first_error);
  }
  spdlog::debug("cached {} images ({} skipped as unreadable)", cache.size(), cache.bad_files);
  return cache;
}

}  // namespace garbage::data
