// CUDA kernels of the fused bias + activation op (float32 and float16). The math is in
// bias_act.h, shared with the CPU kernels; only the element loop is here.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "custom_ops/bias_act/cc/kernels/bias_act_gpu.h"

namespace sg2tf {
namespace bias_act {
namespace {

struct GpuMath {
  static __device__ __forceinline__ float Exp(float v) { return expf(v); }
  static __device__ __forceinline__ float Tanh(float v) { return tanhf(v); }
  static __device__ __forceinline__ float Log1p(float v) { return log1pf(v); }
  static __device__ __forceinline__ float Sigmoid(float v) { return 1.f / (1.f + expf(-v)); }
};

struct GpuFloatPolicy : GpuMath {
  static __device__ __forceinline__ float Round(float v) { return v; }
};

struct GpuHalfPolicy {
  static __device__ __forceinline__ float Round(float v) {
    return __half2float(__float2half_rn(v));
  }
  static __device__ __forceinline__ float Exp(float v) { return Round(expf(v)); }
  static __device__ __forceinline__ float Tanh(float v) { return Round(tanhf(v)); }
  static __device__ __forceinline__ float Log1p(float v) { return Round(log1pf(v)); }
  // As the reference computes it in float16: 1 / (1 + exp(-v)), rounding every step.
  static __device__ __forceinline__ float Sigmoid(float v) {
    return Round(1.f / Round(1.f + Exp(-v)));
  }
};

template <typename T> struct Traits;
template <> struct Traits<float> {
  typedef float Storage;
  typedef GpuFloatPolicy Policy;
  static __device__ __forceinline__ float Load(const float* p, int64_t i) { return p[i]; }
  static __device__ __forceinline__ void Store(float* p, int64_t i, float v) { p[i] = v; }
};
template <> struct Traits<Half16> {
  typedef __half Storage;
  typedef GpuHalfPolicy Policy;
  static __device__ __forceinline__ float Load(const __half* p, int64_t i) {
    return __half2float(p[i]);
  }
  static __device__ __forceinline__ void Store(__half* p, int64_t i, float v) {
    p[i] = __float2half_rn(v);
  }
};

template <typename T>
__global__ void BiasActKernel(GpuArgs a) {
  typedef Traits<T> Tr;
  typedef typename Tr::Storage S;
  typedef typename Tr::Policy P;
  const S* x = static_cast<const S*>(a.x);
  const S* b = static_cast<const S*>(a.b);
  const S* dy = static_cast<const S*>(a.dy);
  S* out = static_cast<S*>(a.out);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < a.size;
       i += stride) {
    float xv = Tr::Load(x, i);
    float bv = b ? Tr::Load(b, BiasIndex(i, a.channels, a.inner)) : 0.f;
    float v = a.order == 0 ? Forward<P>(a.config, xv, bv)
                           : Grad<P>(a.config, a.order, Tr::Load(dy, i), xv, bv);
    Tr::Store(out, i, v);
  }
}

}  // namespace

template <typename T>
int LaunchGpu(const GpuArgs& args, void* stream) {
  if (args.size == 0) return 0;
  const int threads = 256;
  int64_t blocks = (args.size + threads - 1) / threads;
  if (blocks > 65536) blocks = 65536;  // Grid-stride loop covers the rest.
  BiasActKernel<T><<<static_cast<unsigned>(blocks), threads, 0,
                     static_cast<cudaStream_t>(stream)>>>(args);
  return static_cast<int>(cudaGetLastError());
}

template int LaunchGpu<float>(const GpuArgs&, void*);
template int LaunchGpu<Half16>(const GpuArgs&, void*);

const char* GpuErrorString(int error) {
  return cudaGetErrorString(static_cast<cudaError_t>(error));
}

}  // namespace bias_act
}  // namespace sg2tf
