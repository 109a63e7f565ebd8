#include "garbage/data/loader.hpp"

#include <memory>
#include <set>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "test_util.hpp"

namespace garbage::data {
namespace {

using garbage::testing::pattern_bgr;

constexpr int kSide = 8;

// Image i is a flat colour of value i (so a row identifies its sample), label i % 3.
std::shared_ptr<ImageCache> flat_cache(int n) {
  auto cache = std::make_shared<ImageCache>();
  cache->class_names = {"a", "b", "c"};
  for (int i = 0; i < n; ++i) {
    cache->images.emplace_back(kSide, kSide, CV_8UC3, cv::Scalar(i, i, i));
    cache->labels.push_back(i % 3);
    cache->paths.push_back("img" + std::to_string(i) + ".png");
  }
  return cache;
}

// Textured images so augmentation visibly changes them.
std::shared_ptr<ImageCache> pattern_cache(int n) {
  auto cache = flat_cache(n);
  for (int i = 0; i < n; ++i) cache->images[i] = pattern_bgr(12, 12, i);
  return cache;
}

TransformSpec identity_spec(int size = kSide) {
  TransformSpec spec;
  spec.resize.size = size;
  spec.normalize.mean = {0.f, 0.f, 0.f};
  spec.normalize.std = {1.f, 1.f, 1.f};
  return spec;
}

LoaderOptions options(int64_t batch, int workers) {
  LoaderOptions o;
  o.batch_size = batch;
  o.workers = workers;
  o.prefetch = 2;
  return o;
}

std::vector<Batch> drain(BatchLoader& loader) {
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

TEST(Samplers, ShuffleIsSeededPerEpochPermutation) {
  ShuffleSampler s(50, 7);
  const auto e0 = s.order(0);
  EXPECT_EQ(e0, ShuffleSampler(50, 7).order(0));
  EXPECT_NE(e0, s.order(1));
  EXPECT_NE(e0, ShuffleSampler(50, 8).order(0));
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[i], i);
}

TEST(Samplers, RankSharesPartitionTheData) {
  // 10 samples over 2 ranks: a disjoint partition.
  std::multiset<int64_t> all;
  for (int64_t r = 0; r < 2; ++r) {
    const auto part = ShuffleSampler(10, 3, r, 2).order(5);
    EXPECT_EQ(part.size(), 5u);
    all.insert(part.begin(), part.end());
  }
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 10u);
  EXPECT_EQ(all.size(), 10u);
  // 10 over 3 ranks: padded to 12 by wrapping, equal shares, every sample covered.
  std::multiset<int64_t> padded;
  for (int64_t r = 0; r < 3; ++r) {
    const auto part = ShuffleSampler(10, 3, r, 3).order(5);
    EXPECT_EQ(part.size(), 4u);
    padded.insert(part.begin(), part.end());
  }
  EXPECT_EQ(padded.size(), 12u);
  EXPECT_EQ(std::set<int64_t>(padded.begin(), padded.end()).size(), 10u);
  // Sequential: no padding, contiguous shares that tile 0..n-1.
  std::vector<int64_t> seq;
  for (int64_t r = 0; r < 3; ++r) {
    const auto part = SequentialSampler(10, r, 3).order(0);
    seq.insert(seq.end(), part.begin(), part.end());
  }
  EXPECT_EQ(seq, SequentialSampler(10).order(0));
  EXPECT_THROW(ShuffleSampler(10, 0, 3, 3), ConfigError);
}

// Loaders starting and stopping while others run: OpenCV's thread setting (a process-wide TBB
// arena in Debian's build) must not be changed under a running worker; it once crashed 1 run in
// ~150 of a train-interrupt-resume test.
TEST(BatchLoader, ManyLoadersStartingTogetherDoNotRace) {
  auto cache = pattern_cache(16);
  auto spec = identity_spec(12);
  for (int round = 0; round < 40; ++round) {
    std::vector<std::unique_ptr<BatchLoader>> loaders;
    for (int k = 0; k < 3; ++k) {
      loaders.push_back(std::make_unique<BatchLoader>(
          cache, spec, std::make_shared<SequentialSampler>(16), options(4, 4)));
      loaders.back()->start_epoch(0);
    }
    for (auto& loader : loaders) EXPECT_EQ(drain(*loader).size(), 4u);
  }
}

TEST(BatchLoader, SequentialBatchesInOrderWithLabels) {
  auto cache = flat_cache(10);
  BatchLoader loader(cache, identity_spec(), std::make_shared<SequentialSampler>(10),
                     options(3, 2));
  EXPECT_EQ(loader.batches_per_epoch(), 4);
  EXPECT_EQ(loader.samples_per_epoch(), 10);
  loader.start_epoch(0);
  const auto batches = drain(loader);
  ASSERT_EQ(batches.size(), 4u);
  int64_t expected = 0;
  for (const auto& b : batches) {
    ASSERT_EQ(b.images.size(1), 3);
    ASSERT_EQ(b.images.size(2), kSide);
    for (size_t i = 0; i < b.indices.size(); ++i, ++expected) {
      EXPECT_EQ(b.indices[i], expected);
      EXPECT_EQ(b.labels[i].item<int64_t>(), expected % 3);
      EXPECT_NEAR(b.images[i][2][5][1].item<float>(), expected / 255.0f, 1e-6f);
    }
  }
  EXPECT_EQ(batches.back().images.size(0), 1);
  EXPECT_FALSE(loader.next().has_value());  // stays at the end
}

TEST(BatchLoader, ShuffledEpochVisitsEachIndexOnce) {
  auto cache = flat_cache(23);
  BatchLoader loader(cache, identity_spec(), std::make_shared<ShuffleSampler>(23, 1),
                     options(4, 3));
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    loader.start_epoch(epoch);
    std::multiset<int64_t> seen;
    for (const auto& b : drain(loader)) {
      for (size_t i = 0; i < b.indices.size(); ++i) {
        const int64_t k = b.indices[i];
        seen.insert(k);
        EXPECT_EQ(b.labels[i].item<int64_t>(), cache->labels[k]);
        EXPECT_NEAR(b.images[i][0][0][0].item<float>(), k / 255.0f, 1e-6f);
      }
    }
    EXPECT_EQ(seen.size(), 23u);
    EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 23u);
  }
}

