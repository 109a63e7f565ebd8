#pragma once
// The seam for data-parallel training: the train loop talks to a Collective after every backward
// pass and when it sums metrics. Locally it is a no-op; a c10d (Gloo/NCCL) implementation can
// replace it without touching the loop.

#include <vector>

#include <torch/types.h>

namespace garbage::train {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Averages gradients of `params` across ranks, in place.
  virtual void average_gradients(const std::vector<torch::Tensor>& params) = 0;
  /// Sums each value across ranks, in place (loss sums, correct counts, sample counts).
  virtual void sum(std::vector<double>& values) = 0;
  bool is_main() const { return rank() == 0; }
};

/// A single process: nothing to exchange.
class LocalCollective : public Collective {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void average_gradients(const std::vector<torch::Tensor>&) override {}
  void sum(std::vector<double>&) override {}
};

}  // namespace garbage::train
