#include "garbage/train/ema.hpp"

#include <algorithm>

#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "garbage/models/classifier.hpp"

namespace garbage::train {

double ema_decay_at(double decay, bool warmup, int64_t t) {
  if (!warmup) return decay;
  const double step = static_cast<double>(t);
  return std::min(decay, (1.0 + step) / (10.0 + step));
}

namespace {

template <typename Fn>
void for_each_pair(models::ClassifierImpl& to, const models::ClassifierImpl& from, Fn&& fn) {
  auto src_params = from.named_parameters();
  for (auto& p : to.named_parameters()) {
    const auto* s = src_params.find(p.key());
    if (!s) throw Error("EMA: the model has no parameter " + p.key());
    fn(p.value(), *s);
  }
  auto src_buffers = from.named_buffers();
  for (auto& b : to.named_buffers()) {
    const auto* s = src_buffers.find(b.key());
    if (!s) throw Error("EMA: the model has no buffer " + b.key());
    fn(b.value(), *s);
  }
}

}  // namespace

void ema_update(models::ClassifierImpl& ema, const models::ClassifierImpl& model, double d) {
  torch::NoGradGuard no_grad;
  for_each_pair(ema, model, [d](torch::Tensor& e, const torch::Tensor& m) {
    if (e.is_floating_point())
      e.mul_(d).add_(m.detach(), 1.0 - d);
    else
      e.copy_(m);
  });
}

void copy_weights(models::ClassifierImpl& to, const models::ClassifierImpl& from) {
  torch::NoGradGuard no_grad;
  for_each_pair(to, from, [](torch::Tensor& t, const torch::Tensor& f) { t.copy_(f); });
}

}  // namespace garbage::train
