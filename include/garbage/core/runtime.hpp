#pragma once
// Process-wide runtime settings.

namespace garbage {

/// Sets libtorch's intra-op thread count (0: all cores) and returns the count in effect.
/// libtorch may default to a single thread, so every entry point calls this.
int configure_threads(int requested);

/// Makes glibc's malloc keep the memory a process frees for its next allocations instead of
/// returning it to the kernel (no mmap per large block, no trimming, one arena for every
/// thread). A training step frees and reallocates the same activation-sized blocks every step;
/// handed back, each one costs a page fault per 4 KiB when touched again, which measured 2x the
/// whole ResNet18 step on a VM. Left alone when the user set GLIBC_TUNABLES, MALLOC_ARENA_MAX, a
/// MALLOC_*_ variable or LD_PRELOAD (another allocator), or GARBAGE_MALLOC=system. Returns
/// whether it changed anything.
bool retain_freed_memory();

/// Whether the environment already configures malloc (GLIBC_TUNABLES, MALLOC_ARENA_MAX,
/// MALLOC_*_, LD_PRELOAD).
bool malloc_configured_by_environment();

/// splitmix64: a cheap, well-mixing bijection on 64-bit values (seed derivation).
unsigned long long splitmix64(unsigned long long x);

/// Mixes values into a well-spread 64-bit seed (splitmix64 finaliser).
unsigned long long mix_seed(unsigned long long a, unsigned long long b);

}  // namespace garbage
