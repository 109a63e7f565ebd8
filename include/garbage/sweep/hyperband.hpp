#pragma once
// Hyperband early termination as an asynchronous rule (like the cloud sweep services and ASHA):
// at each bracket epoch a trial is compared with every trial that reached that epoch so far and
// stopped unless it is in the top 1/eta. Torch-free and storage-free so it is easy to test.

#include <cstdint>
#include <vector>

#include "garbage/sweep/space.hpp"

namespace garbage::sweep {

/// One trial's metric after each epoch (values[0] is epoch 1).
struct LearningCurve {
  int64_t trial = 0;
  std::vector<double> values;
};

class HyperbandRule {
 public:
  HyperbandRule(const HyperbandConfig& config, Goal goal, int64_t epochs);

  const std::vector<int64_t>& brackets() const { return brackets_; }
  bool is_bracket(int64_t epoch) const;

  /// Whether `trial` should stop after `epoch` (1-based). A trial's value at a bracket is its
  /// best value up to that epoch, so one noisy epoch does not end a good trial. `curves` holds
  /// every trial of the sweep (the judged one included); those shorter than `epoch` are ignored.
  /// The judged trial survives when its value is at least as good as the ceil(n/eta)-th best of
  /// the n values at the bracket.
  bool should_stop(int64_t trial, int64_t epoch, const std::vector<LearningCurve>& curves) const;

 private:
  double value_at(const LearningCurve& curve, int64_t epoch) const;

  HyperbandConfig config_;
  Goal goal_;
  std::vector<int64_t> brackets_;
};

}  // namespace garbage::sweep
