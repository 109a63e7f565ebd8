#pragma once
// The native engine's view of a model: a list of ops on numbered values, in execution order,
// with weights already folded (BatchNorm into convs, in double) and copied out of libtorch. It
// is what a model's emit() produces through engine::capture_graph, what fuse_graph rewrites, and
// what a Backend compiles per input shape. Torch-free, so backends need not include libtorch.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace garbage::engine {

using Dims = std::vector<int64_t>;  ///< logical NCHW ([N,C,H,W]) or [N,F] dims

enum class Act { relu, gelu, silu, mish, hardswish, sigmoid, hardsigmoid };
enum class Reduce { mean, max };
enum class BinaryKind { add, mul, max };

/// An operation applied to an op's result before it is stored, in order.
struct PostOp {
  enum class Kind {
    activation,   ///< act
    scale_shift,  ///< y * scale[c] + shift[c] (a BatchNorm after the op)
    sum           ///< y + value `operand` (a residual add); the result takes its place
  };
  Kind kind = Kind::activation;
  Act act = Act::relu;
  std::vector<float> scale, shift;
  int operand = -1;
};

enum class OpKind {
  conv,               ///< 2-D convolution with bias (BatchNorm folded); weight [O, I/g, kh, kw]
  linear,             ///< y = x W^T + b; weight [O, I]; a flattened 4-D input is read as NCHW
  activation,         ///< act
  max_pool,           ///< kernel, stride, padding (square)
  global_pool,        ///< [N,C,H,W] -> [N,C,1,1], reduce
  reduce_channels,    ///< [N,C,H,W] -> [N,1,H,W], reduce
  flatten,            ///< [N,...] -> [N,-1] (NCHW order)
  unflatten_spatial,  ///< [N,C] -> [N,C,1,1]
  binary,             ///< binary, broadcasting the second input over dims of size 1
  concat_channels,    ///< along C
};

struct Op {
  OpKind kind = OpKind::conv;
  std::string name;  ///< module path for layers with weights ("layer1.0.conv1"), else the op
  std::vector<int> inputs;
  int output = -1;
  // conv / linear
  int64_t out_channels = 0, in_channels = 0, groups = 1;
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};
  std::vector<float> weight, bias;  ///< bias empty: none
  // activation, pools, binary
  Act act = Act::relu;
  Reduce reduce = Reduce::mean;
  BinaryKind binary = BinaryKind::add;
  std::vector<PostOp> post_ops;
};

struct Graph {
  std::string model;  ///< for messages
  int input = 0;      ///< value 0: the [N,3,H,W] image batch
  int output = -1;
  int num_values = 1;
  std::vector<Op> ops;
};

/// Logical dims of every value for an input of `input` dims ([N,C,H,W]); throws Error naming
/// the op when shapes do not fit (wrong channel count, image too small for the pools, ...).
std::vector<Dims> infer_shapes(const Graph& graph, const Dims& input);

/// Fuses what backends run as one primitive: activations and BatchNorms into the conv, linear or
/// binary op before them (post-ops), and a residual add into the later of its two producers
/// (a sum post-op) when both have the same `shapes` (from infer_shapes). Value numbers keep
/// their meaning; fused-away intermediates are simply never produced. Results are unchanged.
Graph fuse_graph(Graph graph, const std::vector<Dims>& shapes);

const char* to_string(OpKind kind);
const char* to_string(Act act);

}  // namespace garbage::engine
