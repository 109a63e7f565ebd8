#include "garbage/engine/graph.hpp"

#include <algorithm>
#include <numeric>

#include "garbage/core/errors.hpp"

namespace garbage::engine {
namespace {

std::string dims_text(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "]";
}

[[noreturn]] void shape_error(const Graph& g, const Op& op, const std::string& what) {
  throw Error(g.model + ": native engine: " + to_string(op.kind) + " " + op.name + ": " + what);
}

int64_t pooled(int64_t size, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  return (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

Dims infer_op(const Graph& g, const Op& op, const std::vector<Dims>& shapes) {
  const Dims& x = shapes.at(op.inputs.at(0));
  auto need_4d = [&] {
    if (x.size() != 4) shape_error(g, op, "expects a 4-D input, got " + dims_text(x));
  };
  switch (op.kind) {
    case OpKind::conv: {
      need_4d();
      if (x[1] != op.in_channels)
        shape_error(g, op,
                    "expects " + std::to_string(op.in_channels) + " channels, got " + dims_text(x));
      Dims y = {x[0], op.out_channels, 0, 0};
      for (int i = 0; i < 2; ++i)
        y[2 + i] = pooled(x[2 + i], op.kernel[i], op.stride[i], op.padding[i], op.dilation[i]);
      if (y[2] < 1 || y[3] < 1) shape_error(g, op, "input " + dims_text(x) + " is too small");
      return y;
    }
    case OpKind::linear: {
      const int64_t features =
          std::accumulate(x.begin() + 1, x.end(), int64_t{1}, std::multiplies<>());
      if (features != op.in_channels)
        shape_error(g, op,
                    "expects " + std::to_string(op.in_channels) + " features, got " + dims_text(x) +
                        " (is the image size the one the model was built for?)");
      return {x[0], op.out_channels};
    }
    case OpKind::activation:
      return x;
    case OpKind::max_pool: {
      need_4d();
      Dims y = x;
      for (int i = 0; i < 2; ++i)
        y[2 + i] = pooled(x[2 + i], op.kernel[i], op.stride[i], op.padding[i], 1);
      if (y[2] < 1 || y[3] < 1) shape_error(g, op, "input " + dims_text(x) + " is too small");
      return y;
    }
    case OpKind::global_pool:
      need_4d();
      return {x[0], x[1], 1, 1};
    case OpKind::reduce_channels:
      need_4d();
      return {x[0], 1, x[2], x[3]};
    case OpKind::flatten:
      return {x[0], std::accumulate(x.begin() + 1, x.end(), int64_t{1}, std::multiplies<>())};
    case OpKind::unflatten_spatial:
      if (x.size() != 2) shape_error(g, op, "expects [N,C], got " + dims_text(x));
      return {x[0], x[1], 1, 1};
    case OpKind::binary: {
      const Dims& b = shapes.at(op.inputs.at(1));
      if (b.size() != x.size()) shape_error(g, op, dims_text(x) + " vs " + dims_text(b));
      Dims y = x;
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] == b[i] || b[i] == 1) continue;
        if (x[i] != 1)
          shape_error(g, op, "cannot broadcast " + dims_text(x) + " with " + dims_text(b));
        y[i] = b[i];
      }
      return y;
    }
    case OpKind::concat_channels: {
      Dims y = x;
      y[1] = 0;
      for (int v : op.inputs) {
        const Dims& d = shapes.at(v);
        if (d.size() != 4 || d[0] != x[0] || d[2] != x[2] || d[3] != x[3])
          shape_error(g, op, "mismatched inputs " + dims_text(x) + " and " + dims_text(d));
        y[1] += d[1];
      }
      return y;
    }
  }
  shape_error(g, op, "unknown op");
}

/// A 1x1 depthwise conv with no post-ops is a per-channel scale and shift (a BatchNorm).
bool is_scale_shift(const Op& op) {
  return op.kind == OpKind::conv && op.groups == op.in_channels &&
         op.in_channels == op.out_channels && op.kernel == std::array<int64_t, 2>{1, 1} &&
         op.stride == std::array<int64_t, 2>{1, 1} && op.padding == std::array<int64_t, 2>{0, 0} &&
         op.post_ops.empty();
}

bool has_sum(const Op& op) {
  return std::any_of(op.post_ops.begin(), op.post_ops.end(),
                     [](const PostOp& p) { return p.kind == PostOp::Kind::sum; });
}

}  // namespace

