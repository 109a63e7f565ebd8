#pragma once
// Learning rates per optimizer step. `train.scheduler.per_step` turns the epoch schedules (step,
// cosine, linear warm-up) into step schedules on the fractional epoch; `onecycle` is PyTorch's
// OneCycleLR (cosine annealing, two phases, momentum not cycled) and always runs per step.
// A rate is a pure function of (epoch, step), so a resumed run needs no scheduler state.

#include <cstdint>

#include "garbage/config/train_config.hpp"

namespace garbage::train {

/// The base rate for step `step` (0-based) of 0-based `epoch`, `steps_per_epoch` steps an epoch.
double scheduled_lr_at(const config::OptimizerConfig& opt, const config::SchedulerConfig& sched,
                       int64_t epoch, int64_t step, int64_t steps_per_epoch, int64_t total_epochs);

/// torch.optim.lr_scheduler.OneCycleLR's rate at 0-based `step` of `total_steps`
/// (anneal_strategy "cos", three_phase false).
double one_cycle_lr(double max_lr, int64_t step, int64_t total_steps, double pct_start,
                    double div_factor, double final_div_factor);

}  // namespace garbage::train
