// CPU kernel of upfirdn2d, free of TensorFlow (Eigen only for Eigen::half), so that the
// TensorFlow kernel (upfirdn2d_kernels.cc, which splits the rows of CpuPlan::RunRows over
// its thread pool) and the TensorFlow-free GPU check harness (scripts/gpu_check/) compile
// the same code. The two paths (separable and 2-D) are described in upfirdn2d_kernels.cc.
#ifndef SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_CPU_H_
#define SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_CPU_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "Eigen/Core"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d.h"

namespace sg2tf {
namespace upfirdn2d {

// Fills the parameters derived from the attributes and sizes: the tap scale
// gain ** (f_rank / 2) rounded to the storage type T (float or Eigen::half), and the
// output size (<= 0 when the output would be empty).
template <typename T>
void SetDerivedParams(Params* p, float gain, int f_rank) {
  const double scale = std::pow(static_cast<double>(gain), f_rank / 2.0);
  p->tap_scale = static_cast<float>(static_cast<T>(static_cast<float>(scale)));
  p->out_h = OutSize(p->in_h, p->upy, p->pady0, p->pady1, p->fh, p->downy);
  p->out_w = OutSize(p->in_w, p->upx, p->padx0, p->padx1, p->fw, p->downx);
}

template <typename T> struct CpuRound;
template <> struct CpuRound<float> {
  static float Round(float v) { return v; }
};
template <> struct CpuRound<Eigen::half> {
  static float Round(float v) { return static_cast<float>(Eigen::half(v)); }
};

template <typename T> inline float ToFloat(T v) { return static_cast<float>(v); }
template <typename T> inline T FromFloat(float v) { return static_cast<T>(v); }

// 8 floats; GCC lowers it to one AVX2 or two SSE registers per operation.
typedef float Vec8 __attribute__((vector_size(32)));

// acc += w * p[0..8) (p of float or T). References keep 256-bit vectors out of the
// baseline ABI; everything is inlined.
template <typename S>
inline __attribute__((always_inline)) void AddScaled8(Vec8& acc, const Vec8& w, const S* p) {
  Vec8 v;
  if constexpr (std::is_same<S, float>::value) {
    __builtin_memcpy(&v, p, sizeof(v));
  } else {
    float t[8];
    for (int c = 0; c < 8; ++c) t[c] = ToFloat(p[c]);
    __builtin_memcpy(&v, t, sizeof(v));
  }
  acc += w * v;
}

template <typename D>
inline __attribute__((always_inline)) void Store8(D* p, const Vec8& v) {
  if constexpr (std::is_same<D, float>::value) {
    __builtin_memcpy(p, &v, sizeof(v));
  } else {
    float t[8];
    __builtin_memcpy(t, &v, sizeof(v));
    for (int c = 0; c < 8; ++c) p[c] = FromFloat<D>(t[c]);
  }
}

// out[c] = sum_i w[i] * src[i][c] for c < len, summed in i order in float32 (src and out
// of float or T). Blocks of 32 channels stay in 4 vector registers while the terms are
// added, so each source vector is loaded once and each output stored once.
template <typename S, typename D>
inline __attribute__((always_inline)) void WeightedSum(const S* const* src, const float* w,
                                                       int terms, int64_t len,
                                                       D* __restrict out) {
  int64_t c0 = 0;
  for (; c0 + 32 <= len; c0 += 32) {
    Vec8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (int i = 0; i < terms; ++i) {
      const Vec8 wt = Vec8{} + w[i];
      const S* s = src[i] + c0;
      AddScaled8(a0, wt, s);
      AddScaled8(a1, wt, s + 8);
      AddScaled8(a2, wt, s + 16);
      AddScaled8(a3, wt, s + 24);
    }
    Store8(out + c0, a0);
    Store8(out + c0 + 8, a1);
    Store8(out + c0 + 16, a2);
    Store8(out + c0 + 24, a3);
  }
  for (; c0 + 8 <= len; c0 += 8) {
    Vec8 a0 = {};
    for (int i = 0; i < terms; ++i) AddScaled8(a0, Vec8{} + w[i], src[i] + c0);
    Store8(out + c0, a0);
  }
  for (; c0 < len; ++c0) {
    float acc = 0.f;
    for (int i = 0; i < terms; ++i) acc += w[i] * ToFloat(src[i][c0]);
    out[c0] = FromFloat<D>(acc);
  }
}

// Per-shard scratch: the terms of one weighted sum and the intermediate row.
template <typename T>
struct Scratch {
  std::vector<const T*> src;
  std::vector<const float*> tsrc;
  std::vector<float> wts;
  std::vector<float> tmp;
};

// What the row loops need; built once per call.
template <typename T>
struct CpuWork {
  const Params* p;
  const Span* spans_y;
  const Span* spans_x;
  const float* weights;  // 2-D path: [fh, fw], rounded and scaled.
  const float* wy;       // Separable path: [fh] and [fw], wy[ky] * wx[kx] = weight.
  const float* wx;
  const T* x;
  T* y;
};

// 2-D path, output rows [begin, end) of the flattened [batch * out_h] rows: each output
// pixel is the weighted sum of the input pixels its span visits.
template <typename T>
inline __attribute__((always_inline)) void Rows2D(const CpuWork<T>& w, int64_t begin,
                                                  int64_t end, Scratch<T>& s) {
  const Params& p = *w.p;
  const int64_t C = p.channels;
  const T** __restrict src = s.src.data();
  float* __restrict wts = s.wts.data();
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / p.out_h;
    const int oy = static_cast<int>(row % p.out_h);
    const Span sy = w.spans_y[oy];
    T* __restrict out = w.y + OutputOffset(p, n, oy, 0);
    for (int ox = 0; ox < p.out_w; ++ox, out += C) {
      const Span sx = w.spans_x[ox];
      int terms = 0;
      for (int a = 0; a < sy.count; ++a) {
        const float* wrow = w.weights + (sy.first_tap + a * p.upy) * p.fw;
        const T* xrow = w.x + InputOffset(p, n, sy.first_in + a, sx.first_in);
        for (int b = 0; b < sx.count; ++b) {
          src[terms] = xrow + b * C;
          wts[terms] = wrow[sx.first_tap + b * p.upx];
          ++terms;
        }
      }
      WeightedSum(src, wts, terms, C, out);
    }
  }
}

// Separable path, output rows [begin, end): a vertical pass over the input rows of the
// output row's span gives one filtered row tmp[in_w * C] (a contiguous weighted sum of
// whole rows), then a horizontal pass over tmp gives the output row. Only kept rows and
// columns are computed (the downsampling is folded into the spans) and only taps that
// land on input samples are visited, so inserted zeros cost nothing.
template <typename T>
inline __attribute__((always_inline)) void RowsSeparable(const CpuWork<T>& w, int64_t begin,
                                                         int64_t end, Scratch<T>& s) {
  const Params& p = *w.p;
  const int64_t C = p.channels;
  const int64_t row_len = static_cast<int64_t>(p.in_w) * C;
  const T** __restrict src = s.src.data();
  const float** __restrict tsrc = s.tsrc.data();
  float* __restrict wts = s.wts.data();
  float* __restrict tmp = s.tmp.data();
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / p.out_h;
    const int oy = static_cast<int>(row % p.out_h);
    const Span sy = w.spans_y[oy];
    for (int a = 0; a < sy.count; ++a) {
      src[a] = w.x + InputOffset(p, n, sy.first_in + a, 0);
      wts[a] = w.wy[sy.first_tap + a * p.upy];
    }
    WeightedSum(src, wts, sy.count, row_len, tmp);
    T* __restrict out = w.y + OutputOffset(p, n, oy, 0);
    for (int ox = 0; ox < p.out_w; ++ox, out += C) {
      const Span sx = w.spans_x[ox];
      for (int b = 0; b < sx.count; ++b) {
        tsrc[b] = tmp + (sx.first_in + b) * C;
        wts[b] = w.wx[sx.first_tap + b * p.upx];
      }
      WeightedSum(tsrc, wts, sx.count, C, out);
    }
  }
}

