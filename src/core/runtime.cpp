#include "garbage/core/runtime.hpp"

#include <thread>

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

// OpenBLAS (libtorch's BLAS on Debian) keeps its own thread pool beside ATen's; weak so that
// builds on another BLAS link without it.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace garbage {

int configure_threads(int requested) {
  int n = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  at::set_num_threads(n);
  if (openblas_set_num_threads) openblas_set_num_threads(n);
  return at::get_num_threads();
}

unsigned long long splitmix64(unsigned long long x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

unsigned long long mix_seed(unsigned long long a, unsigned long long b) {
  return splitmix64(a + 0x9E3779B97F4A7C15ULL * b);
}

}  // namespace garbage
