#include "garbage/data/loader.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <utility>

#include <torch/torch.h>
#include <opencv2/core.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/core/runtime.hpp"
#include "garbage/data/image.hpp"

namespace garbage::data {
namespace {

void check_share(int64_t size, int64_t rank, int64_t world) {
  if (size < 0) throw ConfigError("sampler size must be >= 0, got " + std::to_string(size));
  if (world < 1 || rank < 0 || rank >= world) {
    throw ConfigError("invalid rank/world " + std::to_string(rank) + "/" + std::to_string(world));
  }
}

int64_t batch_count(int64_t samples, int64_t batch_size, bool drop_last) {
  return drop_last ? samples / batch_size : (samples + batch_size - 1) / batch_size;
}

}  // namespace

ShuffleSampler::ShuffleSampler(int64_t size, uint64_t seed, int64_t rank, int64_t world)
    : size_(size), seed_(seed), rank_(rank), world_(world) {
  check_share(size, rank, world);
}

std::vector<int64_t> ShuffleSampler::order(int64_t epoch) const {
  std::vector<int64_t> all(static_cast<size_t>(size_));
  std::iota(all.begin(), all.end(), int64_t{0});
  std::mt19937_64 rng(splitmix64(splitmix64(seed_) ^ static_cast<uint64_t>(epoch)));
  std::shuffle(all.begin(), all.end(), rng);
  if (world_ == 1 || size_ == 0) return all;
  // Pad by wrapping so every rank gets ceil(n / world) samples (DistributedSampler semantics).
  const int64_t per_rank = (size_ + world_ - 1) / world_;
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(per_rank));
  for (int64_t i = rank_; i < per_rank * world_; i += world_) {
    mine.push_back(all[static_cast<size_t>(i % size_)]);
  }
  return mine;
}

SequentialSampler::SequentialSampler(int64_t size, int64_t rank, int64_t world)
    : size_(size), rank_(rank), world_(world) {
  check_share(size, rank, world);
}

std::vector<int64_t> SequentialSampler::order(int64_t /*epoch*/) const {
  // Balanced contiguous blocks: evaluation must see every sample exactly once, so no padding.
  const int64_t begin = size_ * rank_ / world_;
  const int64_t end = size_ * (rank_ + 1) / world_;
  std::vector<int64_t> out(static_cast<size_t>(end - begin));
  std::iota(out.begin(), out.end(), begin);
  return out;
}

BatchLoader::BatchLoader(std::shared_ptr<const ImageCache> cache, TransformSpec transform,
                         std::shared_ptr<const Sampler> sampler, LoaderOptions options)
    : cache_(std::move(cache)),
      transform_(std::move(transform)),
      sampler_(std::move(sampler)),
      options_(options) {
  if (!cache_) throw ConfigError("BatchLoader needs an image cache");
  if (!sampler_) throw ConfigError("BatchLoader needs a sampler");
  if (options_.batch_size < 1) {
    throw ConfigError("batch_size must be >= 1, got " + std::to_string(options_.batch_size));
  }
  if (options_.workers < 1) {
    throw ConfigError("loader workers must be >= 1, got " + std::to_string(options_.workers));
  }
  options_.prefetch = std::max(1, options_.prefetch);
  // Workers are the parallelism: OpenCV's own pool would fight the training step for the cores.
  use_single_threaded_opencv();
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

BatchLoader::~BatchLoader() {
  stop_workers();
}

int64_t BatchLoader::batches_per_epoch() const {
  const auto n = static_cast<int64_t>(sampler_->order(0).size());
  return batch_count(n, options_.batch_size, options_.drop_last);
}

int64_t BatchLoader::samples_per_epoch() const {
  const auto n = static_cast<int64_t>(sampler_->order(0).size());
  return options_.drop_last ? batch_count(n, options_.batch_size, true) * options_.batch_size : n;
}

void BatchLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  if (first_batch < 0) {
    throw ConfigError("first_batch must be >= 0, got " + std::to_string(first_batch));
  }
  const std::vector<int64_t> order = sampler_->order(epoch);
  std::vector<std::vector<int64_t>> plan;
  const auto B = static_cast<size_t>(options_.batch_size);
  for (size_t i = 0; i < order.size(); i += B) {
    if (options_.drop_last && i + B > order.size()) break;
    plan.emplace_back(order.begin() + i, order.begin() + std::min(order.size(), i + B));
  }
  const auto start = std::min<int64_t>(first_batch, static_cast<int64_t>(plan.size()));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    epoch_ = epoch;
    plan_ = std::move(plan);
    ready_.clear();
    error_ = nullptr;
    next_to_claim_ = start;
    next_to_return_ = start;
  }
  cv_.notify_all();
}