// Both loops compiled for AVX2 (8 floats per instruction) and for the baseline ISA,
// chosen at run time. FMA is not enabled, so both versions round identically.
template <typename T>
__attribute__((target("avx2"), noinline)) void Rows2DAvx2(const CpuWork<T>& w, int64_t begin,
                                                         int64_t end, Scratch<T>& s) {
  Rows2D<T>(w, begin, end, s);
}

template <typename T>
__attribute__((noinline)) void Rows2DBaseline(const CpuWork<T>& w, int64_t begin, int64_t end,
                                              Scratch<T>& s) {
  Rows2D<T>(w, begin, end, s);
}

template <typename T>
__attribute__((target("avx2"), noinline)) void RowsSeparableAvx2(const CpuWork<T>& w,
                                                                int64_t begin, int64_t end,
                                                                Scratch<T>& s) {
  RowsSeparable<T>(w, begin, end, s);
}

template <typename T>
__attribute__((noinline)) void RowsSeparableBaseline(const CpuWork<T>& w, int64_t begin,
                                                     int64_t end, Scratch<T>& s) {
  RowsSeparable<T>(w, begin, end, s);
}

inline bool HaveAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
#else
  return false;
#endif
}

// Relative tolerance of the separable factorization of a 2-D filter (float32 ulps of the
// largest weight): the two passes then agree with the 2-D sum to float32 rounding.
constexpr float kSeparableTol = 1e-6f;

