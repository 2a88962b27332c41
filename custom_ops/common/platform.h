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

// Division by a run-time constant d (>= 1) without a divide instruction, for dividends
// below 2^31: n / d = umulhi(n, m) >> s with m = ceil(2^(31 + l) / d), l = ceil(log2(d)),
// s = l - 1; exact because (m * d - 2^(31 + l)) * n < d * 2^31 <= 2^(31 + l). The CUDA
// kernels' index math uses it (64-bit and even 32-bit divisions would dominate their
// cost); host code gets the same result from a 64-bit product.
struct FastDivisor {
  uint32_t d, m, s;

  static FastDivisor Make(uint32_t d) {
    FastDivisor f;
    f.d = d;
    f.m = 0;
    f.s = 0;
    if (d > 1) {
      uint32_t l = 0;
      while ((uint64_t{1} << l) < d) ++l;
      f.m = static_cast<uint32_t>(((uint64_t{1} << (31 + l)) + d - 1) / d);
      f.s = l - 1;
    }
    return f;
  }

  SG2TF_HD uint32_t Div(uint32_t n) const {
    if (d <= 1) return n;
#if defined(__CUDA_ARCH__)
    return __umulhi(n, m) >> s;
#else
    return static_cast<uint32_t>((static_cast<uint64_t>(n) * m) >> 32) >> s;
#endif
  }
};

// 16-bit storage type used across the host/CUDA boundary for float16 tensors. It has
// the layout of both Eigen::half and CUDA's __half, so launchers take pointers to it.
struct alignas(2) Half16 {
  uint16_t bits;
};

}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_COMMON_PLATFORM_H_
