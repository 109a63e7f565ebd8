// Fused training kernels vs the libtorch ops they replace, forward + backward, on the shapes of the
// shipped models' training steps. Prints ms per call for both and their ratio, per layout.
// Usage: garbage_kernels_bench [THREADS] [ITERATIONS] [FILTER]  (FILTER: a substring of the op
// or shape names, e.g. "add+relu" or "l1")
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "garbage/core/runtime.hpp"
#include "garbage/kernels/fused.hpp"

namespace {

using garbage::kernels::Act;

using Fn = std::function<torch::Tensor(const torch::Tensor&)>;

struct Op {
  std::string name;
  Fn fused, plain;
};

struct Case {
  std::string name;
  std::vector<int64_t> shape;
};

/// Mean milliseconds of fn() over `iterations` calls after two warm-up calls.
double time_ms(const std::function<void()>& fn, int iterations) {
  fn();
  fn();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) fn();
  const std::chrono::duration<double, std::milli> spent = std::chrono::steady_clock::now() - start;
  return spent.count() / iterations;
}

torch::Tensor laid_out(torch::Tensor t, bool channels_last) {
  return channels_last ? t.contiguous(at::MemoryFormat::ChannelsLast) : t.contiguous();
}

/// One forward + backward of y = f(x), with a gradient laid out like y (as a conv would send).
void step(const Fn& f, torch::Tensor x, const torch::Tensor& grad) {
  torch::Tensor y = f(x);
  y.backward(grad);
  x.mutable_grad() = torch::Tensor();  // no accumulation pass in the next call
}

bool selected(const std::string& filter, const std::string& what, const Case& c) {
  return filter.empty() || what.find(filter) != std::string::npos ||
         c.name.find(filter) != std::string::npos;
}

void report(const std::string& what, const Case& c, bool channels_last, double fused,
            double plain) {
  std::printf("%-22s %-18s %-13s fused %8.3f ms  libtorch %8.3f ms  %5.2fx\n", what.c_str(),
              c.name.c_str(), channels_last ? "channels-last" : "contiguous", fused, plain,
              plain / fused);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 20;
  const std::string filter = argc > 3 ? argv[3] : "";
  garbage::retain_freed_memory();       // as the garbage binary runs
  garbage::configure_threads(threads);  // ATen and OpenBLAS pools, as the binary sets them
  torch::manual_seed(0);
  std::printf("fused kernels (%s) vs libtorch, %d threads, forward + backward\n",
              garbage::kernels::isa(), threads);

  const std::vector<Case> cases = {
      {"resnet18 112 stem", {16, 64, 56, 56}}, {"resnet18 112 l1", {16, 64, 28, 28}},
      {"resnet18 112 l2", {16, 128, 14, 14}},  {"resnet18 112 l3", {16, 256, 7, 7}},
      {"resnet18 112 l4", {16, 512, 4, 4}},    {"simple_cnn 128 c1", {32, 32, 128, 128}},
      {"mnv3s 224 exp", {32, 96, 56, 56}},
  };
  for (const Case& c : cases) {
    for (bool channels_last : {false, true}) {
      const int64_t channels = c.shape[1];
      torch::Tensor x = laid_out(torch::randn(c.shape), channels_last).requires_grad_(true);
      torch::Tensor grad = laid_out(torch::randn(c.shape), channels_last);
      torch::Tensor weight = torch::rand({channels}).requires_grad_(true);
      torch::Tensor bias = torch::randn({channels}).requires_grad_(true);
      torch::Tensor mean = torch::zeros({channels}), var = torch::ones({channels});
      garbage::kernels::BatchNormState bn{weight, bias, mean, var, 0.1, 1e-5};
      torch::Tensor other = laid_out(torch::randn(c.shape), channels_last).requires_grad_(true);

      const std::vector<Op> ops = {
          {"batchnorm+relu",
           [&](const torch::Tensor& t) {
             return garbage::kernels::batchnorm_activation(t, bn, Act::relu);
           },
           [&](const torch::Tensor& t) {
             return torch::relu(
                 torch::batch_norm(t, weight, bias, mean, var, true, 0.1, 1e-5, false));
           }},
          {"hardswish",
           [](const torch::Tensor& t) { return garbage::kernels::activation(Act::hardswish, t); },
           [](const torch::Tensor& t) { return torch::hardswish(t); }},
          {"add+relu", [&](const torch::Tensor& t) { return garbage::kernels::add_relu(t, other); },
           [&](const torch::Tensor& t) { return torch::relu(t + other); }},
      };
      for (const Op& op : ops) {
        if (!selected(filter, op.name, c)) continue;
        const double fused = time_ms([&] { step(op.fused, x, grad); }, iterations);
        const double plain = time_ms([&] { step(op.plain, x, grad); }, iterations);
        report(op.name, c, channels_last, fused, plain);
      }
    }
  }
  return 0;
}
