#include "garbage/kernels/fused.hpp"

#include <atomic>
#include <cmath>
#include <optional>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/torch.h>

#include "garbage/core/errors.hpp"
#include "loops.hpp"

namespace garbage::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

thread_local bool fused_on = false;
thread_local int replica_index = 0;
thread_local std::optional<at::Generator> replica_generator;

/// The generator dropout draws from: the replica's, or (none) the process-wide default.
c10::optional<at::Generator> dropout_generator() {
  if (replica_generator) return *replica_generator;
  return c10::nullopt;
}
std::atomic<const RankSum*> rank_sum{nullptr};  // SyncBatchNormScope's

const loops::Table& pick_table() {
  // Runtime dispatch keeps the binary portable; the loops need AVX-512 F/DQ/BW/VL or AVX2+FMA.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return loops::table_avx512();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return loops::table_avx2();
  return loops::table_default();
}

const loops::Table& table() {
  static const loops::Table& t = pick_table();
  return t;
}

const loops::ActLoops& loops_of(Act act) {
  return table().act[static_cast<int>(act)];
}

const char* fused_name(Act act) {
  static const char* names[] = {"garbage::fused_identity",   "garbage::fused_relu",
                                "garbage::fused_gelu",       "garbage::fused_silu",
                                "garbage::fused_mish",       "garbage::fused_hardswish",
                                "garbage::fused_hardsigmoid"};
  return names[static_cast<int>(act)];
}

at::Tensor plain_activation(Act act, const at::Tensor& x) {
  switch (act) {
    case Act::identity:
      return x;
    case Act::relu:
      return at::relu(x);
    case Act::gelu:
      return at::gelu(x);
    case Act::silu:
      return at::silu(x);
    case Act::mish:
      return at::mish(x);
    case Act::hardswish:
      return at::hardswish(x);
    case Act::hardsigmoid:
      return at::hardsigmoid(x);
  }
  return x;
}

/// Channels-last tensors run as rows of C channels; everything else as NCHW planes.
bool is_rows_layout(const at::Tensor& x) {
  return x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

/// x as a dense tensor the loops can walk: itself when contiguous or channels-last.
at::Tensor dense(const at::Tensor& x) {
  if (x.is_contiguous() || is_rows_layout(x)) return x;
  return x.contiguous();
}

/// `g` laid out like `like` (gradients may arrive in another layout than the input had).
at::Tensor like_layout(const at::Tensor& g, const at::Tensor& like) {
  if (is_rows_layout(like))
    return g.is_contiguous(at::MemoryFormat::ChannelsLast)
               ? g
               : g.contiguous(at::MemoryFormat::ChannelsLast);
  return g.contiguous();
}

constexpr int64_t kGrain = 32768;  // elements per parallel task

class ActivationFn : public torch::autograd::Function<ActivationFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, int64_t kind) {
    const Act act = static_cast<Act>(kind);
    RECORD_FUNCTION(fused_name(act), std::vector<c10::IValue>());
    const at::Tensor x = dense(input);
    at::Tensor y = at::empty_like(x);
    const auto fn = loops_of(act).forward;
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, x.numel(), kGrain,
                     [&](int64_t begin, int64_t end) { fn(xp + begin, yp + begin, end - begin); });
    ctx->save_for_backward({x});
    ctx->saved_data["kind"] = kind;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Act act = static_cast<Act>(ctx->saved_data["kind"].toInt());
    RECORD_FUNCTION(fused_name(act), std::vector<c10::IValue>());
    const at::Tensor x = ctx->get_saved_variables()[0];
    const at::Tensor g = like_layout(grads[0], x);
    at::Tensor dx = at::empty_like(x);
    const auto fn = loops_of(act).backward;
    const float* gp = g.data_ptr<float>();
    const float* xp = x.data_ptr<float>();
    float* dp = dx.data_ptr<float>();
    at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      fn(gp + begin, xp + begin, dp + begin, end - begin);
    });
    return {dx, at::Tensor()};
  }
};

/// [N, C, H, W] seen as NCHW planes or channels-last rows.
struct Shape {
  int64_t n, c, hw;
  bool rows;
  int64_t count() const { return n * hw; }  // values per channel
};

