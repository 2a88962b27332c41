// CPU kernels, and the registration of the CUDA kernels, of the fused bias + activation
// family. CPU: one pass over x (and dy), split across TensorFlow's intra-op thread pool;
// the activation is a template argument so that the element loops vectorize.
#define EIGEN_USE_THREADS
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "custom_ops/bias_act/cc/kernels/bias_act.h"
#include "custom_ops/bias_act/cc/kernels/bias_act_gpu.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/util/work_sharder.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace sg2tf {
namespace bias_act {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
namespace errors = ::tensorflow::errors;

namespace {

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

int ActCode(const std::string& name) {
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

// OP_REQUIRES variant for helpers returning bool.
#define OP_REQUIRES_VALUE_OR_FALSE(CTX, EXP, STATUS) \
  do {                                               \
    if (!(EXP)) {                                    \
      (CTX)->CtxFailure(__FILE__, __LINE__, (STATUS)); \
      return false;                                  \
    }                                                \
  } while (0)

// Reads the attributes shared by the forward and gradient ops.
template <typename T>
class BiasActBase : public OpKernel {
 public:
  explicit BiasActBase(OpKernelConstruction* ctx) : OpKernel(ctx) {
    std::string act;
    float alpha, gain, clamp;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("act", &act));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("alpha", &alpha));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &gain));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("clamp", &clamp));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("axis", &axis_));
    config_.act = ActCode(act);
    OP_REQUIRES(ctx, config_.act != 0, errors::InvalidArgument("unknown activation ", act));
    config_.alpha = RoundTo<T>(alpha);
    config_.gain = RoundTo<T>(gain);
    config_.clamp = RoundTo<T>(clamp);
    config_.has_bias = false;
    config_.has_gain = gain != 1.f;
    config_.has_clamp = clamp >= 0.f;
    config_.selu_scale = RoundTo<T>(1.0507009873554804934193349852946);
    config_.selu_scale_alpha = RoundTo<T>(1.7580993408473768599402175208123);
    config_.softplus_threshold = static_cast<float>(
        static_cast<T>(std::log(static_cast<float>(Eigen::NumTraits<T>::epsilon())) + 2.f));
  }

 protected:
  // Checks x and b; sets *channels and *inner of the [outer, channels, inner] view.
  bool Layout(OpKernelContext* ctx, const Tensor& x, const Tensor& b, int64_t* channels,
              int64_t* inner) {
    const int rank = x.dims();
    OP_REQUIRES_VALUE_OR_FALSE(ctx, rank > 0 && axis_ >= -rank && axis_ < rank,
                               errors::InvalidArgument("axis ", axis_,
                                                       " is out of range for rank ", rank));
    const int axis = axis_ < 0 ? axis_ + rank : axis_;
    OP_REQUIRES_VALUE_OR_FALSE(ctx, b.dims() == 1,
                               errors::InvalidArgument("bias must be 1-D, got ",
                                                       b.shape().DebugString()));
    *inner = 1;
    for (int i = axis + 1; i < rank; ++i) *inner *= x.dim_size(i);
    *channels = x.dim_size(axis);
    OP_REQUIRES_VALUE_OR_FALSE(
        ctx, b.NumElements() == 0 || b.NumElements() == *channels,
        errors::InvalidArgument("bias of shape ", b.shape().DebugString(),
                                " does not match axis ", axis, " of ",
                                x.shape().DebugString()));
    return true;
  }

  int axis_;
  Config config_;
};


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
void RunCpu(OpKernelContext* ctx, const Config& c, int order, const T* x, const T* b,
            const T* dy, T* out, int64_t size, int64_t channels, int64_t inner) {
  typedef void (*RangeFn)(const Config&, int, const T*, const T*, const T*, T*, int64_t,
                          int64_t, int64_t, int64_t);
  static const RangeFn kFns[] = {RunRange<T, kLinear>, RunRange<T, kRelu>,
                                 RunRange<T, kLrelu>, RunRange<T, kTanh>,
                                 RunRange<T, kSigmoid>, RunRange<T, kElu>,
                                 RunRange<T, kSelu>, RunRange<T, kSoftplus>,
                                 RunRange<T, kSwish>};
  RangeFn fn = kFns[c.act - 1];
  const bool transcendental = !IsPiecewiseLinear(c.act);
  const int64_t cost = (transcendental ? 40 : 4) * (order + 1);
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  pool->ParallelFor(size, cost, [&](int64_t begin, int64_t end) {
    fn(c, order, x, b, dy, out, channels, inner, begin, end);
  });
}

template <typename Device, typename T>
class FusedBiasActOp : public BiasActBase<T> {
 public:
  explicit FusedBiasActOp(OpKernelConstruction* ctx) : BiasActBase<T>(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& b = ctx->input(1);
    int64_t channels, inner;
    if (!this->Layout(ctx, x, b, &channels, &inner)) return;
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &y));
    Config c = this->config_;
    c.has_bias = b.NumElements() > 0;
    Run(ctx, c, 0, x, b, nullptr, y, channels, inner);
  }

  static void Run(OpKernelContext* ctx, const Config& c, int order, const Tensor& x,
                  const Tensor& b, const Tensor* dy, Tensor* out, int64_t channels,
                  int64_t inner);
};

