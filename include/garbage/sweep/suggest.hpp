#pragma once
// The next trial's parameters for grid, random and Bayesian (GP + expected improvement) search.
// A pure function of the sweep, what is known about earlier trials and a seed, so the same seed
// and history give the same suggestion, whichever worker asks. Torch-free.

#include <cstdint>
#include <optional>
#include <vector>

#include "garbage/sweep/space.hpp"

namespace garbage::sweep {

struct Observation {
  enum class Kind {
    done,     ///< finished or stopped: `value` is its metric
    pending,  ///< running or queued: its point is taken (constant liar)
    failed    ///< diverged: imputed as the worst value seen, so the search avoids the region
  };
  json params;
  Kind kind = Kind::done;
  double value = 0;  ///< metric value (done only)
};

struct SuggestOptions {
  int initial_random = 5;  ///< Bayesian search samples this many trials at random first
  int candidates = 1000;   ///< random candidates scored by expected improvement
  int refine_starts = 5;   ///< best candidates refined by local search
  int refine_steps = 40;
};

/// The next assignment ({name: value}), or nullopt when a grid is exhausted.
std::optional<json> suggest(const SweepConfig& sweep, const std::vector<Observation>& history,
                            uint64_t seed, const SuggestOptions& options = {});

}  // namespace garbage::sweep