TEST(BatchLoader, DropLast) {
  BatchLoader loader(flat_cache(10), identity_spec(), std::make_shared<SequentialSampler>(10), [] {
    auto o = options(3, 1);
    o.drop_last = true;
    return o;
  }());
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  EXPECT_EQ(loader.samples_per_epoch(), 9);
  loader.start_epoch(0);
  const auto batches = drain(loader);
  ASSERT_EQ(batches.size(), 3u);
  for (const auto& b : batches) EXPECT_EQ(b.images.size(0), 3);
}

TEST(BatchLoader, AugmentedBatchesIndependentOfWorkerCount) {
  auto cache = pattern_cache(17);
  TransformSpec spec = identity_spec(12);
  spec.augment.enabled = true;
  spec.augment.color_p = 1.0;
  auto sampler = std::make_shared<ShuffleSampler>(17, 5);
  auto opts = options(4, 1);
  opts.train = true;
  opts.seed = 11;
  BatchLoader one(cache, spec, sampler, opts);
  opts.workers = 3;
  BatchLoader three(cache, spec, sampler, opts);
  one.start_epoch(2);
  three.start_epoch(2);
  const auto a = drain(one), b = drain(three);
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices);
    EXPECT_TRUE(torch::equal(a[i].images, b[i].images)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].labels, b[i].labels));
  }
  // A different augmentation seed must change the pixels.
  opts.seed = 12;
  BatchLoader other(cache, spec, sampler, opts);
  other.start_epoch(2);
  EXPECT_FALSE(torch::equal(other.next()->images, a[0].images));
}

TEST(BatchLoader, ResumeMidEpochMatchesFullEpoch) {
  auto cache = pattern_cache(20);
  TransformSpec spec = identity_spec(12);
  spec.augment.enabled = true;
  auto opts = options(3, 2);
  opts.train = true;
  BatchLoader loader(cache, spec, std::make_shared<ShuffleSampler>(20, 2), opts);
  loader.start_epoch(4);
  const auto full = drain(loader);
  ASSERT_EQ(full.size(), 7u);
  // Restart mid-way through another epoch: stale batches must be dropped.
  loader.start_epoch(1);
  ASSERT_TRUE(loader.next().has_value());
  loader.start_epoch(4, 3);
  const auto resumed = drain(loader);
  ASSERT_EQ(resumed.size(), 4u);
  for (size_t i = 0; i < resumed.size(); ++i) {
    EXPECT_EQ(resumed[i].indices, full[i + 3].indices);
    EXPECT_TRUE(torch::equal(resumed[i].images, full[i + 3].images)) << "batch " << i + 3;
  }
}

TEST(BatchLoader, WorkerErrorSurfacesFromNext) {
  auto cache = flat_cache(9);
  cache->images[4] = cv::Mat();  // an empty image in the middle of the epoch
  BatchLoader loader(cache, identity_spec(), std::make_shared<SequentialSampler>(9), options(2, 2));
  loader.start_epoch(0);
  bool threw = false;
  int delivered = 0;
  try {
    while (loader.next()) ++delivered;
  } catch (const DataError& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find("img4.png"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(threw);
  EXPECT_EQ(delivered, 2);  // batches before the failing one are still served, in order
  // A new epoch clears the error; the loader still works up to the bad batch.
  loader.start_epoch(0);
  EXPECT_TRUE(loader.next().has_value());
}

TEST(BatchLoader, ChannelsLastLayout) {
  auto cache = pattern_cache(5);
  auto sampler = std::make_shared<SequentialSampler>(5);
  auto opts = options(5, 1);
  BatchLoader nhwc(cache, identity_spec(12), sampler, opts);
  opts.channels_last = false;
  BatchLoader nchw(cache, identity_spec(12), sampler, opts);
  nhwc.start_epoch(0);
  nchw.start_epoch(0);
  const Batch a = *nhwc.next(), b = *nchw.next();
  EXPECT_EQ(a.images.sizes(), (std::vector<int64_t>{5, 3, 12, 12}));
  EXPECT_TRUE(a.images.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(a.images.is_contiguous());
  EXPECT_TRUE(b.images.is_contiguous());
  EXPECT_EQ(a.images.dtype(), torch::kFloat32);
  EXPECT_EQ(a.labels.dtype(), torch::kInt64);
  EXPECT_TRUE(torch::equal(a.images, b.images));
  // Pixel (y=1, x=2) of sample 3 is the RGB of the cached BGR-pattern image read as RGB.
  EXPECT_NEAR(a.images[3][0][1][2].item<float>(), cache->images[3].at<cv::Vec3b>(1, 2)[0] / 255.0f,
              1e-6f);
}

}  // namespace
}  // namespace garbage::data
