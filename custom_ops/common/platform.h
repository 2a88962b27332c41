// Portability macros shared by the CPU (.cc) and CUDA (.cu.cc) sources of sg2tf ops.
// The per-element math of every op lives in headers that include this file, so that
// the CPU kernels (tested everywhere) and the CUDA kernels run the same code.
#ifndef SG2TF_CUSTOM_OPS_COMMON_PLATFORM_H_
#define SG2TF_CUSTOM_OPS_COMMON_PLATFORM_H_

#include <cstdint>

#if defined(__CUDACC__)
#define SG2TF_HD __host__ __device__ __forceinline__
#else
#define SG2TF_HD inline
#endif

namespace sg2tf {

// Floor division and modulo for possibly negative numerators (positive divisors).
SG2TF_HD int FloorDiv(int a, int b) { return (a >= 0) ? a / b : -((-a + b - 1) / b); }
SG2TF_HD int CeilDiv(int a, int b) { return -FloorDiv(-a, b); }
SG2TF_HD int MinInt(int a, int b) { return a < b ? a : b; }
SG2TF_HD int MaxInt(int a, int b) { return a > b ? a : b; }

// 16-bit storage type used across the host/CUDA boundary for float16 tensors. It has
// the layout of both Eigen::half and CUDA's __half, so launchers take pointers to it.
struct alignas(2) Half16 {
  uint16_t bits;
};

}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_COMMON_PLATFORM_H_
