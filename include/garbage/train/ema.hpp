#pragma once
// An exponential moving average of the weights (train.ema): after every optimizer step
// ema = d * ema + (1 - d) * weights, for parameters and floating-point buffers (BatchNorm
// running statistics, as timm's ModelEmaV2); integer buffers are copied. With warm-up the decay
// is min(decay, (1 + t) / (10 + t)) at update t (TensorFlow's num_updates rule), so early
// averages are not dominated by the random initialisation. The update count is the global step,
// a function of the position in training, so a resumed run continues the same average.

#include <cstdint>

#include "garbage/models/registry.hpp"

namespace garbage::train {

/// The decay of update `t` (0-based).
double ema_decay_at(double decay, bool warmup, int64_t t);

/// ema = d * ema + (1 - d) * model, tensor by tensor (same architecture required).
void ema_update(models::ClassifierImpl& ema, const models::ClassifierImpl& model, double d);

/// Copies every parameter and buffer of `from` into `to`.
void copy_weights(models::ClassifierImpl& to, const models::ClassifierImpl& from);

}  // namespace garbage::train
