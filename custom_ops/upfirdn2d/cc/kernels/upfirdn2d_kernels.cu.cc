// CUDA kernel of upfirdn2d (float32 and float16): one thread per output element, the
// channel index fastest so that a warp reads consecutive channels of a pixel. Index math
// and filter rounding come from upfirdn2d.h, shared with the CPU kernel.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

// 1: always run the 64-bit-index kernels (scripts/gpu_check.sh builds such a variant to
// check them on small tensors; real tensors reach them only from 2^31 elements).
#ifndef SG2TF_CUDA_FORCE_WIDE_INDEX
#define SG2TF_CUDA_FORCE_WIDE_INDEX 0
#endif

#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d_gpu.h"

namespace sg2tf {
namespace upfirdn2d {
namespace {

struct FloatRound {
  static __device__ __forceinline__ float Round(float v) { return v; }
};
struct HalfRound {
  static __device__ __forceinline__ float Round(float v) {
    return __half2float(__float2half_rn(v));
  }
};

template <typename T> struct Traits;
template <> struct Traits<float> {
  typedef float Storage;
  typedef FloatRound Policy;
  static __device__ __forceinline__ float Load(const float* p) { return __ldg(p); }
  static __device__ __forceinline__ float Cast(float v) { return v; }
};
template <> struct Traits<Half16> {
  typedef __half Storage;
  typedef HalfRound Policy;
  static __device__ __forceinline__ float Load(const __half* p) { return __half2float(*p); }
  static __device__ __forceinline__ __half Cast(float v) { return __float2half_rn(v); }
};

// Output element (n, oy, ox, c): the weighted sum over its span.
template <typename T>
__device__ __forceinline__ float OutputValue(const Params& p,
                                             const typename Traits<T>::Storage* x,
                                             const float* f, int64_t n, int oy, int ox,
                                             int64_t c) {
  typedef Traits<T> Tr;
  typedef typename Tr::Policy P;
  const Span sy = TapSpan(oy, p.downy, p.upy, p.pady0, p.in_h, p.fh);
  const Span sx = TapSpan(ox, p.downx, p.upx, p.padx0, p.in_w, p.fw);
  float acc = 0.f;
  for (int a = 0; a < sy.count; ++a) {
    const int ky = sy.first_tap + a * p.upy;
    const int iy = sy.first_in + a;
    for (int b = 0; b < sx.count; ++b) {
      const int kx = sx.first_tap + b * p.upx;
      const float w = Weight<P>(p, f, ky, kx);
      acc += w * Tr::Load(x + InputOffset(p, n, iy, sx.first_in + b) + c);
    }
  }
  return acc;
}

// Outputs of fewer than 2^31 elements: 32-bit flat index, split into (n, oy, ox, c) by
// FastDivisor (divide instructions would dominate the cost of a few taps).
template <typename T>
__global__ void UpFirDn2DKernel32(Params p, const typename Traits<T>::Storage* x,
                                  const float* f, typename Traits<T>::Storage* y,
                                  FastDivisor div_c, FastDivisor div_w, FastDivisor div_h) {
  const uint32_t total = static_cast<uint32_t>(p.batch * p.out_h * p.out_w * p.channels);
  const uint32_t stride = blockDim.x * gridDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
    const uint32_t q = div_c.Div(i);  // (n * out_h + oy) * out_w + ox
    const uint32_t c = i - q * div_c.d;
    const uint32_t r = div_w.Div(q);  // n * out_h + oy
    const uint32_t ox = q - r * div_w.d;
    const uint32_t n = div_h.Div(r);
    const uint32_t oy = r - n * div_h.d;
    y[i] = Traits<T>::Cast(OutputValue<T>(p, x, f, n, static_cast<int>(oy),
                                          static_cast<int>(ox), c));
  }
}

// Larger outputs: 64-bit flat index.
template <typename T>
__global__ void UpFirDn2DKernel64(Params p, const typename Traits<T>::Storage* x,
                                  const float* f, typename Traits<T>::Storage* y) {
  const int64_t total = p.batch * p.out_h * p.out_w * p.channels;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    const int64_t c = i % p.channels;
    int64_t rest = i / p.channels;
    const int ox = static_cast<int>(rest % p.out_w);
    rest /= p.out_w;
    const int oy = static_cast<int>(rest % p.out_h);
    const int64_t n = rest / p.out_h;
    y[i] = Traits<T>::Cast(OutputValue<T>(p, x, f, n, oy, ox, c));
  }
}

}  // namespace

template <typename T>
int LaunchGpu(const Params& p, const void* x, const float* f, void* y, void* stream) {
  typedef typename Traits<T>::Storage S;
  const int64_t total = p.batch * p.out_h * p.out_w * p.channels;
  if (total == 0) return 0;
  const int threads = 256;
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > 65536) blocks = 65536;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (!SG2TF_CUDA_FORCE_WIDE_INDEX && total < (int64_t{1} << 31)) {
    UpFirDn2DKernel32<T><<<static_cast<unsigned>(blocks), threads, 0, s>>>(
        p, static_cast<const S*>(x), f, static_cast<S*>(y),
        FastDivisor::Make(static_cast<uint32_t>(p.channels)),
        FastDivisor::Make(static_cast<uint32_t>(p.out_w)),
        FastDivisor::Make(static_cast<uint32_t>(p.out_h)));
  } else {
    UpFirDn2DKernel64<T><<<static_cast<unsigned>(blocks), threads, 0, s>>>(
        p, static_cast<const S*>(x), f, static_cast<S*>(y));
  }
  return static_cast<int>(cudaGetLastError());
}

template int LaunchGpu<float>(const Params&, const void*, const float*, void*, void*);
template int LaunchGpu<Half16>(const Params&, const void*, const float*, void*, void*);

const char* GpuErrorString(int error) {
  return cudaGetErrorString(static_cast<cudaError_t>(error));
}

}  // namespace upfirdn2d
}  // namespace sg2tf
