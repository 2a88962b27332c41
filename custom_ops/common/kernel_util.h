// TensorFlow names and helpers shared by the op kernels of every family (the .cc files in
// custom_ops/*/cc/kernels). The TensorFlow-free headers and the CUDA sources do not use it.
#ifndef SG2TF_CUSTOM_OPS_COMMON_KERNEL_UTIL_H_
#define SG2TF_CUSTOM_OPS_COMMON_KERNEL_UTIL_H_

#include <cstdint>
#include <functional>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/platform/threadpool.h"

namespace sg2tf {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Status;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
namespace errors = ::tensorflow::errors;

// Runs fn(begin, end) over the ranges of [0, n) that TensorFlow's intra-op thread pool
// hands out; `cost` is the estimated cost of one item.
inline void ParallelFor(OpKernelContext* ctx, int64_t n, int64_t cost,
                        const std::function<void(int64_t, int64_t)>& fn) {
  ctx->device()->tensorflow_cpu_worker_threads()->workers->ParallelFor(n, cost, fn);
}

}  // namespace sg2tf

// OP_REQUIRES for helpers returning bool: records STATUS on CTX and returns false.
#define SG2TF_REQUIRE_OR_FALSE(CTX, EXP, STATUS)       \
  do {                                                 \
    if (!(EXP)) {                                      \
      (CTX)->CtxFailure(__FILE__, __LINE__, (STATUS)); \
      return false;                                    \
    }                                                  \
  } while (0)

#endif  // SG2TF_CUSTOM_OPS_COMMON_KERNEL_UTIL_H_
