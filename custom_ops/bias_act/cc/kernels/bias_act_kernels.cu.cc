// CUDA kernels of the fused bias + activation op (float32 and float16). The math is in
// bias_act.h, shared with the CPU kernels; only the element loop is here.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

// 1: always run the 64-bit-index kernels (scripts/gpu_check.sh builds such a variant to
// check them on small tensors; real tensors reach them only from 2^31 elements).
#ifndef SG2TF_CUDA_FORCE_WIDE_INDEX
#define SG2TF_CUDA_FORCE_WIDE_INDEX 0
#endif

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

// One element: forward or gradient of activation A (a template argument, so that the
// switches of bias_act.h fold away as in the CPU kernel).
template <typename T, int A>
__device__ __forceinline__ void Element(const GpuArgs& a, const Config& c, int64_t i,
                                        float bv) {
  typedef Traits<T> Tr;
  typedef typename Tr::Storage S;
  typedef typename Tr::Policy P;
  const float xv = Tr::Load(static_cast<const S*>(a.x), i);
  const float v = a.order == 0
                      ? Forward<P>(c, xv, bv)
                      : Grad<P>(c, a.order, Tr::Load(static_cast<const S*>(a.dy), i), xv, bv);
  Tr::Store(static_cast<S*>(a.out), i, v);
}

// Tensors of fewer than 2^31 elements: 32-bit indices, the bias index by FastDivisor
// (a divide instruction per element would make the kernel compute-bound).
template <typename T, int A>
__global__ void BiasActKernel32(GpuArgs a, FastDivisor inner, FastDivisor channels) {
  typedef Traits<T> Tr;
  typedef typename Tr::Storage S;
  Config c = a.config;
  c.act = A;
  const S* b = static_cast<const S*>(a.b);
  const uint32_t size = static_cast<uint32_t>(a.size);
  const uint32_t stride = blockDim.x * gridDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < size; i += stride) {
    float bv = 0.f;
    if (b) {
      const uint32_t q = inner.Div(i);
      bv = Tr::Load(b, q - channels.Div(q) * channels.d);
    }
    Element<T, A>(a, c, i, bv);
  }
}

// Larger tensors: 64-bit indices.
template <typename T, int A>
__global__ void BiasActKernel64(GpuArgs a) {
  typedef Traits<T> Tr;
  typedef typename Tr::Storage S;
  Config c = a.config;
  c.act = A;
  const S* b = static_cast<const S*>(a.b);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < a.size;
       i += stride) {
    const float bv = b ? Tr::Load(b, BiasIndex(i, a.channels, a.inner)) : 0.f;
    Element<T, A>(a, c, i, bv);
  }
}

template <typename T, int A>
void Launch(const GpuArgs& args, unsigned blocks, int threads, cudaStream_t stream) {
  if (!SG2TF_CUDA_FORCE_WIDE_INDEX && args.size < (int64_t{1} << 31)) {
    BiasActKernel32<T, A><<<blocks, threads, 0, stream>>>(
        args, FastDivisor::Make(static_cast<uint32_t>(args.inner)),
        FastDivisor::Make(static_cast<uint32_t>(args.channels)));
  } else {
    BiasActKernel64<T, A><<<blocks, threads, 0, stream>>>(args);
  }
}

}  // namespace

template <typename T>
int LaunchGpu(const GpuArgs& args, void* stream) {
  if (args.size == 0) return 0;
  if (args.config.act < kLinear || args.config.act > kSwish) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  const int threads = 256;
  int64_t blocks = (args.size + threads - 1) / threads;
  if (blocks > 65536) blocks = 65536;  // Grid-stride loop covers the rest.
  typedef void (*LaunchFn)(const GpuArgs&, unsigned, int, cudaStream_t);
  static const LaunchFn kLaunch[] = {Launch<T, kLinear>, Launch<T, kRelu>, Launch<T, kLrelu>,
                                     Launch<T, kTanh>, Launch<T, kSigmoid>, Launch<T, kElu>,
                                     Launch<T, kSelu>, Launch<T, kSoftplus>, Launch<T, kSwish>};
  kLaunch[args.config.act - 1](args, static_cast<unsigned>(blocks), threads,
                               static_cast<cudaStream_t>(stream));
  return static_cast<int>(cudaGetLastError());
}

template int LaunchGpu<float>(const GpuArgs&, void*);
template int LaunchGpu<Half16>(const GpuArgs&, void*);

const char* GpuErrorString(int error) {
  return cudaGetErrorString(static_cast<cudaError_t>(error));
}

}  // namespace bias_act
}  // namespace sg2tf
