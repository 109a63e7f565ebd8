// The oneDNN backend: one primitive per fused op, activations in the layouts oneDNN picks
// (format_tag::any, usually nChw16c on AVX-512), weights reordered once per plan, one
// user-managed scratchpad, and activation buffers reused as soon as a value is dead. Small
// primitives run on the calling thread alone (see kSerialMacs).

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_map>

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "garbage/core/errors.hpp"
#include "garbage/engine/backend.hpp"

namespace garbage::engine {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::primitive_attr;
using dnnl::prop_kind;
using tag = memory::format_tag;
using dt = memory::data_type;

constexpr int kUserInput = -2;
constexpr int kUserOutput = -3;
constexpr size_t kAlignment = 64;

// Below these sizes (about 50-100 us of work on one core) an op runs on one thread: an OpenMP
// fork/join costs microseconds on an idle machine and a whole scheduler time slice (milliseconds)
// when another process holds the second core, and a MobileNet has dozens of such ops (the SE
// pools and multiplies, the head). onnxruntime does the same with its per-op cost model.
constexpr int64_t kSerialMacs = int64_t{1} << 21;      ///< convolutions, inner products
constexpr int64_t kSerialElements = int64_t{1} << 17;  ///< pools, binaries, reorders (floats)

/// Sets OpenMP's thread count for the calling thread (which oneDNN reads when a primitive is
/// created and run) for a scope, and restores it.
class OmpThreads {
 public:
  explicit OmpThreads(int threads) : previous_(omp_get_max_threads()) {
    if (threads > 0 && threads != previous_) omp_set_num_threads(threads);
  }
  ~OmpThreads() {
    if (omp_get_max_threads() != previous_) omp_set_num_threads(previous_);
  }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int previous_;
};

int64_t product(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using Block = std::unique_ptr<void, AlignedFree>;

Block allocate(size_t bytes) {
  bytes = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, bytes);
  if (!p) throw Error("native engine: out of memory allocating " + std::to_string(bytes) + " B");
  return Block(p);
}

/// Weights already reordered into a primitive's layout, shared by every plan of one model that
/// wants the same values in the same layout (plans for other batch sizes): each is reordered
/// once (oneDNN's Winograd transform of a 512x512 3x3 kernel takes ~0.1 s) and held once. An
/// entry lives as long as a plan uses it.
class PackedWeights {
 public:
  /// The packed block for `values` (laid out as `user`) in layout `want`, and whether it was
  /// packed now (false: another plan's, shared).
  std::pair<std::shared_ptr<void>, bool> get(const std::vector<float>& values,
                                             const memory::desc& user, const memory::desc& want,
                                             const dnnl::engine& eng, dnnl::stream& stream) {
    const size_t hash = std::hash<std::string_view>{}(
        {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)});
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                  [](const Entry& e) { return e.block.expired(); }),
                   entries_.end());
    for (const auto& e : entries_)
      if (e.hash == hash && e.count == values.size() && e.user == user && e.want == want)
        return {e.block.lock(), false};
    std::shared_ptr<void> block = allocate(want.get_size());
    memory src(user, eng, const_cast<float*>(values.data()));
    memory dst(want, eng, block.get());
    dnnl::reorder(src, dst).execute(stream, src, dst);
    stream.wait();
    entries_.push_back({hash, values.size(), user, want, block});
    return {block, true};
  }

 private:
  struct Entry {
    size_t hash, count;
    memory::desc user, want;
    std::weak_ptr<void> block;
  };
  std::vector<Entry> entries_;
};

/// One scratchpad for every plan of a model, as large as the largest asks: its plans run one at
/// a time (NativeModel::forward is not reentrant).
class SharedScratchpad {
 public:
  /// Grows to at least `bytes` (moving it: plans compare data() with what they bound); returns
  /// the growth.
  size_t reserve(size_t bytes) {
    if (bytes <= size_) return 0;
    block_.reset();
    block_ = allocate(bytes);
    const size_t grown = bytes - size_;
    size_ = bytes;
    return grown;
  }
  void* data() const { return block_.get(); }

