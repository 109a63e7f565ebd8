#pragma once
// Mixup and CutMix (as timm's Mixup in "batch" mode) and the training loss with soft targets.
// A batch is mixed with itself reversed: mixup blends whole images, CutMix pastes a box, and the
// targets (one-hot with label smoothing) are blended by lambda, which CutMix corrects to the
// clipped box's area. Every draw comes from a generator seeded per step, so a resumed run mixes
// exactly as an uninterrupted one.

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "garbage/config/train_config.hpp"

namespace garbage::train {

/// Rows [y0, y1) and columns [x0, x1) of an image.
struct Box {
  int64_t y0 = 0, y1 = 0, x0 = 0, x1 = 0;
  int64_t area() const { return (y1 - y0) * (x1 - x0); }
};

/// timm's rand_bbox: sides int(h * sqrt(1 - lam)) and int(w * sqrt(1 - lam)) centred at
/// (cy, cx), clipped to the image.
Box cutmix_box(int64_t h, int64_t w, double lam, int64_t cy, int64_t cx);

/// One-hot targets with label smoothing (off = s / K, on = 1 - s + off), blended with the
/// reversed batch's: lam * y + (1 - lam) * y.flip(0).
torch::Tensor mixed_targets(const torch::Tensor& labels, int64_t num_classes, double lam,
                            double smoothing);

struct MixedBatch {
  torch::Tensor images;   ///< the batch to train on
  torch::Tensor targets;  ///< soft targets [N, K]; undefined when nothing was mixed
  double lam = 1.0;       ///< share of the original image (CutMix: 1 - box area / image area)
  bool cutmix = false;
  Box box;  ///< CutMix's pasted box
};

/// Mixes per `config` (nothing when both alphas are 0): with probability `prob`, CutMix with
/// probability `switch_prob` when both are on, else mixup; lambda ~ Beta(alpha, alpha).
MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& labels, int64_t num_classes,
                     const config::MixupConfig& config, double smoothing, uint64_t seed);

/// The seed of a step's draws.
uint64_t mix_step_seed(uint64_t seed, int64_t epoch, int64_t step);

/// Per-class loss weights n / (K * n_c) from the training labels ("balanced", as scikit-learn).
std::vector<double> balanced_class_weights(const std::vector<int64_t>& labels, int64_t num_classes);

/// The training loss: cross-entropy with label smoothing on the labels, or soft-target
/// cross-entropy when the batch was mixed. With `class_weights` each sample counts with the
/// weight of its (soft) target, sum_c t_c w_c, and the mean is over those weights (torch's
/// weighted mean for hard labels).
torch::Tensor training_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                            const MixedBatch& mixed, double smoothing,
                            const torch::Tensor& class_weights = {});

}  // namespace garbage::train