std::vector<Dims> infer_shapes(const Graph& graph, const Dims& input) {
  std::vector<Dims> shapes(graph.num_values);
  shapes.at(graph.input) = input;
  for (const auto& op : graph.ops) shapes.at(op.output) = infer_op(graph, op, shapes);
  return shapes;
}

Graph fuse_graph(Graph graph, const std::vector<Dims>& shapes) {
  // Every reference to a value: op inputs, sum operands, and the graph output.
  std::vector<int> uses(graph.num_values, 0);
  for (const auto& op : graph.ops) {
    for (int v : op.inputs) ++uses[v];
    for (const auto& p : op.post_ops)
      if (p.kind == PostOp::Kind::sum) ++uses[p.operand];
  }
  ++uses[graph.output];

  std::vector<Op> fused;
  std::vector<int> producer(graph.num_values, -1);  // index into `fused`
  // The op whose result `v` is, when it may take one more post-op: its only user is the op
  // being fused, and it is of a kind whose primitives take post-ops.
  auto host = [&](int v, bool conv_only) -> Op* {
    const int p = producer[v];
    if (p < 0 || uses[v] != 1) return nullptr;
    Op& op = fused[p];
    if (op.kind == OpKind::conv) return &op;
    if (conv_only) return nullptr;
    return op.kind == OpKind::linear || op.kind == OpKind::binary ? &op : nullptr;
  };
  for (auto& op : graph.ops) {
    Op* into = nullptr;
    PostOp post;
    if (op.kind == OpKind::activation) {
      into = host(op.inputs[0], false);
      post.act = op.act;
    } else if (is_scale_shift(op)) {
      into = host(op.inputs[0], true);
      post.kind = PostOp::Kind::scale_shift;
      post.scale = op.weight;
      post.shift = op.bias.empty() ? std::vector<float>(op.weight.size(), 0.f) : op.bias;
    } else if (op.kind == OpKind::binary && op.binary == BinaryKind::add &&
               op.inputs[0] != op.inputs[1]) {
      // The later-produced operand's op adds the earlier one, which then exists when it runs.
      int a = op.inputs[0], b = op.inputs[1];
      if (producer[a] < producer[b]) std::swap(a, b);
      Op* candidate = host(a, false);
      if (candidate && !has_sum(*candidate) && candidate->kind != OpKind::linear &&
          shapes.at(a) == shapes.at(b)) {
        into = candidate;
        post.kind = PostOp::Kind::sum;
        post.operand = b;
      }
    }
    if (into) {
      into->post_ops.push_back(std::move(post));
      into->output = op.output;
      producer[op.output] = static_cast<int>(into - fused.data());
      continue;
    }
    producer[op.output] = static_cast<int>(fused.size());
    fused.push_back(std::move(op));
  }
  graph.ops = std::move(fused);
  return graph;
}

const char* to_string(OpKind kind) {
  switch (kind) {
    case OpKind::conv:
      return "conv";
    case OpKind::linear:
      return "linear";
    case OpKind::activation:
      return "activation";
    case OpKind::max_pool:
      return "max_pool";
    case OpKind::global_pool:
      return "global_pool";
    case OpKind::reduce_channels:
      return "reduce_channels";
    case OpKind::flatten:
      return "flatten";
    case OpKind::unflatten_spatial:
      return "unflatten_spatial";
    case OpKind::binary:
      return "binary";
    case OpKind::concat_channels:
      return "concat_channels";
  }
  return "?";
}

const char* to_string(Act act) {
  switch (act) {
    case Act::relu:
      return "relu";
    case Act::gelu:
      return "gelu";
    case Act::silu:
      return "silu";
    case Act::mish:
      return "mish";
    case Act::hardswish:
      return "hardswish";
    case Act::sigmoid:
      return "sigmoid";
    case Act::hardsigmoid:
      return "hardsigmoid";
  }
  return "?";
}

}  // namespace garbage::engine