 private:
  Block block_;
  size_t size_ = 0;
};

/// What the plans of one model share.
struct ModelMemory {
  PackedWeights weights;
  SharedScratchpad scratchpad;
};

memory::dims to_dnnl(const Dims& d) {
  return memory::dims(d.begin(), d.end());
}

memory::desc plain(const Dims& d) {
  return memory::desc(to_dnnl(d), dt::f32,
                      d.size() == 4   ? tag::nchw
                      : d.size() == 2 ? tag::nc
                                      : tag::a);
}

memory::desc any(const Dims& d) {
  return memory::desc(to_dnnl(d), dt::f32, tag::any);
}

Dims dims_of(const memory::desc& md) {
  auto d = md.dims();
  return Dims(d.begin(), d.end());
}

/// `dims` in the 4-D layout of `like` (plain, NHWC or channel-blocked), or nothing when `like`
/// is in none of those.
std::optional<memory::desc> same_layout(const memory::desc& like, const Dims& dims) {
  if (dims.size() != 4 || like.dims().size() != 4) return std::nullopt;
  for (tag t : {tag::abcd, tag::acdb, tag::aBcd8b, tag::aBcd16b})
    if (memory::desc(like.dims(), dt::f32, t) == like)
      return memory::desc(to_dnnl(dims), dt::f32, t);
  return std::nullopt;
}

/// The eltwise post-ops (or primitives) that compute `act`; hardsigmoid has no single one in
/// oneDNN 2.6: clip((x + 3) / 6, 0, 1).
struct EltwiseStep {
  algorithm alg;
  float alpha, beta;
};
std::vector<EltwiseStep> eltwise_steps(Act act) {
  switch (act) {
    case Act::relu:
      return {{algorithm::eltwise_relu, 0.f, 0.f}};
    case Act::gelu:
      return {{algorithm::eltwise_gelu_erf, 0.f, 0.f}};
    case Act::silu:
      return {{algorithm::eltwise_swish, 1.f, 0.f}};
    case Act::mish:
      return {{algorithm::eltwise_mish, 0.f, 0.f}};
    case Act::hardswish:
      return {{algorithm::eltwise_hardswish, 0.f, 0.f}};
    case Act::sigmoid:
      return {{algorithm::eltwise_logistic, 0.f, 0.f}};
    case Act::hardsigmoid:
      return {{algorithm::eltwise_linear, 1.f / 6.f, 0.5f}, {algorithm::eltwise_clip, 0.f, 1.f}};
  }
  throw Error(std::string("native engine: no oneDNN eltwise for ") + to_string(act));
}

class OneDnnPlan final : public Plan {
 public:
  OneDnnPlan(const Graph& graph, const Dims& input, OneDnnOptions options,
             std::shared_ptr<ModelMemory> shared)
      : options_(options),
        shared_(std::move(shared)),
        eng_(dnnl::engine::kind::cpu, 0),
        stream_(eng_) {
    shapes_ = infer_shapes(graph, input);
    graph_ = fuse_graph(graph, shapes_);
    build();
  }

  void run(const float* input, float* output) override {
    if (shared_->scratchpad.data() != scratch_bound_) rebind_scratchpad();
    input_mem_.set_data_handle(const_cast<float*>(input));
    output_mem_.set_data_handle(output);
    const int threads = omp_get_max_threads();
    int current = threads;
    for (auto& s : steps_) {
      const int want = s.serial ? 1 : threads;
      if (want != current) omp_set_num_threads(current = want);
      s.prim.execute(stream_, s.args);
    }
    if (current != threads) omp_set_num_threads(threads);
    stream_.wait();
  }

  const Dims& output_dims() const override { return shapes_.at(graph_.output); }
  int64_t memory_bytes() const override { return bytes_; }