Shape shape_of(const at::Tensor& x) {
  return {x.size(0), x.size(1), x.size(2) * x.size(3), is_rows_layout(x)};
}

/// Per-channel sums s1, s2 (doubles, [2, C]) of a plane or rows loop. Rows are summed in fixed
/// chunks added up in order, so the result does not depend on the thread count.
template <class PlaneFn, class RowsFn>
std::vector<double> channel_sums(const Shape& s, PlaneFn plane, RowsFn rows) {
  std::vector<double> out(2 * s.c, 0.0);
  if (!s.rows) {
    at::parallel_for(0, s.c, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t i = 0; i < s.n; ++i) plane(i * s.c + c, c, &out[c], &out[s.c + c]);
    });
    return out;
  }
  const int64_t total = s.count();
  const int64_t chunk = std::max<int64_t>(1, 65536 / s.c);
  const int64_t chunks = (total + chunk - 1) / chunk;
  std::vector<double> partial(chunks * 2 * s.c, 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      double* p = &partial[k * 2 * s.c];
      rows(k * chunk, std::min(chunk, total - k * chunk), p, p + s.c);
    }
  });
  for (int64_t k = 0; k < chunks; ++k)
    for (int64_t j = 0; j < 2 * s.c; ++j) out[j] += partial[k * 2 * s.c + j];
  return out;
}

/// Runs a plane loop over every (n, c) plane or a rows loop over row ranges, in parallel.
template <class PlaneFn, class RowsFn>
void for_each_run(const Shape& s, PlaneFn plane, RowsFn rows) {
  if (!s.rows) {
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, s.hw));
    at::parallel_for(0, s.n * s.c, grain, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) plane(p, p % s.c);
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kGrain / s.c);
  at::parallel_for(0, s.count(), grain, [&](int64_t r0, int64_t r1) { rows(r0, r1 - r0); });
}

