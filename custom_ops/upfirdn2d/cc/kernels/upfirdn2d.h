// Index math and filter taps of upfirdn2d, shared by the CPU and CUDA kernels.
//
// In one dimension, with input length `in`, factors `up` and `down`, padding `pad0` and a
// filter of `taps` taps, output o is
//   sum_j w[j] * z[o * down + j - pad0],  j = 0 .. taps-1,
// where z is the input with up-1 zeros inserted after every sample (z[i * up] = x[i]) and
// zero outside [0, in * up), and w[j] = f[taps - 1 - j] (convolution) or f[j]
// (correlation, flip_filter). Only the window positions that land on input samples
// contribute: they form an arithmetic sequence, `TapSpan` below. This polyphase
// evaluation skips the inserted zeros, unlike the reference ops.
#ifndef SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_H_
#define SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_H_

#include <cmath>
#include <cstdint>

#include "custom_ops/common/platform.h"

namespace sg2tf {
namespace upfirdn2d {

struct Params {
  int64_t batch;
  int64_t channels;
  int in_h, in_w;
  int out_h, out_w;
  int upx, upy, downx, downy;
  int padx0, padx1, pady0, pady1;
  int fh, fw;         // Filter size; a separable filter has fh == fw taps.
  bool separable;     // f is 1-D: the 2-D filter is its outer product.
  bool flip;          // Correlation instead of convolution.
  float tap_scale;    // gain ** (filter rank / 2), rounded to the storage type.
};

// Output length in one dimension, or <= 0 when the padded input is shorter than the
// filter.
SG2TF_HD int OutSize(int in, int up, int pad0, int pad1, int taps, int down) {
  int span = in * up + pad0 + pad1 - taps;
  return span < 0 ? 0 : span / down + 1;
}

// The contributing window positions of output o: input samples first_in,
// first_in + 1, ... (count of them) meet window positions first_tap, first_tap + up, ...
struct Span {
  int first_in;
  int first_tap;
  int count;
};

SG2TF_HD Span TapSpan(int o, int down, int up, int pad0, int in, int taps) {
  const int start = o * down - pad0;  // Position of window position 0 in z.
  const int first = MaxInt(CeilDiv(start, up), 0);
  const int last = MinInt(FloorDiv(start + taps - 1, up), in - 1);
  Span s;
  s.first_in = first;
  s.first_tap = first * up - start;
  s.count = MaxInt(last - first + 1, 0);
  return s;
}

// Index into f of window position j.
SG2TF_HD int FilterIndex(int j, int taps, bool flip) { return flip ? j : taps - 1 - j; }

// Weight of window position (ky, kx), rounded like the reference ops round the filter
// (cast to the storage type, then multiplied by the gain factor). P::Round rounds to the
// storage type; `f` holds the filter as given (float32).
template <class P>
SG2TF_HD float Weight(const Params& p, const float* f, int ky, int kx) {
  const int fy = FilterIndex(ky, p.fh, p.flip);
  const int fx = FilterIndex(kx, p.fw, p.flip);
  if (p.separable) {
    return P::Round(P::Round(f[fy]) * p.tap_scale) * P::Round(P::Round(f[fx]) * p.tap_scale);
  }
  return P::Round(P::Round(f[fy * p.fw + fx]) * p.tap_scale);
}

// Per-axis weights of a filter whose 2-D weights are an outer product (the usual
// resampling filters). Fills wy[ky] (fh of them) and wx[kx] (fw) and returns true when
// wy[ky] * wx[kx] equals Weight<P>(p, f, ky, kx) within rel_tol * max |Weight| for every
// window position; a separable (1-D) f always qualifies, with its rounded taps on both
// axes (Weight<P> multiplies the same factors). For a 2-D f the factors are the pivot
// row and column (pivot: the largest weight) divided by sqrt(|pivot|), which reproduces
// filters such as outer([1,3,3,1], [1,3,3,1]) / 64 exactly. Host code only: the CPU
// kernel runs separable filters in two 1-D passes.
template <class P>
inline bool SeparableWeights(const Params& p, const float* f, float rel_tol, float* wy,
                             float* wx) {
  if (p.separable) {
    for (int k = 0; k < p.fh; ++k) {
      wy[k] = P::Round(P::Round(f[FilterIndex(k, p.fh, p.flip)]) * p.tap_scale);
    }
    for (int k = 0; k < p.fw; ++k) {
      wx[k] = P::Round(P::Round(f[FilterIndex(k, p.fw, p.flip)]) * p.tap_scale);
    }
    return true;
  }
  int py = 0, px = 0;
  float pivot = 0.f;
  for (int ky = 0; ky < p.fh; ++ky) {
    for (int kx = 0; kx < p.fw; ++kx) {
      const float v = Weight<P>(p, f, ky, kx);
      if (!(std::fabs(v) <= std::fabs(pivot))) {  // Also catches NaN.
        pivot = v;
        py = ky;
        px = kx;
      }
    }
  }
  if (!std::isfinite(pivot)) return false;
  const float scale = std::sqrt(std::fabs(pivot));
  const float sign = pivot < 0.f ? -1.f : 1.f;
  for (int ky = 0; ky < p.fh; ++ky) wy[ky] = pivot == 0.f ? 0.f : Weight<P>(p, f, ky, px) / scale;
  for (int kx = 0; kx < p.fw; ++kx) {
    wx[kx] = pivot == 0.f ? 0.f : Weight<P>(p, f, py, kx) / scale * sign;
  }
  const float limit = rel_tol * std::fabs(pivot);
  for (int ky = 0; ky < p.fh; ++ky) {
    for (int kx = 0; kx < p.fw; ++kx) {
      if (!(std::fabs(wy[ky] * wx[kx] - Weight<P>(p, f, ky, kx)) <= limit)) return false;
    }
  }
  return true;
}

// Flat NHWC index of input pixel (n, iy, ix), channel 0.
SG2TF_HD int64_t InputOffset(const Params& p, int64_t n, int iy, int ix) {
  return ((n * p.in_h + iy) * p.in_w + ix) * p.channels;
}

SG2TF_HD int64_t OutputOffset(const Params& p, int64_t n, int oy, int ox) {
  return ((n * p.out_h + oy) * p.out_w + ox) * p.channels;
}

}  // namespace upfirdn2d
}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_H_
