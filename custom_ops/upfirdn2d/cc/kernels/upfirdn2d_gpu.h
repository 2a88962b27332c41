// Host interface of the CUDA kernel of upfirdn2d; plain C++, shared by the TensorFlow
// kernel (.cc) and the CUDA source (.cu.cc).
#ifndef SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_GPU_H_
#define SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_GPU_H_

#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d.h"

namespace sg2tf {
namespace upfirdn2d {

// x: [batch, in_h, in_w, channels] of T; f: filter (float32, on the device);
// y: [batch, out_h, out_w, channels] of T. T is float or Half16. Returns a cudaError_t.
template <typename T>
int LaunchGpu(const Params& p, const void* x, const float* f, void* y, void* stream);

const char* GpuErrorString(int error);

}  // namespace upfirdn2d
}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_UPFIRDN2D_CC_KERNELS_UPFIRDN2D_GPU_H_
