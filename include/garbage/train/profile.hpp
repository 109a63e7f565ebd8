#pragma once
// `garbage train --profile`: where a training step's time goes. Wall-clock phases per step (data
// wait, forward, backward, optimizer, bookkeeping) and, from libtorch's profiler over a few
// steps, the operators with the most self time.

#include <cstdint>
#include <string>
#include <vector>

namespace garbage::train {

/// Seconds spent per phase, summed over `steps` training steps.
struct StepTimes {
  double data = 0, forward = 0, backward = 0, sync = 0, optimizer = 0, other = 0;
  int64_t steps = 0;
  double total() const { return data + forward + backward + sync + optimizer + other; }
};

/// A table: each phase's ms per step and share of the step.
std::string format_step_breakdown(const StepTimes& times);

struct OperatorTime {
  std::string name;
  double self_ms = 0;  ///< time inside the operator, minus the operators it called
  int64_t calls = 0;
};

/// Records every operator's self time on this thread (and threads it hands work to) while
/// started; stop() returns them, most time first.
class OperatorProfiler {
 public:
  void start();
  std::vector<OperatorTime> stop();
  bool running() const { return running_; }

 private:
  bool running_ = false;
};

/// The first `top` operators as a table, in ms per step over `steps` steps.
std::string format_operator_table(const std::vector<OperatorTime>& ops, int64_t steps,
                                  size_t top = 15);

/// One epoch's `--profile` bookkeeping: the trainer marks the end of each phase of a step; the
/// first step (warm-up) is not counted; with `profile_operators`, libtorch's profiler records a
/// window of steps after it. Disabled, every call is a no-op.
class StepProfiler {
 public:
  /// sync: waiting for the data-parallel gradient allreduce after backward (what backward did
  /// not hide); zero in a single process.
  enum class Phase { data, forward, backward, sync, optimizer, other };

  StepProfiler(bool enabled, bool profile_operators);
  /// Ends `phase` of the current step; after Phase::other the next step begins.
  void mark(Phase phase);
  /// The breakdown (and the operator table) of the steps seen so far, for the log.
  std::string report();

 private:
  static constexpr int64_t kFirstProfiledStep = 2, kProfiledSteps = 5;
  bool enabled_, profile_operators_;
  StepTimes times_;
  OperatorProfiler operators_;
  std::vector<OperatorTime> operator_times_;
  int64_t step_ = 0, profiled_steps_ = 0;
  double last_ = 0;  ///< seconds on a steady clock at the previous mark
};

}  // namespace garbage::train