std::vector<float> to_floats(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

/// BatchNorm's training step with the activation before (pre) or after it.
class BatchNormFn : public torch::autograd::Function<BatchNormFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& running_mean,
                            const at::Tensor& running_var, double momentum, double eps,
                            int64_t kind, bool pre) {
    const Act act = static_cast<Act>(kind);
    RECORD_FUNCTION(pre ? "garbage::fused_act_batchnorm" : "garbage::fused_batchnorm_act",
                    std::vector<c10::IValue>());
    const at::Tensor x = dense(input);
    const Shape s = shape_of(x);
    const loops::BnLoops& l = pre ? loops_of(act).pre : loops_of(act).post;
    const float* xp = x.data_ptr<float>();

    auto sums = channel_sums(
        s,
        [&](int64_t plane, int64_t, double* a, double* b) {
          l.stats_plane(xp + plane * s.hw, s.hw, a, b);
        },
        [&](int64_t r0, int64_t n, double* a, double* b) {
          l.stats_rows(xp + r0 * s.c, n, s.c, a, b);
        });

    double m = static_cast<double>(s.count());
    const RankSum* sync = rank_sum.load();
    if (sync) {  // SyncBatchNorm: the global batch's sums and count
      sums.push_back(m);
      (*sync)(sums);
      m = sums.back();
      sums.pop_back();
    }
    const std::vector<float> w = to_floats(weight), b = to_floats(bias);
    at::Tensor mean = at::empty({s.c}, at::kDouble), invstd = at::empty({s.c}, at::kDouble);
    double* mp = mean.data_ptr<double>();
    double* ip = invstd.data_ptr<double>();
    std::vector<float> scale(s.c), shift(s.c);
    {
      at::NoGradGuard no_grad;
      // Replicas of one batch share the buffers and see the same statistics: one updates them.
      const bool update = updates_running_stats();
      float* rm = update && running_mean.defined() ? running_mean.data_ptr<float>() : nullptr;
      float* rv = update && running_var.defined() ? running_var.data_ptr<float>() : nullptr;
      for (int64_t c = 0; c < s.c; ++c) {
        mp[c] = sums[c] / m;
        const double var = std::max(0.0, sums[s.c + c] / m - mp[c] * mp[c]);
        ip[c] = 1.0 / std::sqrt(var + eps);
        scale[c] = static_cast<float>(ip[c] * w[c]);
        shift[c] = static_cast<float>(b[c] - mp[c] * ip[c] * w[c]);
        // As torch: running = momentum * batch + (1 - momentum) * running, unbiased variance.
        if (rm) rm[c] = static_cast<float>(momentum * mp[c] + (1 - momentum) * rm[c]);
        if (rv) rv[c] = static_cast<float>(momentum * var * m / (m - 1) + (1 - momentum) * rv[c]);
      }
    }

    at::Tensor y = at::empty_like(x);
    float* yp = y.data_ptr<float>();
    for_each_run(
        s,
        [&](int64_t plane, int64_t c) {
          l.apply_plane(xp + plane * s.hw, yp + plane * s.hw, s.hw, scale[c], shift[c]);
        },
        [&](int64_t r0, int64_t n) {
          l.apply_rows(xp + r0 * s.c, yp + r0 * s.c, n, s.c, scale.data(), shift.data());
        });

    ctx->save_for_backward({x, weight, bias, mean, invstd});
    ctx->saved_data["kind"] = kind;
    ctx->saved_data["pre"] = pre;
    ctx->saved_data["count"] = m;
    ctx->saved_data["synced"] = sync != nullptr;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Act act = static_cast<Act>(ctx->saved_data["kind"].toInt());
    const bool pre = ctx->saved_data["pre"].toBool();
    RECORD_FUNCTION(
        pre ? "garbage::fused_act_batchnorm_backward" : "garbage::fused_batchnorm_act_backward",
        std::vector<c10::IValue>());
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor g = like_layout(grads[0], x);
    const Shape s = shape_of(x);
    const loops::BnLoops& l = pre ? loops_of(act).pre : loops_of(act).post;
    const std::vector<float> w = to_floats(saved[1]), b = to_floats(saved[2]);
    const double* mp = saved[3].data_ptr<double>();
    const double* ip = saved[4].data_ptr<double>();
    std::vector<float> scale(s.c), shift(s.c);
    for (int64_t c = 0; c < s.c; ++c) {
      scale[c] = static_cast<float>(ip[c] * w[c]);
      shift[c] = static_cast<float>(b[c] - mp[c] * ip[c] * w[c]);
    }
    const float* xp = x.data_ptr<float>();
    const float* gp = g.data_ptr<float>();

    const auto sums = channel_sums(
        s,
        [&](int64_t plane, int64_t c, double* a, double* bb) {
          l.grad_sums_plane(gp + plane * s.hw, xp + plane * s.hw, s.hw, scale[c], shift[c], a, bb);
        },
        [&](int64_t r0, int64_t n, double* a, double* bb) {
          l.grad_sums_rows(gp + r0 * s.c, xp + r0 * s.c, n, s.c, scale.data(), shift.data(), a, bb);
        });

    // Synchronised, the input gradient needs the global batch's sums; the weight and bias
    // gradients stay this rank's (data parallelism averages them afterwards).
    std::vector<double> global = sums;
    if (ctx->saved_data["synced"].toBool()) {
      const RankSum* sync = rank_sum.load();
      if (!sync) throw Error("SyncBatchNorm: backward ran after its scope ended");
      (*sync)(global);
    }
    // d/du of the normalisation: w invstd (dz - mean(dz) - uhat mean(dz uhat)) = k1 dz + k2 u + k3
    const double m = ctx->saved_data["count"].toDouble();
    at::Tensor grad_weight = at::empty({s.c}, at::kFloat);
    at::Tensor grad_bias = at::empty({s.c}, at::kFloat);
    std::vector<float> k1(s.c), k2(s.c), k3(s.c);
    for (int64_t c = 0; c < s.c; ++c) {
      const double sum_dz = sums[c];
      const double sum_dz_uhat = ip[c] * (sums[s.c + c] - mp[c] * sum_dz);
      grad_bias.data_ptr<float>()[c] = static_cast<float>(sum_dz);
      grad_weight.data_ptr<float>()[c] = static_cast<float>(sum_dz_uhat);
      const double all_dz = global[c];
      const double all_dz_uhat = ip[c] * (global[s.c + c] - mp[c] * all_dz);
      const double wi = w[c] * ip[c];
      k1[c] = static_cast<float>(wi);
      k2[c] = static_cast<float>(-wi * ip[c] * all_dz_uhat / m);
      k3[c] = static_cast<float>(wi * (-all_dz / m + ip[c] * mp[c] * all_dz_uhat / m));
    }

    at::Tensor dx = at::empty_like(x);
    float* dp = dx.data_ptr<float>();
    for_each_run(
        s,
        [&](int64_t plane, int64_t c) {
          const int64_t o = plane * s.hw;
          l.grad_apply_plane(gp + o, xp + o, dp + o, s.hw, scale[c], shift[c], k1[c], k2[c], k3[c]);
        },
        [&](int64_t r0, int64_t n) {
          const int64_t o = r0 * s.c;
          l.grad_apply_rows(gp + o, xp + o, dp + o, n, s.c, scale.data(), shift.data(), k1.data(),
                            k2.data(), k3.data());
        });
    return {dx,
            grad_weight.to(saved[1].dtype()),
            grad_bias.to(saved[2].dtype()),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }
};