 private:
  /// A later plan grew the shared scratchpad, which moved it.
  void rebind_scratchpad() {
    scratch_bound_ = shared_->scratchpad.data();
    for (auto& step : steps_)
      if (auto it = step.args.find(DNNL_ARG_SCRATCHPAD); it != step.args.end())
        it->second.set_data_handle(scratch_bound_);
  }

  /// A primitive and its arguments, by value number until buffers are assigned.
  struct StepSpec {
    dnnl::primitive prim;
    std::vector<std::pair<int, int>> values;  // (DNNL_ARG_*, value)
    std::unordered_map<int, memory> fixed;    // weights, post-op operands
    memory::desc scratchpad;                  // empty: the primitive keeps its own
    bool serial = false;                      // created for, and run on, one thread
  };
  struct Step {
    dnnl::primitive prim;
    std::unordered_map<int, memory> args;
    bool serial = false;
  };

  /// Whether `op` is small enough to run on one thread (see kSerialMacs).
  bool is_serial(const Op& op) const {
    const Dims& y = shapes_[op.output];
    switch (op.kind) {
      case OpKind::conv:
        return product(y) * (op.in_channels / op.groups) * op.kernel[0] * op.kernel[1] <
               kSerialMacs;
      case OpKind::linear:
        return y.at(0) * op.out_channels * op.in_channels < kSerialMacs;
      case OpKind::flatten:
      case OpKind::unflatten_spatial:
        return true;  // no primitive, or a tiny reorder
      default: {
        int64_t elements = product(y);
        for (int v : op.inputs) elements += product(shapes_[v]);
        return elements < kSerialElements;
      }
    }
  }

  // ---- values and buffers ----
  int new_value(const memory::desc& md) {
    md_.push_back(md);
    buffer_of_.push_back(-1);
    return static_cast<int>(md_.size()) - 1;
  }

  int acquire(size_t bytes) {
    // Best fit among the free buffers; else grow the largest free one; else a new one.
    int best = -1, largest = -1;
    for (int b : free_) {
      if (capacity_[b] >= bytes && (best < 0 || capacity_[b] < capacity_[best])) best = b;
      if (largest < 0 || capacity_[b] > capacity_[largest]) largest = b;
    }
    int b = best >= 0 ? best : largest;
    if (b < 0) {
      b = static_cast<int>(capacity_.size());
      capacity_.push_back(0);
      refs_.push_back(0);
    } else {
      free_.erase(std::find(free_.begin(), free_.end(), b));
    }
    capacity_[b] = std::max(capacity_[b], bytes);
    refs_[b] = 1;
    return b;
  }

  void give_buffer(int v) { buffer_of_[v] = acquire(md_[v].get_size()); }
  void alias(int v, int of) {
    buffer_of_[v] = buffer_of_[of];
    if (buffer_of_[v] >= 0) ++refs_[buffer_of_[v]];
  }
  void release(int v) {
    const int b = buffer_of_[v];
    if (b >= 0 && --refs_[b] == 0) free_.push_back(b);
  }

  // ---- primitives ----
  primitive_attr attr_for(const Op& op, StepSpec& step, const Dims& dst_dims) {
    primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops po;
    for (const auto& p : op.post_ops) {
      switch (p.kind) {
        case PostOp::Kind::activation:
          for (const auto& e : eltwise_steps(p.act)) po.append_eltwise(1.f, e.alg, e.alpha, e.beta);
          break;
        case PostOp::Kind::sum:
          po.append_sum(1.f);
          break;
        case PostOp::Kind::scale_shift: {
          Dims d(dst_dims.size(), 1);
          d[1] = dst_dims[1];
          for (auto [alg, values] : {std::pair{algorithm::binary_mul, &p.scale},
                                     std::pair{algorithm::binary_add, &p.shift}}) {
            auto md = plain(d);
            po.append_binary(alg, md);
            memory m(md, eng_, const_cast<float*>(values->data()));
            step.fixed[DNNL_ARG_ATTR_MULTIPLE_POST_OP(po.len() - 1) | DNNL_ARG_SRC_1] = m;
          }
          break;
        }
      }
    }
    attr.set_post_ops(po);
    return attr;
  }

