#include "garbage/eval/bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "garbage/core/device.hpp"
#include "garbage/core/errors.hpp"
#include "garbage/core/progress.hpp"
#include "garbage/core/runtime.hpp"
#include "garbage/engine/runner.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::eval {

namespace {

constexpr int kMinIterations = 5;  // fewer make the p90 meaningless
constexpr int kMaxIterations = 100000;

using Clock = std::chrono::steady_clock;

/// VmHWM of /proc/self/status in bytes; 0 where that file does not exist.
int64_t peak_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long long kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
  std::fclose(f);
  return static_cast<int64_t>(kb) * 1024;
}

}  // namespace

std::pair<double, double> median_and_p90(std::vector<double> samples) {
  if (samples.empty()) throw Error("median_and_p90: no samples");
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  double median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
  size_t rank = static_cast<size_t>(std::ceil(0.9 * static_cast<double>(n)));
  return {median, samples[std::max<size_t>(rank, 1) - 1]};
}

void validate_bench_request(const BenchRequest& r) {
  r.model.validate("bench");
  if (r.half && resolve_device(r.model.device, "--device").is_cpu())
    throw ConfigError(
        "bench: --half needs --device cuda (float16 convolutions are not supported on CPU)");
  if (r.engine != "both") engine::parse_engine_choice(r.engine, "bench: --engine");
  if (r.engine == "both" && !resolve_device(r.model.device, "--device").is_cpu())
    throw ConfigError("bench: --engine both needs --device cpu (CUDA runs libtorch only)");
  if (r.batch_sizes.empty()) throw ConfigError("bench: --batch: give at least one batch size");
  for (int64_t b : r.batch_sizes)
    if (b <= 0)
      throw ConfigError("bench: --batch: sizes must be positive, got " + std::to_string(b));
  if (r.img_size < 0) throw ConfigError("bench: --img must be positive");
  if (r.iterations <= 0 && !(r.min_time > 0))
    throw ConfigError("bench: give --iters N or a positive --min-time");
}

BenchReport run_bench(const BenchRequest& request) {
  validate_bench_request(request);
  BenchReport report;
  report.threads = configure_threads(request.threads);
  auto loaded = loading::load_inference_model(request.model);
  auto& model = *loaded.model;
  report.model = loaded.model_name();
  report.source = loaded.source;
  const torch::Device device = resolve_device(request.model.device, "--device");
  const bool cuda = device.is_cuda();
  report.device = device.str();
  report.img_size = request.img_size > 0 ? request.img_size : loaded.input_size();
  report.channels_last = request.channels_last;
  report.half = request.half;

  const auto dtype = request.half ? torch::kHalf : torch::kFloat32;
  model.to(device, dtype);
  if (request.channels_last) models::convert_to_channels_last(model);
  model.eval();
  auto sync = [&] {
    if (cuda) torch::cuda::synchronize();
  };
  const auto format =
      request.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  spdlog::info("bench {} ({}) on {}, {} threads, {} px{}{}", report.model, report.source,
               report.device, report.threads, report.img_size,
               request.channels_last ? ", channels-last" : "", request.half ? ", float16" : "");

  std::vector<engine::InferenceRunner> runners;
  for (const std::string& choice : request.engine == "both"
                                       ? std::vector<std::string>{"native", "torch"}
                                       : std::vector<std::string>{request.engine})
    runners.emplace_back(model, report.model, engine::parse_engine_choice(choice), report.threads);
  report.engine = request.engine == "both" ? "both" : runners.front().engine();

  c10::InferenceMode inference;
  for (auto& runner : runners)
    for (int64_t batch : request.batch_sizes) {
      torch::manual_seed(request.seed);
      // The native engine takes NCHW; channels-last input would cost it a copy per batch.
      const bool native = runner.engine() == "native";
      auto input = torch::randn({batch, 3, report.img_size, report.img_size})
                       .to(device, dtype)
                       .contiguous(native ? torch::MemoryFormat::Contiguous : format);
      for (int i = 0; i < request.warmup; ++i) runner.forward(input);
      sync();

      std::vector<double> latencies_ms;
      const bool fixed = request.iterations > 0;
      std::unique_ptr<ProgressBar> bar;
      if (fixed)
        bar = std::make_unique<ProgressBar>(request.iterations, "batch " + std::to_string(batch),
                                            "it");
      const auto start = Clock::now();
      auto finished = [&](int done) {
        if (fixed) return done >= request.iterations;
        if (done >= kMaxIterations) return true;
        return done >= kMinIterations &&
               std::chrono::duration<double>(Clock::now() - start).count() >= request.min_time;
      };
      for (int done = 0; !finished(done); ++done) {
        const auto t0 = Clock::now();
        runner.forward(input);
        sync();
        latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (bar) bar->update(done + 1);
      }
      if (bar) bar->finish();

      BenchResult r;
      r.engine = runner.engine();
      r.batch = batch;
      std::tie(r.latency_ms_median, r.latency_ms_p90) = median_and_p90(latencies_ms);
      r.images_per_second = static_cast<double>(batch) * 1000.0 / r.latency_ms_median;
      r.iterations = static_cast<int64_t>(latencies_ms.size());
      spdlog::info("{} batch {}: median {:.2f} ms, p90 {:.2f} ms, {:.1f} img/s ({} iterations)",
                   r.engine, batch, r.latency_ms_median, r.latency_ms_p90, r.images_per_second,
                   r.iterations);
      report.results.push_back(r);
    }
  report.peak_rss_bytes = peak_rss_bytes();
  return report;
}

nlohmann::json BenchReport::to_json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : results)
    rows.push_back({{"engine", r.engine},
                    {"batch", r.batch},
                    {"latency_ms_median", r.latency_ms_median},
                    {"latency_ms_p90", r.latency_ms_p90},
                    {"images_per_second", r.images_per_second},
                    {"iterations", r.iterations}});
  return {{"model", model},     {"source", source},     {"device", device},
          {"threads", threads}, {"img_size", img_size}, {"channels_last", channels_last},
          {"half", half},       {"engine", engine},     {"peak_rss_bytes", peak_rss_bytes},
          {"results", rows}};
}

std::string BenchReport::format_table() const {
  std::string out = "model " + model + " (" + source + ") on " + device + ", " +
                    std::to_string(threads) + " threads, " + std::to_string(img_size) + " px, " +
                    (channels_last ? "channels-last" : "NCHW") + ", " +
                    (half ? "float16" : "float32") + ", engine " + engine + ", peak RSS " +
                    std::to_string(peak_rss_bytes >> 20) + " MiB\n";
  char line[160];
  std::snprintf(line, sizeof line, "%7s %8s %12s %10s %12s %11s\n", "engine", "batch", "median ms",
                "p90 ms", "img/s", "iterations");
  out += line;
  for (const auto& r : results) {
    std::snprintf(line, sizeof line, "%7s %8lld %12.2f %10.2f %12.1f %11lld\n", r.engine.c_str(),
                  static_cast<long long>(r.batch), r.latency_ms_median, r.latency_ms_p90,
                  r.images_per_second, static_cast<long long>(r.iterations));
    out += line;
  }
  return out;
}

}  // namespace garbage::eval
