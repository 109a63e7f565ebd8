#pragma once
// Fused CPU kernels for training (issue 13): each activation's forward and backward in one pass,
// and BatchNorm's training step with the activation fused before or after it (a statistics pass
// plus a normalise-and-activate pass forward, a sums pass plus one gradient pass backward). They
// are autograd functions that save only the input; float32 on CPU, contiguous or channels-last.
// Anything else (other dtypes, eval-mode BatchNorm, double backward) stays with libtorch's ops.

#include <functional>
#include <optional>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace garbage::kernels {

enum class Act { identity, relu, gelu, silu, mish, hardswish, hardsigmoid };

/// Whether models use the fused kernels on this thread (train.fused_kernels); off by default so
/// that inference, summary and explain keep libtorch's ops.
bool enabled();

/// Turns the fused kernels on or off for this thread while alive (the trainer's epochs).
class FusedScope {
 public:
  explicit FusedScope(bool on);
  ~FusedScope();
  FusedScope(const FusedScope&) = delete;
  FusedScope& operator=(const FusedScope&) = delete;

 private:
  bool previous_;
};

/// Sums a vector across data-parallel ranks, in place.
using RankSum = std::function<void(std::vector<double>&)>;

/// While alive, training-mode BatchNorm normalises with the statistics of the whole global batch
/// (SyncBatchNorm, train.sync_bn): the per-channel sums of the forward pass and of the backward
/// pass are summed across ranks through `sum`. Process-wide, since autograd may run backward on
/// another thread. Every training-mode BatchNorm then takes the fused kernels' path.
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(RankSum sum);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;

 private:
  RankSum sum_;
};

/// Whether a SyncBatchNormScope is active.
bool batchnorm_synced();

/// While alive, this thread runs one of several replicas of a model that train on parts of one
/// batch in parallel (train.micro_batches): only replica 0 updates BatchNorm's running statistics
/// (every replica sees the same synchronised statistics, and the buffers are shared), and dropout
/// draws from `generator`, so that the masks do not depend on how the threads interleave.
class ReplicaScope {
 public:
  ReplicaScope(int index, at::Generator generator);
  ~ReplicaScope();
  ReplicaScope(const ReplicaScope&) = delete;
  ReplicaScope& operator=(const ReplicaScope&) = delete;

 private:
  int previous_index_;
  std::optional<at::Generator> previous_generator_;
};

/// Whether this thread updates BatchNorm running statistics (false in replicas other than 0).
bool updates_running_stats();

/// Whether this thread's dropout draws from a ReplicaScope's generator.
bool has_replica_generator();

/// torch's dropout (training), drawn from the ReplicaScope's generator when there is one.
at::Tensor dropout(const at::Tensor& x, double p);

/// The instruction set the loops run with on this CPU: "avx512", "avx2" or "default".
const char* isa();

/// True when `x` can take the fused path: float32 CPU tensor, contiguous or channels-last.
bool supports(const at::Tensor& x);

/// act(x) as one pass forward and one backward (saves x only).
at::Tensor activation(Act act, const at::Tensor& x);

/// A BatchNorm2d layer's tensors and options (running statistics are updated in place).
struct BatchNormState {
  at::Tensor weight, bias, running_mean, running_var;
  double momentum = 0.1;
  double eps = 1e-5;
};

/// Training-mode batch_norm(act(x)) on [N, C, H, W] (act before the normalisation).
at::Tensor activation_batchnorm(Act act, const at::Tensor& x, const BatchNormState& bn);
/// Training-mode act(batch_norm(x)) on [N, C, H, W]; Act::identity is a plain BatchNorm.
at::Tensor batchnorm_activation(const at::Tensor& x, const BatchNormState& bn, Act act);

/// relu(a + b) (a residual block's end) in one pass; backward passes grad * (out > 0) to both.
at::Tensor add_relu(const at::Tensor& a, const at::Tensor& b);

/// Training-mode dropout(max_pool2d(x, 2), p) on [N, C, H, W] (2x2 windows, stride 2): one
/// pass forward, one backward that writes every input gradient (no zero-fill + scatter). The
/// dropout mask is drawn exactly as torch's dropout draws it, so results equal the plain ops.
/// p = 0: max-pooling alone.
at::Tensor maxpool2_dropout(const at::Tensor& x, double p);

}  // namespace garbage::kernels
