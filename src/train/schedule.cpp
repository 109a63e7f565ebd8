#include "garbage/train/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "garbage/train/optimizer.hpp"

namespace garbage::train {
namespace {

/// OneCycleLR's _annealing_cos: from `start` at pct 0 to `end` at pct 1.
double annealing_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(M_PI * pct) + 1.0);
}

/// The epoch schedules with the epoch counted in steps: warm-up and the decay run per step.
double per_step_lr(const config::OptimizerConfig& opt, const config::SchedulerConfig& sched,
                   int64_t t, int64_t steps_per_epoch, int64_t total_steps) {
  const int64_t warmup = sched.warmup_epochs * steps_per_epoch + sched.warmup_steps;
  if (t < warmup) return opt.lr * static_cast<double>(t + 1) / static_cast<double>(warmup + 1);
  const int64_t u = t - warmup;
  if (sched.name == "step")
    return opt.lr *
           std::pow(sched.gamma, static_cast<double>(u / (sched.step_size * steps_per_epoch)));
  if (sched.name == "cosine") {
    const int64_t span = std::max<int64_t>(1, total_steps - warmup);
    return sched.min_lr +
           (opt.lr - sched.min_lr) * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(u) / span));
  }
  return opt.lr;
}

}  // namespace

double one_cycle_lr(double max_lr, int64_t step, int64_t total_steps, double pct_start,
                    double div_factor, double final_div_factor) {
  const double initial = max_lr / div_factor;
  const double floor = initial / final_div_factor;
  const double warm_end = pct_start * static_cast<double>(total_steps) - 1.0;
  const double last = static_cast<double>(total_steps) - 1.0;
  const double s = static_cast<double>(std::min(step, total_steps - 1));
  if (warm_end > 0 && s <= warm_end) return annealing_cos(initial, max_lr, s / warm_end);
  return annealing_cos(max_lr, floor, (s - warm_end) / (last - warm_end));
}

double scheduled_lr_at(const config::OptimizerConfig& opt, const config::SchedulerConfig& sched,
                       int64_t epoch, int64_t step, int64_t steps_per_epoch, int64_t total_epochs) {
  steps_per_epoch = std::max<int64_t>(1, steps_per_epoch);
  const int64_t t = epoch * steps_per_epoch + step;
  const int64_t total = total_epochs * steps_per_epoch;
  if (sched.name == "onecycle")
    return one_cycle_lr(opt.lr, t, total, sched.pct_start, sched.div_factor,
                        sched.final_div_factor);
  if (!sched.per_step && sched.warmup_steps == 0)
    return scheduled_lr(opt, sched, epoch, total_epochs);
  return per_step_lr(opt, sched, t, steps_per_epoch, total);
}

}  // namespace garbage::train
