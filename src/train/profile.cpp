#include "garbage/train/profile.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_legacy.h>

namespace garbage::train {

std::string format_step_breakdown(const StepTimes& t) {
  const double steps = static_cast<double>(std::max<int64_t>(1, t.steps));
  const double total = std::max(1e-12, t.total());
  std::string out = fmt::format("step breakdown over {} steps ({:.1f} ms per step):\n", t.steps,
                                1000.0 * t.total() / steps);
  const std::pair<const char*, double> phases[] = {
      {"data wait", t.data},     {"forward + loss", t.forward}, {"backward", t.backward},
      {"gradient sync", t.sync}, {"optimizer", t.optimizer},    {"bookkeeping", t.other}};
  for (const auto& [name, seconds] : phases)
    out += fmt::format("  {:<16} {:9.1f} ms {:6.1f} %\n", name, 1000.0 * seconds / steps,
                       100.0 * seconds / total);
  return out;
}

namespace profiler = torch::autograd::profiler;

void OperatorProfiler::start() {
  profiler::enableProfilerLegacy(
      torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  running_ = true;
}

std::vector<OperatorTime> OperatorProfiler::stop() {
  if (!running_) return {};
  running_ = false;
  const auto threads = profiler::disableProfilerLegacy();
  std::map<std::string, OperatorTime> by_name;
  for (const auto& events : threads) {
    // Ranges nest per thread: self time is a range's time minus its children's.
    struct Open {
      const profiler::LegacyEvent* push;
      double children_us;
    };
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == profiler::EventKind::PushRange) {
        stack.push_back({&e, 0.0});
      } else if (e.kind() == profiler::EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double total_us = open.push->cpuElapsedUs(e);
        auto& op = by_name[open.push->name()];
        op.name = open.push->name();
        op.self_ms += (total_us - open.children_us) / 1000.0;
        ++op.calls;
        if (!stack.empty()) stack.back().children_us += total_us;
      }
    }
  }
  std::vector<OperatorTime> ops;
  for (auto& [name, op] : by_name) ops.push_back(std::move(op));
  std::sort(ops.begin(), ops.end(),
            [](const OperatorTime& a, const OperatorTime& b) { return a.self_ms > b.self_ms; });
  return ops;
}

std::string format_operator_table(const std::vector<OperatorTime>& ops, int64_t steps, size_t top) {
  double total = 0;
  for (const auto& op : ops) total += op.self_ms;
  const double n = static_cast<double>(std::max<int64_t>(1, steps));
  std::string out =
      fmt::format("top operators by self time over {} steps (libtorch profiler):\n", steps);
  for (size_t i = 0; i < std::min(top, ops.size()); ++i)
    out += fmt::format("  {:<44} {:9.2f} ms/step {:6.1f} % {:6.0f} calls/step\n", ops[i].name,
                       ops[i].self_ms / n, total > 0 ? 100.0 * ops[i].self_ms / total : 0.0,
                       static_cast<double>(ops[i].calls) / n);
  return out;
}

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

StepProfiler::StepProfiler(bool enabled, bool profile_operators)
    : enabled_(enabled), profile_operators_(enabled && profile_operators), last_(now_seconds()) {}

void StepProfiler::mark(Phase phase) {
  if (!enabled_) return;
  const double now = now_seconds();
  const double seconds = now - last_;
  last_ = now;
  if (phase == Phase::data && profile_operators_ && step_ == kFirstProfiledStep) operators_.start();
  if (step_ > 0) {
    double* slot[] = {&times_.data, &times_.forward,   &times_.backward,
                      &times_.sync, &times_.optimizer, &times_.other};
    *slot[static_cast<int>(phase)] += seconds;
  }
  if (phase == Phase::optimizer && operators_.running() &&
      step_ == kFirstProfiledStep + kProfiledSteps - 1) {
    operator_times_ = operators_.stop();
    profiled_steps_ = kProfiledSteps;
  }
  if (phase == Phase::other) {
    if (step_ > 0) ++times_.steps;
    ++step_;
  }
}

std::string StepProfiler::report() {
  if (operators_.running()) {  // an epoch shorter than the profiled window
    operator_times_ = operators_.stop();
    profiled_steps_ = std::max<int64_t>(1, step_ - kFirstProfiledStep);
  }
  std::string out = format_step_breakdown(times_);
  if (!operator_times_.empty()) out += format_operator_table(operator_times_, profiled_steps_);
  return out;
}

}  // namespace garbage::train
