// Host interface of the CUDA kernels of the fused bias + activation op. Plain C++ (no
// CUDA or TensorFlow headers), so that the TensorFlow kernel (.cc, host compiler) and the
// CUDA kernels (.cu.cc, nvcc) share it.
#ifndef SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_GPU_H_
#define SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_GPU_H_

#include <cstdint>

#include "custom_ops/bias_act/cc/kernels/bias_act.h"

namespace sg2tf {
namespace bias_act {

struct GpuArgs {
  const void* x;   // [size] of T.
  const void* b;   // [channels] of T, or null.
  const void* dy;  // [size] of T; gradients only.
  void* out;       // [size] of T.
  int64_t size;
  int64_t channels;  // Length of the bias axis (1 without a bias).
  int64_t inner;     // Elements after the bias axis.
  int order;         // 0: forward, 1..kMaxOrder: gradient of that order.
  Config config;
};

// Launches on `stream` (a cudaStream_t); returns a cudaError_t value (0 on success).
// T is float or Half16.
template <typename T>
int LaunchGpu(const GpuArgs& args, void* stream);

const char* GpuErrorString(int error);

}  // namespace bias_act
}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_GPU_H_
