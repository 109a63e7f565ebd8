#pragma once
// What a native-engine backend implements: compile a Graph for one input shape and thread count
// into a Plan that runs it. Torch-free: tensors cross as raw float pointers.

#include <cstdint>
#include <memory>
#include <string>

#include "garbage/engine/graph.hpp"

namespace garbage::engine {

/// A graph compiled for one input shape: primitives created, weights in the backend's layout,
/// activation memory allocated and assigned. Runs on the thread that calls run(), with the
/// thread count it was compiled for.
class Plan {
 public:
  virtual ~Plan() = default;
  /// `input`: dense NCHW float32 of the compiled shape; `output`: room for the output dims.
  virtual void run(const float* input, float* output) = 0;
  virtual const Dims& output_dims() const = 0;
  /// Bytes of activation memory, scratchpad and packed weights this plan holds (weights shared
  /// with an earlier plan of the same model are counted there).
  virtual int64_t memory_bytes() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  /// Throws Error naming the op when the backend cannot run `graph` at `input` dims.
  virtual std::unique_ptr<Plan> compile(const Graph& graph, const Dims& input, int threads) = 0;
};

struct OneDnnOptions {
  /// Dense 3x3 stride-1 convolutions use oneDNN's Winograd kernels where it has them (AVX-512
  /// CPUs), else direct convolution. Both round about equally far from libtorch's results.
  bool winograd = true;
};

/// oneDNN (the library libtorch itself runs on for CPU convolutions).
std::unique_ptr<Backend> make_onednn_backend(OneDnnOptions options = {});

}  // namespace garbage::engine