/// Offsets of x's element (n, c, h, w) and of its NCHW / channels-last neighbours.
struct Strides4 {
  int64_t n, c, h, w;
};

Strides4 strides_of(const at::Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

/// 2x2 max-pooling (stride 2) with dropout; saves the winning window position per output
/// (0..3, as uint8) and the dropout scale (mask / (1 - p)), not the input.
class MaxPoolDropoutFn : public torch::autograd::Function<MaxPoolDropoutFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, double p) {
    RECORD_FUNCTION("garbage::fused_maxpool2_dropout", std::vector<c10::IValue>());
    const at::Tensor x = dense(input);
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const int64_t ho = h / 2, wo = w / 2;
    const auto format =
        is_rows_layout(x) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    at::Tensor y = at::empty({n, c, ho, wo}, x.options().memory_format(format));
    at::Tensor index =
        at::empty({n, c, ho, wo}, x.options().dtype(at::kByte).memory_format(format));
    // torch's dropout: contiguous noise, bernoulli_(1 - p), divided by (1 - p) in float.
    at::Tensor noise;
    if (p > 0) {
      noise = at::empty({n, c, ho, wo}, x.options()).bernoulli_(1 - p, dropout_generator());
      noise.div_(1 - p);
    }
    const Strides4 xs = strides_of(x), ys = strides_of(y);
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    uint8_t* ip = index.data_ptr<uint8_t>();
    const float* np = noise.defined() ? noise.data_ptr<float>() : nullptr;
    const bool rows = format == at::MemoryFormat::ChannelsLast;
    // Channels-last walks channels innermost (contiguous), NCHW walks output columns.
    at::parallel_for(0, n * ho, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, c * wo)),
                     [&](int64_t r0, int64_t r1) {
                       for (int64_t r = r0; r < r1; ++r) {
                         const int64_t b = r / ho, oh = r % ho;
                         // outer/inner: (ow, ch) channels-last, (ch, ow) NCHW
                         const int64_t outer = rows ? wo : c, inner = rows ? c : wo;
                         for (int64_t a = 0; a < outer; ++a)
                           for (int64_t e = 0; e < inner; ++e) {
                             const int64_t ch = rows ? e : a, ow = rows ? a : e;
                             const float* win =
                                 xp + b * xs.n + ch * xs.c + 2 * oh * xs.h + 2 * ow * xs.w;
                             // As torch: the first maximum wins, NaN propagates.
                             const float cand[4] = {win[0], win[xs.w], win[xs.h], win[xs.h + xs.w]};
                             float best = cand[0];
                             uint8_t k = 0;
                             for (uint8_t j = 1; j < 4; ++j)
                               if (cand[j] > best || std::isnan(cand[j])) {
                                 best = cand[j];
                                 k = j;
                               }
                             const int64_t o = b * ys.n + ch * ys.c + oh * ys.h + ow * ys.w;
                             yp[o] = np ? best * np[((b * c + ch) * ho + oh) * wo + ow] : best;
                             ip[o] = k;
                           }
                       }
                     });
    ctx->save_for_backward({index, noise});
    ctx->saved_data["h"] = h;
    ctx->saved_data["w"] = w;
    ctx->saved_data["rows"] = rows;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    RECORD_FUNCTION("garbage::fused_maxpool2_dropout_backward", std::vector<c10::IValue>());
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& index = saved[0];
    const at::Tensor& noise = saved[1];
    const int64_t h = ctx->saved_data["h"].toInt(), w = ctx->saved_data["w"].toInt();
    const bool rows = ctx->saved_data["rows"].toBool();
    const auto format = rows ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    const at::Tensor g = grads[0].contiguous(format);
    const int64_t n = index.size(0), c = index.size(1), ho = index.size(2), wo = index.size(3);
    at::Tensor dx = at::empty({n, c, h, w}, g.options().memory_format(format));
    const Strides4 ds = strides_of(dx), gs = strides_of(g);
    const float* gp = g.data_ptr<float>();
    const uint8_t* ip = index.data_ptr<uint8_t>();
    const float* np = noise.defined() ? noise.data_ptr<float>() : nullptr;
    float* dp = dx.data_ptr<float>();
    // Every input gradient is written once: the window's winner gets the output's gradient,
    // the rest (and a leftover odd row or column) get zero.
    at::parallel_for(0, n * h, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, c * w)),
                     [&](int64_t r0, int64_t r1) {
                       for (int64_t r = r0; r < r1; ++r) {
                         const int64_t b = r / h, ih = r % h, oh = ih / 2;
                         const int64_t outer = rows ? w : c, inner = rows ? c : w;
                         for (int64_t a = 0; a < outer; ++a)
                           for (int64_t e = 0; e < inner; ++e) {
                             const int64_t ch = rows ? e : a, iw = rows ? a : e;
                             const int64_t ow = iw / 2;
                             float v = 0.0f;
                             if (oh < ho && ow < wo) {
                               const int64_t o = b * gs.n + ch * gs.c + oh * gs.h + ow * gs.w;
                               const int k = (ih % 2) * 2 + (iw % 2);
                               if (ip[o] == k) {
                                 v = gp[o];
                                 if (np) v *= np[((b * c + ch) * ho + oh) * wo + ow];
                               }
                             }
                             dp[b * ds.n + ch * ds.c + ih * ds.h + iw * ds.w] = v;
                           }
                       }
                     });
    return {dx, at::Tensor()};
  }
};