// How one call runs: spans, weights, path and cost, independent of the data.
template <typename T>
struct CpuPlan {
  typedef void (*RowsFn)(const CpuWork<T>&, int64_t, int64_t, Scratch<T>&);
  std::vector<Span> spans_y, spans_x;
  std::vector<float> weights, wy, wx;
  bool separable = false;
  RowsFn rows_fn = nullptr;
  size_t terms = 0, tmp_len = 0;
  int64_t row_cost = 0;  // Per output row, for the thread pool's sharding.

  // force: 0 picks the cheaper path, > 0 the separable one where the filter allows,
  // < 0 the 2-D one (benchmarks and tests of the kernel itself).
  CpuPlan(const Params& p, const float* f, int force = 0) {
    typedef CpuRound<T> P;
    spans_y.resize(p.out_h);
    spans_x.resize(p.out_w);
    for (int o = 0; o < p.out_h; ++o) spans_y[o] = TapSpan(o, p.downy, p.upy, p.pady0, p.in_h, p.fh);
    for (int o = 0; o < p.out_w; ++o) spans_x[o] = TapSpan(o, p.downx, p.upx, p.padx0, p.in_w, p.fw);
    weights.resize(static_cast<size_t>(p.fh) * p.fw);
    for (int ky = 0; ky < p.fh; ++ky) {
      for (int kx = 0; kx < p.fw; ++kx) weights[ky * p.fw + kx] = Weight<P>(p, f, ky, kx);
    }
    wy.resize(p.fh);
    wx.resize(p.fw);
    // Taps visited per output pixel (at most) on each axis.
    const int taps_y = (p.fh + p.upy - 1) / p.upy;
    const int taps_x = (p.fw + p.upx - 1) / p.upx;
    // Multiply-adds (plus loads and stores of the intermediate row) per output row.
    const double cost_2d = static_cast<double>(taps_y) * taps_x * p.out_w;
    const double cost_sep = (taps_y + 1.0) * p.in_w + static_cast<double>(taps_x) * p.out_w;
    const bool want_sep = force ? force > 0 : cost_sep < cost_2d;
    separable = want_sep && SeparableWeights<P>(p, f, kSeparableTol, wy.data(), wx.data());
    const bool avx2 = HaveAvx2();
    rows_fn = separable ? (avx2 ? RowsSeparableAvx2<T> : RowsSeparableBaseline<T>)
                        : (avx2 ? Rows2DAvx2<T> : Rows2DBaseline<T>);
    terms = separable ? std::max(taps_y, taps_x) : taps_y * taps_x;
    tmp_len = separable ? static_cast<size_t>(p.in_w) * p.channels : 0;
    row_cost =
        static_cast<int64_t>(p.channels * (2.0 * (separable ? cost_sep : cost_2d) + p.out_w));
  }

  CpuWork<T> Work(const Params& p, const T* x, T* y) const {
    return CpuWork<T>{&p, spans_y.data(), spans_x.data(), weights.data(), wy.data(),
                      wx.data(), x, y};
  }

  void RunRows(const CpuWork<T>& work, int64_t begin, int64_t end) const {
    Scratch<T> s;
    s.src.resize(terms);
    s.tsrc.resize(terms);
    s.wts.resize(terms);
    s.tmp.resize(tmp_len);
    rows_fn(work, begin, end, s);
  }
};

}  // namespace upfirdn2d
}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_CPU_H_
