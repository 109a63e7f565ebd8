#include "garbage/train/mixup.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <torch/torch.h>

#include "garbage/core/runtime.hpp"

namespace garbage::train {
namespace {

double beta_sample(double alpha, std::mt19937_64& rng) {
  std::gamma_distribution<double> gamma(alpha, 1.0);
  const double a = gamma(rng), b = gamma(rng);
  return a + b > 0 ? a / (a + b) : 0.5;
}

double uniform01(std::mt19937_64& rng) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

int64_t uniform_index(int64_t n, std::mt19937_64& rng) {
  return std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
}

/// The draws of timm's _params_per_batch: whether to mix, which of the two, and lambda.
void draw_mode(const config::MixupConfig& c, std::mt19937_64& rng, MixedBatch& out) {
  const bool mixup = c.mixup_alpha > 0, cutmix = c.cutmix_alpha > 0;
  if (!(mixup || cutmix) || uniform01(rng) >= c.prob) return;
  out.cutmix = cutmix && (!mixup || uniform01(rng) < c.switch_prob);
  out.lam = beta_sample(out.cutmix ? c.cutmix_alpha : c.mixup_alpha, rng);
}

}  // namespace

Box cutmix_box(int64_t h, int64_t w, double lam, int64_t cy, int64_t cx) {
  const double ratio = std::sqrt(1.0 - lam);
  const auto cut_h = static_cast<int64_t>(static_cast<double>(h) * ratio);
  const auto cut_w = static_cast<int64_t>(static_cast<double>(w) * ratio);
  Box b;
  b.y0 = std::clamp<int64_t>(cy - cut_h / 2, 0, h);
  b.y1 = std::clamp<int64_t>(cy + cut_h / 2, 0, h);
  b.x0 = std::clamp<int64_t>(cx - cut_w / 2, 0, w);
  b.x1 = std::clamp<int64_t>(cx + cut_w / 2, 0, w);
  return b;
}

torch::Tensor mixed_targets(const torch::Tensor& labels, int64_t num_classes, double lam,
                            double smoothing) {
  const double off = smoothing / static_cast<double>(num_classes);
  const double on = 1.0 - smoothing + off;
  auto one_hot = [&](const torch::Tensor& l) {
    return torch::full({l.size(0), num_classes}, off, l.options().dtype(torch::kFloat))
        .scatter_(1, l.view({-1, 1}), on);
  };
  return one_hot(labels) * lam + one_hot(labels.flip({0})) * (1.0 - lam);
}

uint64_t mix_step_seed(uint64_t seed, int64_t epoch, int64_t step) {
  // A stream of its own: the data loader and dropout draw from other seeds.
  constexpr unsigned long long kMixupStream = 0x6d6978757075ULL;
  return mix_seed(mix_seed(mix_seed(seed, kMixupStream), static_cast<unsigned long long>(epoch)),
                  static_cast<unsigned long long>(step));
}

MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& labels, int64_t num_classes,
                     const config::MixupConfig& config, double smoothing, uint64_t seed) {
  MixedBatch out;
  out.images = images;
  std::mt19937_64 rng(seed);
  draw_mode(config, rng, out);
  if (out.lam >= 1.0) return out;  // not mixed: plain labels
  torch::NoGradGuard no_grad;
  const auto reversed = images.flip({0});
  if (out.cutmix) {
    const int64_t h = images.size(2), w = images.size(3);
    const int64_t cy = uniform_index(h, rng), cx = uniform_index(w, rng);
    out.box = cutmix_box(h, w, out.lam, cy, cx);
    out.images = images.clone();
    using torch::indexing::Slice;
    const std::vector<torch::indexing::TensorIndex> region = {
        Slice(), Slice(), Slice(out.box.y0, out.box.y1), Slice(out.box.x0, out.box.x1)};
    out.images.index_put_(region, reversed.index(region));
    out.lam = 1.0 - static_cast<double>(out.box.area()) / static_cast<double>(h * w);
  } else {
    out.images = images * out.lam + reversed * (1.0 - out.lam);
  }
  out.targets = mixed_targets(labels, num_classes, out.lam, smoothing);
  return out;
}

std::vector<double> balanced_class_weights(const std::vector<int64_t>& labels,
                                           int64_t num_classes) {
  std::vector<double> counts(static_cast<size_t>(num_classes), 0.0);
  for (auto l : labels) counts.at(static_cast<size_t>(l)) += 1.0;
  std::vector<double> weights;
  const double n = static_cast<double>(labels.size()), k = static_cast<double>(num_classes);
  for (double c : counts) weights.push_back(c > 0 ? n / (k * c) : 0.0);
  return weights;
}

torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                            const MixedBatch& mixed, double smoothing,
                            const torch::Tensor& class_weights) {
  namespace F = torch::nn::functional;
  if (!mixed.targets.defined()) {
    auto options = F::CrossEntropyFuncOptions().label_smoothing(smoothing);
    if (class_weights.defined()) options.weight(class_weights);
    return F::cross_entropy(logits, labels, options);
  }
  const auto targets = mixed.targets.to(logits.dtype());
  const auto per_sample = -(targets * torch::log_softmax(logits, 1)).sum(1);
  if (!class_weights.defined()) return per_sample.mean();
  const auto sample_weights = targets.matmul(class_weights.to(logits.dtype()));
  return (per_sample * sample_weights).sum() / sample_weights.sum();
}

}  // namespace garbage::train