class AddReluFn : public torch::autograd::Function<AddReluFn> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b) {
    RECORD_FUNCTION("garbage::fused_add_relu", std::vector<c10::IValue>());
    at::Tensor y = at::empty_like(a);
    const float* ap = a.data_ptr<float>();
    const float* bp = b.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    const auto fn = table().add_relu;
    at::parallel_for(0, a.numel(), kGrain, [&](int64_t begin, int64_t end) {
      fn(ap + begin, bp + begin, yp + begin, end - begin);
    });
    ctx->save_for_backward({y});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    RECORD_FUNCTION("garbage::fused_add_relu_backward", std::vector<c10::IValue>());
    const at::Tensor y = ctx->get_saved_variables()[0];
    const at::Tensor g = like_layout(grads[0], y);
    at::Tensor d = at::empty_like(y);
    const float* yp = y.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    float* dp = d.data_ptr<float>();
    const auto fn = table().add_relu_backward;
    at::parallel_for(0, y.numel(), kGrain, [&](int64_t begin, int64_t end) {
      fn(yp + begin, gp + begin, dp + begin, end - begin);
    });
    return {d, d};
  }
};

bool bn_supported(const at::Tensor& x, const BatchNormState& bn) {
  return supports(x) && x.dim() == 4 && bn.weight.defined() && bn.bias.defined() &&
         bn.weight.scalar_type() == at::kFloat && bn.bias.scalar_type() == at::kFloat &&
         (!bn.running_mean.defined() || bn.running_mean.is_contiguous()) &&
         (!bn.running_var.defined() || bn.running_var.is_contiguous()) &&
         x.size(0) * x.size(2) * x.size(3) > 1;  // torch's error for one value per channel
}

