#pragma once
// Optimizers with parameter groups, each with its own learning-rate factor (differential
// learning rates for fine-tuning: e.g. backbone at 0.1x the head's rate).

#include <memory>
#include <vector>

#include <torch/optim/optimizer.h>

#include "garbage/config/train_config.hpp"

namespace garbage::train {

struct ParamGroup {
  std::vector<torch::Tensor> params;
  double lr_factor = 1.0;
  bool weight_decay = true;  ///< false: this group runs with weight_decay 0
};

/// With train.optimizer.no_decay_norm_bias: every group split in two, the one-dimensional
/// tensors (biases, norm weights and biases) without weight decay, as timm does. Empty halves
/// are dropped.
std::vector<ParamGroup> split_no_decay(std::vector<ParamGroup> groups);

class OptimizerWithGroups {
 public:
  OptimizerWithGroups(std::unique_ptr<torch::optim::Optimizer> optimizer,
                      std::vector<double> factors, double base_lr);
  /// Sets the base rate; group i runs at base * factor[i].
  void set_lr(double base_lr);
  double lr() const { return base_lr_; }
  const std::vector<double>& factors() const { return factors_; }

  std::unique_ptr<torch::optim::Optimizer> optimizer;

 private:
  std::vector<double> factors_;
  double base_lr_;
};

/// adam | adamw | sgd per config; groups with no parameters are dropped. With
/// config.no_decay_norm_bias the groups are split first (split_no_decay).
std::unique_ptr<OptimizerWithGroups> make_optimizer(const config::OptimizerConfig& config,
                                                    std::vector<ParamGroup> groups);

/// Learning rate for a 0-based epoch under the schedule.
double scheduled_lr(const config::OptimizerConfig& opt, const config::SchedulerConfig& sched,
                    int64_t epoch, int64_t total_epochs);

}  // namespace garbage::train