template <typename Device, typename T>
class FusedBiasActGradOp : public BiasActBase<T> {
 public:
  explicit FusedBiasActGradOp(OpKernelConstruction* ctx) : BiasActBase<T>(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("order", &order_));
    OP_REQUIRES(ctx, order_ >= 1 && order_ <= kMaxOrder,
                errors::InvalidArgument("order must be 1..", kMaxOrder, ", got ", order_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const Tensor& b = ctx->input(2);
    OP_REQUIRES(ctx, dy.shape() == x.shape(),
                errors::InvalidArgument("dy and x shapes differ: ", dy.shape().DebugString(),
                                        " vs ", x.shape().DebugString()));
    int64_t channels, inner;
    if (!this->Layout(ctx, x, b, &channels, &inner)) return;
    Tensor* dx = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &dx));
    Config c = this->config_;
    c.has_bias = b.NumElements() > 0;
    FusedBiasActOp<Device, T>::Run(ctx, c, order_, x, b, &dy, dx, channels, inner);
  }

 private:
  int order_;
};

typedef Eigen::ThreadPoolDevice CPUDevice;

template <>
void FusedBiasActOp<CPUDevice, float>::Run(OpKernelContext* ctx, const Config& c, int order,
                                           const Tensor& x, const Tensor& b,
                                           const Tensor* dy, Tensor* out, int64_t channels,
                                           int64_t inner) {
  RunCpu<float>(ctx, c, order, x.flat<float>().data(),
                c.has_bias ? b.flat<float>().data() : nullptr,
                dy ? dy->flat<float>().data() : nullptr, out->flat<float>().data(),
                x.NumElements(), channels, inner);
}

template <>
void FusedBiasActOp<CPUDevice, Eigen::half>::Run(OpKernelContext* ctx, const Config& c,
                                                 int order, const Tensor& x, const Tensor& b,
                                                 const Tensor* dy, Tensor* out,
                                                 int64_t channels, int64_t inner) {
  typedef Eigen::half H;
  RunCpu<H>(ctx, c, order, x.flat<H>().data(), c.has_bias ? b.flat<H>().data() : nullptr,
            dy ? dy->flat<H>().data() : nullptr, out->flat<H>().data(), x.NumElements(),
            channels, inner);
}

#define REGISTER_CPU(T)                                                                  \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("Sg2tf>FusedBiasAct").Device(DEVICE_CPU).TypeConstraint<T>("T"),              \
      FusedBiasActOp<CPUDevice, T>);                                                     \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("Sg2tf>FusedBiasActGrad").Device(DEVICE_CPU).TypeConstraint<T>("T"),          \
      FusedBiasActGradOp<CPUDevice, T>);
REGISTER_CPU(float);
REGISTER_CPU(Eigen::half);
#undef REGISTER_CPU

#if GOOGLE_CUDA
typedef Eigen::GpuDevice GPUDevice;

template <typename T, typename S>
void RunGpu(OpKernelContext* ctx, const Config& c, int order, const Tensor& x,
            const Tensor& b, const Tensor* dy, Tensor* out, int64_t channels, int64_t inner) {
  GpuArgs args;
  args.x = x.flat<T>().data();
  args.b = c.has_bias ? b.flat<T>().data() : nullptr;
  args.dy = dy ? dy->flat<T>().data() : nullptr;
  args.out = out->flat<T>().data();
  args.size = x.NumElements();
  args.channels = channels;
  args.inner = inner;
  args.order = order;
  args.config = c;
  int err = LaunchGpu<S>(args, ctx->eigen_device<GPUDevice>().stream());
  OP_REQUIRES(ctx, err == 0,
              errors::Internal("Sg2tf>FusedBiasAct CUDA launch failed: ", GpuErrorString(err)));
}

template <>
void FusedBiasActOp<GPUDevice, float>::Run(OpKernelContext* ctx, const Config& c, int order,
                                           const Tensor& x, const Tensor& b,
                                           const Tensor* dy, Tensor* out, int64_t channels,
                                           int64_t inner) {
  RunGpu<float, float>(ctx, c, order, x, b, dy, out, channels, inner);
}

template <>
void FusedBiasActOp<GPUDevice, Eigen::half>::Run(OpKernelContext* ctx, const Config& c,
                                                 int order, const Tensor& x, const Tensor& b,
                                                 const Tensor* dy, Tensor* out,
                                                 int64_t channels, int64_t inner) {
  RunGpu<Eigen::half, Half16>(ctx, c, order, x, b, dy, out, channels, inner);
}

#define REGISTER_GPU(T)                                                                  \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("Sg2tf>FusedBiasAct").Device(::tensorflow::DEVICE_GPU).TypeConstraint<T>("T"), \
      FusedBiasActOp<GPUDevice, T>);                                                     \
  REGISTER_KERNEL_BUILDER(Name("Sg2tf>FusedBiasActGrad")                                 \
                              .Device(::tensorflow::DEVICE_GPU)                          \
                              .TypeConstraint<T>("T"),                                   \
                          FusedBiasActGradOp<GPUDevice, T>);
REGISTER_GPU(float);
REGISTER_GPU(Eigen::half);
#undef REGISTER_GPU
#endif  // GOOGLE_CUDA

}  // namespace
}  // namespace bias_act
}  // namespace sg2tf
