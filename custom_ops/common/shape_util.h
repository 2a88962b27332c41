// TensorFlow names shared by the op definitions of every family (the .cc files in
// custom_ops/*/cc/ops), for their shape functions.
#ifndef SG2TF_CUSTOM_OPS_COMMON_SHAPE_UTIL_H_
#define SG2TF_CUSTOM_OPS_COMMON_SHAPE_UTIL_H_

#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace sg2tf {

using ::tensorflow::Status;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_COMMON_SHAPE_UTIL_H_