at::Tensor plain_batchnorm(const at::Tensor& x, const BatchNormState& bn) {
  if (batchnorm_synced())
    throw Error(
        "train.sync_bn: a BatchNorm input the synchronised kernel does not cover (it needs a "
        "float32 CPU tensor [N, C, H, W], contiguous or channels-last, and an affine layer)");
  return at::batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                        /*training=*/true, bn.momentum, bn.eps, /*cudnn_enabled=*/false);
}

}  // namespace

bool enabled() {
  return fused_on;
}

FusedScope::FusedScope(bool on) : previous_(fused_on) {
  fused_on = on;
}
FusedScope::~FusedScope() {
  fused_on = previous_;
}

SyncBatchNormScope::SyncBatchNormScope(RankSum sum) : sum_(std::move(sum)) {
  const RankSum* expected = nullptr;
  if (!rank_sum.compare_exchange_strong(expected, &sum_))
    throw Error("SyncBatchNormScope: one is already active");
}
SyncBatchNormScope::~SyncBatchNormScope() {
  rank_sum.store(nullptr);
}

bool batchnorm_synced() {
  return rank_sum.load() != nullptr;
}

ReplicaScope::ReplicaScope(int index, at::Generator generator)
    : previous_index_(replica_index), previous_generator_(replica_generator) {
  replica_index = index;
  replica_generator = std::move(generator);
}
ReplicaScope::~ReplicaScope() {
  replica_index = previous_index_;
  replica_generator = previous_generator_;
}

bool updates_running_stats() {
  return replica_index == 0;
}

bool has_replica_generator() {
  return replica_generator.has_value();
}

at::Tensor dropout(const at::Tensor& x, double p) {
  if (p <= 0) return x;
  if (p >= 1) return x * at::zeros_like(x);
  // As torch's _dropout_impl: bernoulli_(1 - p) noise divided by (1 - p), then one multiply.
  at::Tensor noise = at::empty_like(x, at::MemoryFormat::Contiguous);
  noise.bernoulli_(1 - p, dropout_generator());
  noise.div_(1 - p);
  return x * noise;
}

const char* isa() {
  return table().isa;
}

bool supports(const at::Tensor& x) {
  return x.defined() && x.device().is_cpu() && x.scalar_type() == at::kFloat && !x.is_sparse() &&
         x.numel() > 0;
}

at::Tensor activation(Act act, const at::Tensor& x) {
  if (act == Act::identity) return x;
  if (!supports(x)) return plain_activation(act, x);
  return ActivationFn::apply(x, static_cast<int64_t>(act));
}

at::Tensor activation_batchnorm(Act act, const at::Tensor& x, const BatchNormState& bn) {
  if (!bn_supported(x, bn)) return plain_batchnorm(plain_activation(act, x), bn);
  return BatchNormFn::apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.momentum,
                            bn.eps, static_cast<int64_t>(act), true);
}

at::Tensor add_relu(const at::Tensor& a, const at::Tensor& b) {
  const bool same_layout = supports(a) && supports(b) && a.sizes() == b.sizes() &&
                           a.strides() == b.strides() && (a.is_contiguous() || is_rows_layout(a));
  if (!same_layout) return at::relu(a + b);
  return AddReluFn::apply(a, b);
}

at::Tensor maxpool2_dropout(const at::Tensor& x, double p) {
  if (!supports(x) || x.dim() != 4 || x.size(2) < 2 || x.size(3) < 2 || p >= 1) {
    at::Tensor y = at::max_pool2d(x, {2, 2}, {2, 2});
    return p > 0 ? at::dropout(y, p, /*train=*/true) : y;
  }
  return MaxPoolDropoutFn::apply(x, p);
}

at::Tensor batchnorm_activation(const at::Tensor& x, const BatchNormState& bn, Act act) {
  if (!bn_supported(x, bn)) return plain_activation(act, plain_batchnorm(x, bn));
  return BatchNormFn::apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.momentum,
                            bn.eps, static_cast<int64_t>(act), false);
}

}  // namespace garbage::kernels
