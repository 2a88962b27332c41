// CPU element loops and attribute rounding of the fused bias + activation op. Free of
// TensorFlow (Eigen only), so that the TensorFlow kernel (bias_act_kernels.cc) and the
// TensorFlow-free GPU check harness (scripts/gpu_check/) compile the same code.
#ifndef SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_CPU_H_
#define SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_CPU_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "Eigen/Core"
#include "custom_ops/bias_act/cc/kernels/bias_act.h"

namespace sg2tf {
namespace bias_act {

// Eigen's scalar functors: the functions TensorFlow's CPU kernels evaluate.
struct EigenMath {
  static float Exp(float v) { return Eigen::internal::scalar_exp_op<float>()(v); }
  static float Tanh(float v) { return Eigen::internal::scalar_tanh_op<float>()(v); }
  static float Log1p(float v) { return Eigen::internal::scalar_log1p_op<float>()(v); }
  static float Sigmoid(float v) { return Eigen::internal::scalar_logistic_op<float>()(v); }
};

struct CpuFloatPolicy : EigenMath {
  static float Round(float v) { return v; }
};

struct CpuHalfPolicy {
  static float Round(float v) { return static_cast<float>(Eigen::half(v)); }
  static float Exp(float v) { return Round(EigenMath::Exp(v)); }
  static float Tanh(float v) { return Round(EigenMath::Tanh(v)); }
  static float Log1p(float v) { return Round(EigenMath::Log1p(v)); }
  static float Sigmoid(float v) { return Round(1.f / Round(1.f + Exp(-v))); }
};

template <typename T> struct CpuPolicy;
template <> struct CpuPolicy<float> { typedef CpuFloatPolicy type; };
template <> struct CpuPolicy<Eigen::half> { typedef CpuHalfPolicy type; };

// Activation code of a name (1..9, see Act), 0 when unknown.
inline int ActCode(const std::string& name) {
  static const char* const kNames[] = {"linear", "relu", "lrelu", "tanh", "sigmoid",
                                       "elu", "selu", "softplus", "swish"};
  for (int i = 0; i < 9; ++i) {
    if (name == kNames[i]) return i + 1;
  }
  return 0;
}

template <typename T>
float RoundTo(double v) {
  return static_cast<float>(static_cast<T>(static_cast<float>(v)));
}

// The kernel configuration of the op's attributes for storage type T (float or
// Eigen::half); `act` is a valid ActCode. has_bias is left false (set per call).
template <typename T>
Config MakeConfig(int act, float alpha, float gain, float clamp) {
  Config c;
  c.act = act;
  // The slope and the gain stay float32 for every T, as in the official code (a float16
  // tensor times a Python float, its CUDA kernel's float parameters): rounded to float16
  // they would scale every float16 layer by the same relative error (sqrt(2): -1.1e-4).
  c.alpha = alpha;
  c.gain = gain;
  c.clamp = RoundTo<T>(clamp);
  c.has_bias = false;
  c.has_gain = gain != 1.f;
  c.has_clamp = clamp >= 0.f;
  c.selu_scale = RoundTo<T>(1.0507009873554804934193349852946);
  c.selu_scale_alpha = RoundTo<T>(1.7580993408473768599402175208123);
  c.softplus_threshold = static_cast<float>(
      static_cast<T>(std::log(static_cast<float>(Eigen::NumTraits<T>::epsilon())) + 2.f));
  return c;
}

// Element loop over [begin, end) of the flat tensors: forward (order 0) or gradient.
// With inner == 1 (bias on the last axis) the bias index advances with the element.
template <typename T, int A>
void RunRange(const Config& config_in, int order, const T* x, const T* b, const T* dy,
              T* out, int64_t channels, int64_t inner, int64_t begin, int64_t end) {
  typedef typename CpuPolicy<T>::type P;
  Config c = config_in;
  c.act = A;  // Constant after inlining: the switch in bias_act.h folds away.
  if (b == nullptr) {
    for (int64_t i = begin; i < end; ++i) {
      float xv = static_cast<float>(x[i]);
      float v = order == 0 ? Forward<P>(c, xv, 0.f)
                           : Grad<P>(c, order, static_cast<float>(dy[i]), xv, 0.f);
      out[i] = static_cast<T>(v);
    }
    return;
  }
  int64_t i = begin;
  while (i < end) {
    // A run of elements sharing one bias value (inner > 1) or one row of channels.
    if (inner == 1) {
      int64_t ch = i % channels;
      int64_t stop = std::min(end, i + (channels - ch));
      const T* bb = b + ch - i;
      if (order == 0) {
        for (int64_t j = i; j < stop; ++j) {
          out[j] = static_cast<T>(
              Forward<P>(c, static_cast<float>(x[j]), static_cast<float>(bb[j])));
        }
      } else if (order == 1) {
        for (int64_t j = i; j < stop; ++j) {
          out[j] = static_cast<T>(Grad1<P>(c, static_cast<float>(dy[j]),
                                           static_cast<float>(x[j]),
                                           static_cast<float>(bb[j])));
        }
      } else {
        for (int64_t j = i; j < stop; ++j) {
          out[j] = static_cast<T>(GradN<P>(c, order, static_cast<float>(dy[j]),
                                           static_cast<float>(x[j]),
                                           static_cast<float>(bb[j])));
        }
      }
      i = stop;
    } else {
      int64_t stop = std::min(end, (i / inner + 1) * inner);
      float bv = static_cast<float>(b[BiasIndex(i, channels, inner)]);
      for (int64_t j = i; j < stop; ++j) {
        float xv = static_cast<float>(x[j]);
        float v = order == 0 ? Forward<P>(c, xv, bv)
                             : Grad<P>(c, order, static_cast<float>(dy[j]), xv, bv);
        out[j] = static_cast<T>(v);
      }
      i = stop;
    }
  }
}

template <typename T>
using RangeFn = void (*)(const Config&, int, const T*, const T*, const T*, T*, int64_t,
                         int64_t, int64_t, int64_t);

// The element loop specialised for activation c.act (a valid ActCode).
template <typename T>
RangeFn<T> RangeFor(const Config& c) {
  static const RangeFn<T> kFns[] = {RunRange<T, kLinear>, RunRange<T, kRelu>,
                                    RunRange<T, kLrelu>, RunRange<T, kTanh>,
                                    RunRange<T, kSigmoid>, RunRange<T, kElu>,
                                    RunRange<T, kSelu>, RunRange<T, kSoftplus>,
                                    RunRange<T, kSwish>};
  return kFns[c.act - 1];
}

// Cost per element for a thread pool's sharding.
inline int64_t CpuElementCost(const Config& c, int order) {
  const bool transcendental = !IsPiecewiseLinear(c.act);
  return (transcendental ? 40 : 4) * (order + 1);
}

}  // namespace bias_act
}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_CPU_H_
