#pragma once
// Inference latency and throughput of a model on random input, per batch size.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garbage/loading/inference_model.hpp"

namespace garbage::eval {

struct BenchRequest {
  loading::ModelSource model;  ///< its `device` is where the bench runs
  std::vector<int64_t> batch_sizes = {1, 8, 64};
  int img_size = 0;             ///< 0: the model's input size
  int threads = 0;              ///< 0: all cores
  std::string engine = "auto";  ///< auto | native | torch | both (a row per engine and batch)
  bool channels_last = true;
  bool half = false;  ///< float16 model and input (cuda only)
  int warmup = 3;
  int iterations = 0;     ///< > 0: exactly this many timed iterations per batch size
  double min_time = 1.0;  ///< otherwise: time each batch size this long (seconds), >= 5 iterations
  uint64_t seed = 0;      ///< of the random input
};

struct BenchResult {
  std::string engine;  ///< native | torch: what ran
  int64_t batch = 0;
  double latency_ms_median = 0, latency_ms_p90 = 0;  ///< per batch
  double images_per_second = 0;                      ///< batch / median latency
  int64_t iterations = 0;
};

struct BenchReport {
  std::string model, source, device;
  std::string engine;          ///< native | torch, or "both"
  int64_t peak_rss_bytes = 0;  ///< the process's peak resident memory after the runs
  int threads = 0;
  int img_size = 0;
  bool channels_last = false, half = false;
  std::vector<BenchResult> results;

  nlohmann::json to_json() const;
  std::string format_table() const;
};

/// Throws ConfigError for requests that cannot run here: cuda without CUDA, --half on cpu, empty
/// or non-positive batch sizes. run_bench calls it before loading the model.
void validate_bench_request(const BenchRequest& request);

/// Loads the model, then per batch size: warm-up, timed forward passes in inference mode.
BenchReport run_bench(const BenchRequest& request);

/// Median and nearest-rank 90th percentile of `samples` (unsorted; not empty).
std::pair<double, double> median_and_p90(std::vector<double> samples);

}  // namespace garbage::eval
