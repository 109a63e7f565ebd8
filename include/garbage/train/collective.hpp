#pragma once
// The seam for data-parallel training: the train loop talks to a Collective after every backward
// pass, when it sums metrics and at checkpoints. Locally it is a no-op; the c10d implementation
// (distributed/process_group.hpp) exchanges over Gloo without the loop knowing.
//
// Every call is collective: all ranks make the same calls in the same order.

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace garbage::train {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Processes of this job on this host (sizes the default thread count).
  virtual int local_world_size() const { return 1; }
  bool is_main() const { return rank() == 0; }

  /// Overwrites every rank's `tensors` with rank 0's values (parameters at the start, buffers
  /// before validation).
  virtual void broadcast(const std::vector<torch::Tensor>& tensors) = 0;
  /// Announces the parameters whose gradients average_gradients() will average, so an
  /// implementation can start exchanging them while backward is still running. Called before
  /// every epoch (the trainable set can change between epochs).
  virtual void watch_gradients(const std::vector<torch::Tensor>& /*params*/) {}
  /// Averages the gradients of `params` across ranks, in place, after backward.
  virtual void average_gradients(const std::vector<torch::Tensor>& params) = 0;
  /// Sums each value across ranks, in place (loss sums, correct counts, confusion matrices).
  virtual void sum(std::vector<double>& values) = 0;
  /// True when `flag` is true on any rank (a Ctrl-C seen by one rank stops all at one step).
  virtual bool any(bool flag) { return flag; }
  /// Every rank's `tensor` (same shape and dtype everywhere), in rank order.
  virtual std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor) { return {tensor}; }
  /// Records that this rank finished global step `step`, so that a failure can name the rank
  /// that stopped.
  virtual void mark_progress(int64_t /*step*/) {}
};

/// A single process: nothing to exchange.
class LocalCollective : public Collective {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void broadcast(const std::vector<torch::Tensor>&) override {}
  void average_gradients(const std::vector<torch::Tensor>&) override {}
  void sum(std::vector<double>&) override {}
};

}  // namespace garbage::train