  /// `v` in layout `want`: itself, or a new value it is reordered into (a step of its own).
  int in_layout(int v, const memory::desc& want) {
    if (md_[v] == want) return v;
    const int t = new_value(want);
    give_buffer(t);
    StepSpec s;
    s.prim = dnnl::reorder(dnnl::reorder::primitive_desc(eng_, md_[v], eng_, want));
    s.values = {{DNNL_ARG_FROM, v}, {DNNL_ARG_TO, t}};
    specs_.push_back(std::move(s));
    temps_.push_back(t);
    return t;
  }

  /// Output of `op` with layout `dst`: in place of its sum operand when that dies here, else a
  /// fresh buffer (into which the operand is first copied).
  void place_output(const Op& op, size_t index, const memory::desc& dst) {
    const int out = op.output;
    md_[out] = dst;
    const PostOp* sum = nullptr;
    for (const auto& p : op.post_ops)
      if (p.kind == PostOp::Kind::sum) sum = &p;
    if (!sum) return give_buffer(out);
    const int o = sum->operand;
    const bool reads_it = std::find(op.inputs.begin(), op.inputs.end(), o) != op.inputs.end();
    if (last_use_[o] == static_cast<int>(index) && buffer_of_[o] >= 0 &&
        refs_[buffer_of_[o]] == 1 && !reads_it && md_[o] == dst)
      return alias(out, o);
    give_buffer(out);
    StepSpec s;
    s.prim = dnnl::reorder(dnnl::reorder::primitive_desc(eng_, md_[o], eng_, dst));
    s.values = {{DNNL_ARG_FROM, o}, {DNNL_ARG_TO, out}};
    specs_.push_back(std::move(s));
  }

  void push(StepSpec s, const dnnl::primitive_desc_base& pd) {
    s.scratchpad = pd.scratchpad_desc();
    scratch_bytes_ = std::max(scratch_bytes_, s.scratchpad.get_size());
    specs_.push_back(std::move(s));
  }

  memory pack(const std::vector<float>& values, const memory::desc& user,
              const memory::desc& want) {
    auto [block, fresh] = shared_->weights.get(values, user, want, eng_, stream_);
    if (fresh) bytes_ += static_cast<int64_t>(want.get_size());
    packs_.push_back(block);
    return memory(want, eng_, block.get());
  }

  const PostOp* sum_of(const Op& op) {
    for (const auto& p : op.post_ops)
      if (p.kind == PostOp::Kind::sum) return &p;
    return nullptr;
  }

  /// Winograd F(m, 3x3) does 2.25-4x fewer multiplies than direct convolution; oneDNN has it
  /// for dense 3x3 stride-1 convolutions on AVX-512 CPUs only.
  bool winograd_eligible(const Op& op) const {
    return options_.winograd && op.groups == 1 && op.kernel[0] == 3 && op.kernel[1] == 3 &&
           op.stride[0] == 1 && op.stride[1] == 1 && op.dilation[0] == 1 && op.dilation[1] == 1;
  }

  /// The Winograd primitive, or nothing where oneDNN has no implementation for this CPU, shape
  /// or post-op chain (the caller then uses direct convolution).
  template <typename MakePd>
  static std::optional<dnnl::convolution_forward::primitive_desc> try_winograd(MakePd make_pd) {
    try {
      return make_pd();
    } catch (const dnnl::error& e) {
      if (e.status != dnnl_unimplemented) throw;
      return std::nullopt;
    }
  }

