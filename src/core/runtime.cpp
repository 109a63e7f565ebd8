#include "garbage/core/runtime.hpp"

#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

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

bool malloc_configured_by_environment() {
  for (const char* name : {"GLIBC_TUNABLES", "LD_PRELOAD", "MALLOC_ARENA_MAX", "MALLOC_MMAP_MAX_",
                           "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"})
    if (std::getenv(name)) return true;
  return false;
}

bool retain_freed_memory() {
#if defined(__GLIBC__)
  const char* choice = std::getenv("GARBAGE_MALLOC");
  if (choice && std::strcmp(choice, "system") == 0) return false;
  if (malloc_configured_by_environment()) return false;
  // Blocks above the mmap threshold (at most 32 MiB in glibc) would still be mapped and unmapped
  // each time, so mmap is off altogether; the heap's top is trimmed only past 1 GiB of free.
  const bool no_mmap = mallopt(M_MMAP_MAX, 0) == 1;
  const bool no_trim = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  // One arena: a thread other than the main one (a sweep trial, a micro-batch replica) gets an
  // arena of its own otherwise, made of 64 MiB heaps that glibc unmaps as soon as one falls
  // empty, whatever the trim threshold; every step then faulted its activations in again, and a
  // sweep trial trained at 0.4x the speed of `garbage train`.
  const bool one_arena = mallopt(M_ARENA_MAX, 1) == 1;
  return no_mmap && no_trim && one_arena;
#else
  return false;
#endif
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
