#pragma once
// The fused kernels' inner loops over raw float runs, without torch. loops.inc defines them once;
// loops_default.cpp / loops_avx2.cpp / loops_avx512.cpp compile it for one instruction set each
// (the last two with -mavx2 / -mavx512f, see CMakeLists.txt), and fused.cpp picks the widest
// one the CPU has at run time, so the binary stays portable to any x86-64.

#include <cstdint>

namespace garbage::kernels::loops {

/// Element-wise functions the loops are instantiated for (kernels::Act in the same order).
enum Kind { identity, relu, gelu, silu, mish, hardswish, hardsigmoid, kind_count };

/// One activation's loops. "Pre" loops compute BN(act(x)) (act before the normalisation, as in
/// SimpleCNN), "post" loops act(BN(x)) (ResNet, MobileNetV3). BN is written as
/// u*scale + shift per channel, u = x (post) or act(x) (pre). "plane" loops take one channel's
/// contiguous run (NCHW), "rows" loops R rows of C channels (channels-last).
struct BnLoops {
  /// sum and sum of squares of u over a plane / per channel over rows (added to the outputs).
  void (*stats_plane)(const float* x, int64_t n, double* sum, double* sumsq);
  void (*stats_rows)(const float* x, int64_t rows, int64_t c, double* sum, double* sumsq);
  void (*apply_plane)(const float* x, float* y, int64_t n, float scale, float shift);
  void (*apply_rows)(const float* x, float* y, int64_t rows, int64_t c, const float* scale,
                     const float* shift);
  /// With dz = grad * d act/dz (post) or grad (pre): sums of dz and dz*u (added to the outputs).
  void (*grad_sums_plane)(const float* g, const float* x, int64_t n, float scale, float shift,
                          double* sum_dz, double* sum_dz_u);
  void (*grad_sums_rows)(const float* g, const float* x, int64_t rows, int64_t c,
                         const float* scale, const float* shift, double* sum_dz, double* sum_dz_u);
  /// dx = d u/dx * (k1*dz + k2*u + k3).
  void (*grad_apply_plane)(const float* g, const float* x, float* dx, int64_t n, float scale,
                           float shift, float k1, float k2, float k3);
  void (*grad_apply_rows)(const float* g, const float* x, float* dx, int64_t rows, int64_t c,
                          const float* scale, const float* shift, const float* k1, const float* k2,
                          const float* k3);
};

struct ActLoops {
  void (*forward)(const float* x, float* y, int64_t n);
  void (*backward)(const float* g, const float* x, float* dx, int64_t n);
  BnLoops pre, post;
};

struct Table {
  const char* isa;
  ActLoops act[kind_count];
  /// y = relu(a + b), and its backward dx = y > 0 ? g : 0 (a residual block's end).
  void (*add_relu)(const float* a, const float* b, float* y, int64_t n);
  void (*add_relu_backward)(const float* y, const float* g, float* dx, int64_t n);
};

const Table& table_default();
const Table& table_avx2();
const Table& table_avx512();

}  // namespace garbage::kernels::loops
