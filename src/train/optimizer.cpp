#include "garbage/train/optimizer.hpp"

#include <torch/torch.h>

#include "garbage/core/errors.hpp"

namespace garbage::train {

OptimizerWithGroups::OptimizerWithGroups(std::unique_ptr<torch::optim::Optimizer> opt,
                                         std::vector<double> factors, double base_lr)
    : optimizer(std::move(opt)), factors_(std::move(factors)), base_lr_(base_lr) {
  set_lr(base_lr);
}

void OptimizerWithGroups::set_lr(double base_lr) {
  base_lr_ = base_lr;
  auto& groups = optimizer->param_groups();
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options().set_lr(base_lr * factors_[i]);
}

namespace {
template <typename Options>
std::unique_ptr<torch::optim::Optimizer> build(const std::vector<ParamGroup>& groups,
                                               const Options& defaults) {
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  for (const auto& g : groups) {
    auto options = std::make_unique<Options>(defaults);
    if (!g.weight_decay) options->weight_decay(0.0);
    torch_groups.emplace_back(g.params, std::move(options));
  }
  using Opt =
      std::conditional_t<std::is_same_v<Options, torch::optim::AdamOptions>, torch::optim::Adam,
                         std::conditional_t<std::is_same_v<Options, torch::optim::AdamWOptions>,
                                            torch::optim::AdamW, torch::optim::SGD>>;
  return std::make_unique<Opt>(std::move(torch_groups), defaults);
}
}  // namespace

std::vector<ParamGroup> split_no_decay(std::vector<ParamGroup> groups) {
  std::vector<ParamGroup> out;
  for (auto& g : groups) {
    ParamGroup decay{{}, g.lr_factor, g.weight_decay}, no_decay{{}, g.lr_factor, false};
    for (auto& p : g.params) (p.dim() <= 1 ? no_decay : decay).params.push_back(std::move(p));
    for (auto* half : {&decay, &no_decay})
      if (!half->params.empty()) out.push_back(std::move(*half));
  }
  return out;
}

std::unique_ptr<OptimizerWithGroups> make_optimizer(const config::OptimizerConfig& c,
                                                    std::vector<ParamGroup> groups) {
  if (c.no_decay_norm_bias) groups = split_no_decay(std::move(groups));
  groups.erase(std::remove_if(groups.begin(), groups.end(),
                              [](const ParamGroup& g) { return g.params.empty(); }),
               groups.end());
  if (groups.empty()) throw ConfigError("the model has no trainable parameters");
  std::vector<double> factors;
  for (const auto& g : groups) factors.push_back(g.lr_factor);

  std::unique_ptr<torch::optim::Optimizer> opt;
  if (c.name == "adam") {
    opt = build(
        groups,
        torch::optim::AdamOptions(c.lr).betas({c.beta1, c.beta2}).weight_decay(c.weight_decay));
  } else if (c.name == "adamw") {
    opt = build(
        groups,
        torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).weight_decay(c.weight_decay));
  } else if (c.name == "sgd") {
    opt = build(groups, torch::optim::SGDOptions(c.lr)
                            .momentum(c.momentum)
                            .nesterov(c.nesterov)
                            .weight_decay(c.weight_decay));
  } else {
    throw ConfigError("train.optimizer.name: unknown optimizer \"" + c.name + "\"");
  }
  return std::make_unique<OptimizerWithGroups>(std::move(opt), std::move(factors), c.lr);
}

double scheduled_lr(const config::OptimizerConfig& opt, const config::SchedulerConfig& sched,
                    int64_t epoch, int64_t total_epochs) {
  if (epoch < sched.warmup_epochs)
    return opt.lr * static_cast<double>(epoch + 1) / static_cast<double>(sched.warmup_epochs + 1);
  int64_t t = epoch - sched.warmup_epochs;
  if (sched.name == "step")
    return opt.lr * std::pow(sched.gamma, static_cast<double>(t / sched.step_size));
  if (sched.name == "cosine") {
    int64_t span = std::max<int64_t>(1, total_epochs - sched.warmup_epochs);
    return sched.min_lr + (opt.lr - sched.min_lr) * 0.5 * (1.0 + std::cos(M_PI * t / span));
  }
  return opt.lr;
}

}  // namespace garbage::train