  void conv(const Op& op, size_t index) {
    const Dims& y = shapes_[op.output];
    StepSpec s;
    auto attr = attr_for(op, s, y);
    const Dims& xd = shapes_[op.inputs[0]];
    Dims wd = {op.out_channels, op.in_channels / op.groups, op.kernel[0], op.kernel[1]};
    memory::desc user_w = plain(wd);
    if (op.groups > 1) {
      wd = {op.groups, op.out_channels / op.groups, op.in_channels / op.groups, op.kernel[0],
            op.kernel[1]};
      user_w = memory::desc(to_dnnl(wd), dt::f32, tag::goihw);
    }
    const auto* sum = sum_of(op);
    const memory::desc dst = sum ? md_[sum->operand] : any(y);
    const memory::desc bias = op.bias.empty() ? memory::desc() : plain({op.out_channels});
    const memory::dims strides = {op.stride[0], op.stride[1]};
    const memory::dims dilation = {op.dilation[0] - 1, op.dilation[1] - 1};
    const memory::dims pad = {op.padding[0], op.padding[1]};
    auto make_pd = [&](algorithm alg, const memory::desc& dst_md) {
      dnnl::convolution_forward::desc desc(prop_kind::forward_inference, alg, any(xd),
                                           memory::desc(to_dnnl(wd), dt::f32, tag::any), bias,
                                           dst_md, strides, dilation, pad, pad);
      return dnnl::convolution_forward::primitive_desc(desc, attr, eng_);
    };
    std::optional<dnnl::convolution_forward::primitive_desc> pd;
    if (winograd_eligible(op)) {
      pd = try_winograd([&] { return make_pd(algorithm::convolution_winograd, dst); });
      // Winograd writes only its own blocked layout: a residual operand in another one (NHWC
      // after a stem that chose it) is copied into the output first (place_output).
      if (!pd && sum)
        pd = try_winograd([&] { return make_pd(algorithm::convolution_winograd, any(y)); });
    }
    if (!pd) pd = make_pd(algorithm::convolution_direct, dst);
    const int x = in_layout(op.inputs[0], pd->src_desc());
    s.fixed[DNNL_ARG_WEIGHTS] = pack(op.weight, user_w, pd->weights_desc());
    if (!op.bias.empty()) s.fixed[DNNL_ARG_BIAS] = pack(op.bias, bias, pd->bias_desc());
    place_output(op, index, pd->dst_desc());
    s.prim = dnnl::convolution_forward(*pd);
    s.values = {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, op.output}};
    push(std::move(s), *pd);
  }

  void linear(const Op& op, size_t index) {
    StepSpec s;
    const Dims& y = shapes_[op.output];
    auto attr = attr_for(op, s, y);
    // A flattened NCHW map is read in its own (possibly blocked) layout: the weights are
    // viewed as [O, C, H, W] and reordered to match, so no flatten copy is needed.
    const int x = op.inputs[0];
    const Dims xd = dims_of(md_[x]);
    Dims wd = xd;
    wd[0] = op.out_channels;
    const memory::desc bias = op.bias.empty() ? memory::desc() : plain({op.out_channels});
    const auto* sum = sum_of(op);
    dnnl::inner_product_forward::desc desc(prop_kind::forward_inference, md_[x],
                                           memory::desc(to_dnnl(wd), dt::f32, tag::any), bias,
                                           sum ? md_[sum->operand] : any(y));
    dnnl::inner_product_forward::primitive_desc pd(desc, attr, eng_);
    s.fixed[DNNL_ARG_WEIGHTS] = pack(op.weight, plain(wd), pd.weights_desc());
    if (!op.bias.empty()) s.fixed[DNNL_ARG_BIAS] = pack(op.bias, bias, pd.bias_desc());
    place_output(op, index, pd.dst_desc());
    s.prim = dnnl::inner_product_forward(pd);
    s.values = {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, op.output}};
    push(std::move(s), pd);
  }

  void activation(const Op& op) {
    const int x = op.inputs[0];
    md_[op.output] = md_[x];
    give_buffer(op.output);
    int from = x;
    for (const auto& e : eltwise_steps(op.act)) {
      StepSpec s;
      primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      dnnl::eltwise_forward::desc desc(prop_kind::forward_inference, e.alg, md_[x], e.alpha,
                                       e.beta);
      dnnl::eltwise_forward::primitive_desc pd(desc, attr, eng_);
      s.prim = dnnl::eltwise_forward(pd);
      s.values = {{DNNL_ARG_SRC, from}, {DNNL_ARG_DST, op.output}};
      push(std::move(s), pd);
      from = op.output;  // later steps work in place
    }
  }

  void pool(const Op& op, algorithm alg, const memory::dims& kernel, const memory::dims& stride,
            const memory::dims& pad) {
    StepSpec s;
    primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const int x = op.inputs[0];
    dnnl::pooling_forward::desc desc(prop_kind::forward_inference, alg, md_[x],
                                     any(shapes_[op.output]), stride, kernel, pad, pad);
    dnnl::pooling_forward::primitive_desc pd(desc, attr, eng_);
    md_[op.output] = pd.dst_desc();
    give_buffer(op.output);
    s.prim = dnnl::pooling_forward(pd);
    s.values = {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, op.output}};
    push(std::move(s), pd);
  }

  void reduce_channels(const Op& op) {
    StepSpec s;
    primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const int x = op.inputs[0];
    dnnl::reduction::desc desc(
        op.reduce == Reduce::mean ? algorithm::reduction_mean : algorithm::reduction_max, md_[x],
        any(shapes_[op.output]), 0.f, 0.f);
    dnnl::reduction::primitive_desc pd(desc, attr, eng_);
    md_[op.output] = pd.dst_desc();
    give_buffer(op.output);
    s.prim = dnnl::reduction(pd);
    s.values = {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, op.output}};
    push(std::move(s), pd);
  }

  void flatten(const Op& op) {
    // The 4-D layout stays: linear reads it as such; anything else gets a plain NCHW copy.
    const int x = op.inputs[0];
    const Dims& d = shapes_[x];
    const bool plain_rows =
        md_[x] == plain(d) || (d.size() == 4 && d[2] * d[3] == 1 &&
                               md_[x] == memory::desc(to_dnnl(d), dt::f32, tag::nhwc));
    if (plain_rows) {
      md_[op.output] = plain(shapes_[op.output]);
      return alias(op.output, x);
    }
    md_[op.output] = md_[x];
    alias(op.output, x);
  }

  void unflatten(const Op& op) {
    const int x = op.inputs[0];
    const Dims& y = shapes_[op.output];
    if (md_[x].dims().size() == 4) {
      md_[op.output] = md_[x];
      return alias(op.output, x);
    }
    const int p = in_layout(x, plain(shapes_[x]));
    md_[op.output] = plain(y);
    alias(op.output, p);
  }

  void binary(const Op& op, size_t index) {
    int a = op.inputs[0], b = op.inputs[1];
    // oneDNN broadcasts only the second source; every kind here commutes.
    if (shapes_[a] != shapes_[op.output]) std::swap(a, b);
    if (md_[a].dims().size() != md_[b].dims().size()) b = in_layout(b, plain(shapes_[b]));
    // oneDNN 2.6's jit binary kernels broadcast only a second source in the first's layout
    // (else the reference kernel, ~100x slower): SE/CBAM gates after a blocked conv output.
    if (auto want = same_layout(md_[a], shapes_[b])) b = in_layout(b, *want);
    StepSpec s;
    auto attr = attr_for(op, s, shapes_[op.output]);
    const algorithm alg = op.binary == BinaryKind::add   ? algorithm::binary_add
                          : op.binary == BinaryKind::mul ? algorithm::binary_mul
                                                         : algorithm::binary_max;
    const auto* sum = sum_of(op);
    dnnl::binary::desc desc(alg, md_[a], md_[b], sum ? md_[sum->operand] : md_[a]);
    dnnl::binary::primitive_desc pd(desc, attr, eng_);
    place_output(op, index, pd.dst_desc());
    s.prim = dnnl::binary(pd);
    s.values = {{DNNL_ARG_SRC_0, a}, {DNNL_ARG_SRC_1, b}, {DNNL_ARG_DST, op.output}};
    push(std::move(s), pd);
  }

  void concat(const Op& op) {
    std::vector<memory::desc> srcs;
    for (int v : op.inputs) srcs.push_back(md_[v]);
    primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::concat::primitive_desc pd(any(shapes_[op.output]), 1, srcs, eng_, attr);
    md_[op.output] = pd.dst_desc();
    give_buffer(op.output);
    StepSpec s;
    s.prim = dnnl::concat(pd);
    for (size_t i = 0; i < op.inputs.size(); ++i)
      s.values.push_back({DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), op.inputs[i]});
    s.values.push_back({DNNL_ARG_DST, op.output});
    push(std::move(s), pd);
  }

  void add_op(const Op& op, size_t index) {
    switch (op.kind) {
      case OpKind::conv:
        return conv(op, index);
      case OpKind::linear:
        return linear(op, index);
      case OpKind::activation:
        return activation(op);
      case OpKind::max_pool:
        return pool(op, algorithm::pooling_max, {op.kernel[0], op.kernel[1]},
                    {op.stride[0], op.stride[1]}, {op.padding[0], op.padding[1]});
      case OpKind::global_pool: {
        const Dims& x = shapes_[op.inputs[0]];
        return pool(op,
                    op.reduce == Reduce::mean ? algorithm::pooling_avg_exclude_padding
                                              : algorithm::pooling_max,
                    {x[2], x[3]}, {1, 1}, {0, 0});
      }
      case OpKind::reduce_channels:
        return reduce_channels(op);
      case OpKind::flatten:
        return flatten(op);
      case OpKind::unflatten_spatial:
        return unflatten(op);
      case OpKind::binary:
        return binary(op, index);
      case OpKind::concat_channels:
        return concat(op);
    }
  }

  void build() {
    md_.assign(graph_.num_values, memory::desc());
    buffer_of_.assign(graph_.num_values, -1);
    last_use_.assign(graph_.num_values, -1);
    for (size_t i = 0; i < graph_.ops.size(); ++i) {
      for (int v : graph_.ops[i].inputs) last_use_[v] = static_cast<int>(i);
      for (const auto& p : graph_.ops[i].post_ops)
        if (p.kind == PostOp::Kind::sum) last_use_[p.operand] = static_cast<int>(i);
    }
    last_use_[graph_.output] = static_cast<int>(graph_.ops.size());

    md_[graph_.input] = plain(shapes_[graph_.input]);
    buffer_of_[graph_.input] = kUserInput;
    for (size_t i = 0; i < graph_.ops.size(); ++i) {
      const Op& op = graph_.ops[i];
      try {
        const size_t first_step = specs_.size();
        const bool serial = is_serial(op);
        {
          OmpThreads scope(serial ? 1 : 0);
          add_op(op, i);
        }
        for (size_t k = first_step; k < specs_.size(); ++k) specs_[k].serial = serial;
      } catch (const dnnl::error& e) {
        throw Error(graph_.model + ": native engine (oneDNN): " + to_string(op.kind) + " " +
                    op.name + ": " + e.what());
      }
      for (int t : temps_) release(t);
      temps_.clear();
      std::vector<int> dead;
      for (int v : op.inputs) dead.push_back(v);
      for (const auto& p : op.post_ops)
        if (p.kind == PostOp::Kind::sum) dead.push_back(p.operand);
      std::sort(dead.begin(), dead.end());
      dead.erase(std::unique(dead.begin(), dead.end()), dead.end());
      for (int v : dead)
        if (last_use_[v] == static_cast<int>(i)) release(v);
    }
    // The result, in plain NCHW order, straight into the caller's buffer: written there by the
    // last primitive when it is a fresh plain value (a linear head), else reordered.
    const int out = graph_.output;
    const Dims out_dims = dims_of(md_[out]);
    if (writes_output_directly(out)) {
      buffer_of_[out] = kUserOutput;
      return bind(out);
    }
    const int user_out = new_value(plain(out_dims));
    buffer_of_[user_out] = kUserOutput;
    {
      StepSpec s;
      s.serial = true;
      s.prim = dnnl::reorder(dnnl::reorder::primitive_desc(eng_, md_[out], eng_, md_[user_out]));
      s.values = {{DNNL_ARG_FROM, out}, {DNNL_ARG_TO, user_out}};
      specs_.push_back(std::move(s));
    }
    bind(user_out);
  }

  bool writes_output_directly(int out) const {
    if (graph_.ops.empty() || graph_.ops.back().output != out) return false;
    const Op& last = graph_.ops.back();
    return last.kind == OpKind::linear && !sum_of_const(last) &&
           md_[out] == plain(dims_of(md_[out])) && buffer_of_[out] >= 0 &&
           refs_[buffer_of_[out]] == 1;
  }
  static const PostOp* sum_of_const(const Op& op) {
    for (const auto& p : op.post_ops)
      if (p.kind == PostOp::Kind::sum) return &p;
    return nullptr;
  }

  /// Allocates the buffers and turns the step specs into executable steps.
  void bind(int user_out) {
    for (size_t c : capacity_) {
      buffers_.push_back(allocate(c));
      bytes_ += static_cast<int64_t>(c);
    }
    bytes_ += static_cast<int64_t>(shared_->scratchpad.reserve(scratch_bytes_));
    scratch_bound_ = shared_->scratchpad.data();
    std::vector<memory> mem(md_.size());
    auto memory_of = [&](int v) -> memory& {
      if (!mem[v]) {
        const int b = buffer_of_[v];
        if (b == kUserInput || b == kUserOutput) {
          mem[v] = memory(md_[v], eng_, DNNL_MEMORY_NONE);
          (b == kUserInput ? input_mem_ : output_mem_) = mem[v];
        } else {
          if (b < 0) throw Error(graph_.model + ": native engine: value without memory");
          mem[v] = memory(md_[v], eng_, buffers_[b].get());
        }
      }
      return mem[v];
    };
    memory_of(graph_.input);
    memory_of(user_out);
    for (auto& spec : specs_) {
      Step step{spec.prim, std::move(spec.fixed), spec.serial};
      for (auto [arg, v] : spec.values) step.args[arg] = memory_of(v);
      if (spec.scratchpad.get_size() > 0)
        step.args[DNNL_ARG_SCRATCHPAD] = memory(spec.scratchpad, eng_, scratch_bound_);
      steps_.push_back(std::move(step));
    }
    specs_.clear();
  }

  OneDnnOptions options_;
  std::shared_ptr<ModelMemory> shared_;
  void* scratch_bound_ = nullptr;             // where the steps' scratchpad memory points
  std::vector<std::shared_ptr<void>> packs_;  // this plan's weights, some shared with others
  dnnl::engine eng_;
  dnnl::stream stream_;
  Graph graph_;
  std::vector<Dims> shapes_;
  std::vector<memory::desc> md_;
  std::vector<int> buffer_of_, last_use_, temps_;
  std::vector<size_t> capacity_;
  std::vector<int> refs_, free_;
  std::vector<StepSpec> specs_;
  std::vector<Step> steps_;
  std::vector<Block> buffers_;
  size_t scratch_bytes_ = 0;
  int64_t bytes_ = 0;
  memory input_mem_, output_mem_;
};

class OneDnnBackend final : public Backend {
 public:
  explicit OneDnnBackend(OneDnnOptions options) : options_(options) {}
  std::string name() const override { return "onednn"; }
  std::unique_ptr<Plan> compile(const Graph& graph, const Dims& input, int /*threads*/) override {
    // oneDNN's OpenMP kernels read the thread count when primitives are created; the caller
    // has set it (NativeModel keys plans by it).
    return std::make_unique<OneDnnPlan>(graph, input, options_, shared_);
  }

 private:
  OneDnnOptions options_;
  std::shared_ptr<ModelMemory> shared_ = std::make_shared<ModelMemory>();
};

}  // namespace

std::unique_ptr<Backend> make_onednn_backend(OneDnnOptions options) {
  return std::make_unique<OneDnnBackend>(options);
}

}  // namespace garbage::engine
