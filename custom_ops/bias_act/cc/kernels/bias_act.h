// Per-element math of the fused bias + activation op, shared by the CPU and CUDA kernels.
//
//   forward:  y = clamp(act(x + b) * gain, -clamp, clamp)
//   order 1:  dx = dy * dy/dx, evaluated in the same steps, and rounded to the storage
//             type at the same points, as TensorFlow's gradients of the reference ops
//             (sg2tf/ops/bias_act.py), so that both agree to the last bit where their
//             transcendental functions agree.
//   order k:  dx = dy * gain * act^(k)(x + b) * [x + b is not clamped]  (k = 2, 3), the
//             derivatives needed to differentiate the order-(k-1) op with respect to x.
//
// `P` is a policy giving the storage rounding and the transcendental functions of the
// device: P::Round(v) rounds a float to the storage type and back (identity for
// float32), P::Exp/Tanh/Sigmoid/Log1p compute in float precision like TensorFlow's
// kernels for that storage type.
#ifndef SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_H_
#define SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_H_

#include "custom_ops/common/platform.h"

namespace sg2tf {
namespace bias_act {

// Activation codes; the same numbers as sg2tf.ops.bias_act.ACTIVATIONS[...].cuda_idx.
enum Act : int {
  kLinear = 1,
  kRelu = 2,
  kLrelu = 3,
  kTanh = 4,
  kSigmoid = 5,
  kElu = 6,
  kSelu = 7,
  kSoftplus = 8,
  kSwish = 9,
};
constexpr int kMaxOrder = 3;

// True when the activation's second and higher derivatives are zero almost everywhere.
SG2TF_HD bool IsPiecewiseLinear(int act) { return act == kLinear || act == kRelu || act == kLrelu; }

// Scalar attributes, already rounded to the storage type by the host (as the reference
// ops cast them to the tensor's dtype).
struct Config {
  int act;
  float alpha;
  float gain;
  float clamp;       // Valid when has_clamp.
  bool has_bias;
  bool has_gain;     // gain != 1: the reference skips the multiplication otherwise.
  bool has_clamp;    // clamp >= 0.
  float selu_scale;  // SELU constants rounded to the storage type.
  float selu_scale_alpha;
  float softplus_threshold;  // log(epsilon) + 2 of the storage type.
};

// Activation value of s, rounded like the reference op for that activation.
template <class P>
SG2TF_HD float Activate(const Config& c, float s) {
  switch (c.act) {
    case kRelu:
      return s > 0.f ? s : (s == s ? 0.f : s);
    case kLrelu:
      return s > 0.f ? s : P::Round(s * c.alpha);
    case kTanh:
      return P::Tanh(s);
    case kSigmoid:
      return P::Sigmoid(s);
    case kElu:
      return s < 0.f ? P::Round(P::Exp(s) - 1.f) : s;
    case kSelu:
      return s < 0.f ? P::Round(c.selu_scale_alpha * P::Round(P::Exp(s) - 1.f))
                     : P::Round(c.selu_scale * s);
    case kSoftplus: {
      if (s > -c.softplus_threshold) return s;
      float e = P::Exp(s);
      return s < c.softplus_threshold ? e : P::Log1p(e);
    }
    case kSwish:
      return P::Round(P::Sigmoid(s) * s);
    default:  // kLinear
      return s;
  }
}

// The value before clamping, act(x + b) * gain.
template <class P>
SG2TF_HD float Unclamped(const Config& c, float x, float b) {
  float s = c.has_bias ? P::Round(x + b) : x;
  float a = Activate<P>(c, s);
  return c.has_gain ? P::Round(a * c.gain) : a;
}

template <class P>
SG2TF_HD float Forward(const Config& c, float x, float b) {
  float v = Unclamped<P>(c, x, b);
  if (c.has_clamp) {
    v = v > c.clamp ? c.clamp : v;
    v = v < -c.clamp ? -c.clamp : v;
  }
  return v;
}

SG2TF_HD bool Clamped(const Config& c, float v) {
  return c.has_clamp && (v < -c.clamp || v > c.clamp);
}

// First-order gradient, step by step as TensorFlow differentiates the reference ops.
template <class P>
SG2TF_HD float Grad1(const Config& c, float dy, float x, float b) {
  float s = c.has_bias ? P::Round(x + b) : x;
  float a = Activate<P>(c, s);
  if (c.has_clamp && Clamped(c, c.has_gain ? P::Round(a * c.gain) : a)) return 0.f;
  float g = c.has_gain ? P::Round(dy * c.gain) : dy;
  switch (c.act) {
    case kRelu:
      return a > 0.f ? g : 0.f;
    case kLrelu:
      return s > 0.f ? g : P::Round(g * c.alpha);
    case kTanh:
      return P::Round(g * P::Round(1.f - P::Round(a * a)));
    case kSigmoid:
      return P::Round(P::Round(g * a) * P::Round(1.f - a));
    case kElu:
      return a < 0.f ? P::Round(P::Round(a + 1.f) * g) : g;
    case kSelu:
      return a < 0.f ? P::Round(g * P::Round(a + c.selu_scale_alpha))
                     : P::Round(g * c.selu_scale);
    case kSoftplus:
      return P::Round(g / P::Round(P::Exp(-s) + 1.f));
    case kSwish: {
      float sig = P::Sigmoid(s);
      float through_sig = P::Round(P::Round(P::Round(g * s) * sig) * P::Round(1.f - sig));
      return P::Round(through_sig + P::Round(sig * g));
    }
    default:  // kLinear
      return g;
  }
}

// k-th derivative (k = 2 or 3) of the activation at s, in float.
template <class P>
SG2TF_HD float ActDerivative(const Config& c, int k, float s) {
  switch (c.act) {
    case kTanh: {
      float t = P::Tanh(s), q = 1.f - t * t;
      return k == 2 ? -2.f * t * q : -2.f * q * (1.f - 3.f * t * t);
    }
    case kSigmoid: {
      float sg = P::Sigmoid(s), p = sg * (1.f - sg), u = 1.f - 2.f * sg;
      return k == 2 ? p * u : p * (u * u - 2.f * p);
    }
    case kElu:
      return s < 0.f ? P::Exp(s) : 0.f;
    case kSelu:
      return s < 0.f ? c.selu_scale_alpha * P::Exp(s) : 0.f;
    case kSoftplus: {
      float sg = P::Sigmoid(s), p = sg * (1.f - sg);
      return k == 2 ? p : p * (1.f - 2.f * sg);
    }
    case kSwish: {
      float sg = P::Sigmoid(s), p = sg * (1.f - sg), u = 1.f - 2.f * sg;
      return k == 2 ? p * (2.f + s * u) : p * (3.f * u + s * (u * u - 2.f * p));
    }
    default:  // Piecewise linear activations.
      return 0.f;
  }
}

// Higher-order gradient: dy * gain * act^(k)(x + b), zero where the output is clamped.
template <class P>
SG2TF_HD float GradN(const Config& c, int order, float dy, float x, float b) {
  if (IsPiecewiseLinear(c.act)) return 0.f;
  float s = c.has_bias ? P::Round(x + b) : x;
  if (c.has_clamp && Clamped(c, Unclamped<P>(c, x, b))) return 0.f;
  float gain = c.has_gain ? c.gain : 1.f;
  return dy * gain * ActDerivative<P>(c, order, s);
}

template <class P>
SG2TF_HD float Grad(const Config& c, int order, float dy, float x, float b) {
  return order == 1 ? Grad1<P>(c, dy, x, b) : GradN<P>(c, order, dy, x, b);
}

// Where the bias of flat element i is: x viewed as [outer, channels, inner].
SG2TF_HD int64_t BiasIndex(int64_t i, int64_t channels, int64_t inner) {
  return (i / inner) % channels;
}

}  // namespace bias_act
}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_BIAS_ACT_CC_KERNELS_BIAS_ACT_H_
