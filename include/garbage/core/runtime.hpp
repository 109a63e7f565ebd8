#pragma once
// Process-wide runtime settings.

namespace garbage {

/// Sets libtorch's intra-op thread count (0: all cores) and returns the count in effect.
/// libtorch may default to a single thread, so every entry point calls this.
int configure_threads(int requested);

/// splitmix64: a cheap, well-mixing bijection on 64-bit values (seed derivation).
unsigned long long splitmix64(unsigned long long x);

/// Mixes values into a well-spread 64-bit seed (splitmix64 finaliser).
unsigned long long mix_seed(unsigned long long a, unsigned long long b);

}  // namespace garbage
