#pragma once
// Samplers decide the order of an epoch; the BatchLoader turns cached images into normalised
// batches on worker threads ahead of the training step. The Sampler is the seam where a
// distributed (rank/world) sampler plugs in.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "garbage/data/cache.hpp"
#include "garbage/data/transform.hpp"

namespace garbage::data {

class Sampler {
 public:
  virtual ~Sampler() = default;
  /// Indices into the dataset for one epoch (this rank's share).
  virtual std::vector<int64_t> order(int64_t epoch) const = 0;
};

/// Seeded shuffle per epoch; with world > 1, rank r takes every world-th index of the shuffle
/// (padded by wrapping so every rank gets the same count), as torch's DistributedSampler does.
class ShuffleSampler : public Sampler {
 public:
  ShuffleSampler(int64_t size, uint64_t seed, int64_t rank = 0, int64_t world = 1);
  std::vector<int64_t> order(int64_t epoch) const override;

 private:
  int64_t size_;
  uint64_t seed_;
  int64_t rank_, world_;
};

/// 0..size-1 in order (evaluation); with world > 1, a contiguous-stride share without padding.
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(int64_t size, int64_t rank = 0, int64_t world = 1);
  std::vector<int64_t> order(int64_t epoch) const override;

 private:
  int64_t size_;
  int64_t rank_, world_;
};

struct Batch {
  torch::Tensor images;  ///< float32 [B, 3, S, S]; channels-last memory format when requested
  torch::Tensor labels;  ///< int64 [B]
  std::vector<int64_t> indices;  ///< dataset indices of the rows
};

struct LoaderOptions {
  int64_t batch_size = 32;
  bool drop_last = false;
  bool train = false;  ///< apply_train (augmentation) instead of apply_eval
  int workers = 2;     ///< threads preparing batches
  int prefetch = 4;    ///< batches prepared ahead of the consumer
  uint64_t seed = 0;   ///< augmentation seed (combined with epoch and sample index)
  bool channels_last = true;
};

class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const ImageCache> cache, TransformSpec transform,
              std::shared_ptr<const Sampler> sampler, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const;

  /// Starts producing batches of `epoch`, beginning at batch `first_batch` (resume mid-epoch).
  /// Abandons any batches still pending from a previous epoch.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);

  /// The next batch of the current epoch in order, or nullopt at its end. Rethrows worker errors.
  std::optional<Batch> next();

 private:
  void worker_loop();
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& idx) const;
  void stop_workers();

  std::shared_ptr<const ImageCache> cache_;
  TransformSpec transform_;
  std::shared_ptr<const Sampler> sampler_;
  LoaderOptions options_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
  uint64_t generation_ = 0;  // bumped per start_epoch so stale work is dropped
  int64_t epoch_ = 0;
  std::vector<std::vector<int64_t>> plan_;  // batches of this epoch
  int64_t next_to_claim_ = 0;
  int64_t next_to_return_ = 0;
  std::map<int64_t, Batch> ready_;
  std::exception_ptr error_;
  int64_t error_batch_ = 0;  // batch whose failure error_ holds; earlier ones are still served
};

}  // namespace garbage::data