std::optional<Batch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] {
    return stopping_ || (error_ && error_batch_ <= next_to_return_) ||
           ready_.count(next_to_return_) > 0 ||
           next_to_return_ >= static_cast<int64_t>(plan_.size());
  });
  if (error_ && error_batch_ <= next_to_return_) std::rethrow_exception(error_);
  auto it = ready_.find(next_to_return_);
  if (it == ready_.end()) return std::nullopt;  // end of epoch (or shutting down)
  Batch batch = std::move(it->second);
  ready_.erase(it);
  ++next_to_return_;
  lock.unlock();
  cv_.notify_all();  // a prefetch slot is free again
  return batch;
}

void BatchLoader::worker_loop() {
  // Batches are plain data; keep autograd bookkeeping out of the workers.
  torch::NoGradGuard no_grad;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] {
      return stopping_ || (!error_ && next_to_claim_ < static_cast<int64_t>(plan_.size()) &&
                           next_to_claim_ < next_to_return_ + options_.prefetch);
    });
    if (stopping_) return;
    const int64_t number = next_to_claim_++;
    const uint64_t generation = generation_;
    const int64_t epoch = epoch_;
    const std::vector<int64_t> indices = plan_[static_cast<size_t>(number)];
    lock.unlock();

    std::optional<Batch> batch;
    std::exception_ptr error;
    try {
      batch = make_batch(epoch, indices);
    } catch (...) {
      error = std::current_exception();
    }

    lock.lock();
    if (generation != generation_) continue;  // start_epoch abandoned this batch
    if (error) {
      // Keep the earliest failure: batches before it were all claimed and are still delivered.
      if (!error_ || number < error_batch_) {
        error_ = error;
        error_batch_ = number;
      }
    } else {
      ready_.emplace(number, std::move(*batch));
    }
    cv_.notify_all();
  }
}

Batch BatchLoader::make_batch(int64_t epoch, const std::vector<int64_t>& idx) const {
  const auto B = static_cast<int64_t>(idx.size());
  const int S = transform_.resize.output_size();
  const size_t per_image = static_cast<size_t>(S) * S * 3;
  const bool nhwc = options_.channels_last;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  // NHWC storage viewed as NCHW is exactly the channels-last memory format, at no copy.
  torch::Tensor storage = nhwc ? torch::empty({B, S, S, 3}, f32) : torch::empty({B, 3, S, S}, f32);
  torch::Tensor labels = torch::empty({B}, torch::TensorOptions().dtype(torch::kInt64));
  float* dst = storage.data_ptr<float>();
  int64_t* label_dst = labels.data_ptr<int64_t>();

  for (int64_t i = 0; i < B; ++i) {
    const int64_t k = idx[static_cast<size_t>(i)];
    if (k < 0 || k >= static_cast<int64_t>(cache_->size())) {
      throw DataError("sample index " + std::to_string(k) + " outside the image cache of " +
                      std::to_string(cache_->size()));
    }
    const cv::Mat& cached = cache_->images[static_cast<size_t>(k)];
    const std::string& path = k < static_cast<int64_t>(cache_->paths.size())
                                  ? cache_->paths[static_cast<size_t>(k)]
                                  : std::string("<no path>");
    if (cached.empty()) throw DataError("cached image " + std::to_string(k) + " is empty: " + path);
    cv::Mat img;
    if (options_.train) {
      // Seeded per sample, not per thread, so the worker count never changes the result.
      std::mt19937_64 rng = sample_rng(options_.seed, epoch, k);
      img = apply_train(cached, transform_, rng);
    } else {
      img = apply_eval(cached, transform_);
    }
    if (img.rows != S || img.cols != S) {
      throw DataError("transformed image has size " + std::to_string(img.cols) + "x" +
                      std::to_string(img.rows) + ", expected " + std::to_string(S) + ": " + path);
    }
    write_normalized(img, transform_.normalize, dst + static_cast<size_t>(i) * per_image, nhwc);
    label_dst[i] = cache_->labels.at(static_cast<size_t>(k));
  }
  return {nhwc ? storage.permute({0, 3, 1, 2}) : storage, labels, idx};
}

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace garbage::data
