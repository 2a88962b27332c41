// CPU kernels, and the registration of the CUDA kernels, of the fused bias + activation
// family. CPU: one pass over x (and dy), split across TensorFlow's intra-op thread pool;
// the activation is a template argument so that the element loops vectorize.
#define EIGEN_USE_THREADS
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif

#include <string>

#include "custom_ops/bias_act/cc/kernels/bias_act.h"
#include "custom_ops/bias_act/cc/kernels/bias_act_cpu.h"
#include "custom_ops/bias_act/cc/kernels/bias_act_gpu.h"
#include "custom_ops/common/kernel_util.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace sg2tf {
namespace bias_act {

namespace {

// Reads the attributes shared by the forward and gradient ops, and runs either.
template <typename Device, typename T>
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
    const int code = ActCode(act);
    OP_REQUIRES(ctx, code != 0, errors::InvalidArgument("unknown activation ", act));
    config_ = MakeConfig<T>(code, alpha, gain, clamp);
  }

 protected:
  // Checks x and b, then computes output 0 (in input 0's buffer where TensorFlow allows):
  // y for order 0, else the gradient of that order from dy.
  void Apply(OpKernelContext* ctx, int order, const Tensor& x, const Tensor& b, const Tensor* dy) {
    int64_t channels, inner;
    if (!Layout(ctx, x, b, &channels, &inner)) return;
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &out));
    Config c = config_;
    c.has_bias = b.NumElements() > 0;
    Run(ctx, c, order, x, b, dy, out, channels, inner);
  }

 private:
  // Checks x and b; sets *channels and *inner of the [outer, channels, inner] view.
  bool Layout(OpKernelContext* ctx, const Tensor& x, const Tensor& b, int64_t* channels,
              int64_t* inner) {
    const int rank = x.dims();
    SG2TF_REQUIRE_OR_FALSE(
        ctx, rank > 0 && axis_ >= -rank && axis_ < rank,
        errors::InvalidArgument("axis ", axis_, " is out of range for rank ", rank));
    const int axis = axis_ < 0 ? axis_ + rank : axis_;
    SG2TF_REQUIRE_OR_FALSE(
        ctx, b.dims() == 1,
        errors::InvalidArgument("bias must be 1-D, got ", b.shape().DebugString()));
    *inner = 1;
    for (int i = axis + 1; i < rank; ++i) *inner *= x.dim_size(i);
    *channels = x.dim_size(axis);
    SG2TF_REQUIRE_OR_FALSE(
        ctx, b.NumElements() == 0 || b.NumElements() == *channels,
        errors::InvalidArgument("bias of shape ", b.shape().DebugString(), " does not match axis ",
                                axis, " of ", x.shape().DebugString()));
    return true;
  }

  // Specialized below for each device and type.
  static void Run(OpKernelContext* ctx, const Config& c, int order, const Tensor& x,
                  const Tensor& b, const Tensor* dy, Tensor* out, int64_t channels, int64_t inner);

  int axis_;
  Config config_;
};

template <typename T>
void RunCpu(OpKernelContext* ctx, const Config& c, int order, const T* x, const T* b,
            const T* dy, T* out, int64_t size, int64_t channels, int64_t inner) {
  const RangeFn<T> fn = RangeFor<T>(c);
  const int64_t cost = CpuElementCost(c, order);
  ParallelFor(ctx, size, cost, [&](int64_t begin, int64_t end) {
    fn(c, order, x, b, dy, out, channels, inner, begin, end);
  });
}

template <typename Device, typename T>
class FusedBiasActOp : public BiasActBase<Device, T> {
 public:
  explicit FusedBiasActOp(OpKernelConstruction* ctx) : BiasActBase<Device, T>(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    this->Apply(ctx, 0, ctx->input(0), ctx->input(1), nullptr);
  }
};

template <typename Device, typename T>
class FusedBiasActGradOp : public BiasActBase<Device, T> {
 public:
  explicit FusedBiasActGradOp(OpKernelConstruction* ctx) : BiasActBase<Device, T>(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("order", &order_));
    OP_REQUIRES(ctx, order_ >= 1 && order_ <= kMaxOrder,
                errors::InvalidArgument("order must be 1..", kMaxOrder, ", got ", order_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    OP_REQUIRES(ctx, dy.shape() == x.shape(),
                errors::InvalidArgument("dy and x shapes differ: ", dy.shape().DebugString(),
                                        " vs ", x.shape().DebugString()));
    this->Apply(ctx, order_, x, ctx->input(2), &dy);
  }

 private:
  int order_;
};

typedef Eigen::ThreadPoolDevice CPUDevice;

template <>
void BiasActBase<CPUDevice, float>::Run(OpKernelContext* ctx, const Config& c, int order,
                                        const Tensor& x, const Tensor& b, const Tensor* dy,
                                        Tensor* out, int64_t channels, int64_t inner) {
  RunCpu<float>(ctx, c, order, x.flat<float>().data(),
                c.has_bias ? b.flat<float>().data() : nullptr,
                dy ? dy->flat<float>().data() : nullptr, out->flat<float>().data(), x.NumElements(),
                channels, inner);
}

template <>
void BiasActBase<CPUDevice, Eigen::half>::Run(OpKernelContext* ctx, const Config& c, int order,
                                              const Tensor& x, const Tensor& b, const Tensor* dy,
                                              Tensor* out, int64_t channels, int64_t inner) {
  typedef Eigen::half H;
  RunCpu<H>(ctx, c, order, x.flat<H>().data(), c.has_bias ? b.flat<H>().data() : nullptr,
            dy ? dy->flat<H>().data() : nullptr, out->flat<H>().data(), x.NumElements(), channels,
            inner);
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
void BiasActBase<GPUDevice, float>::Run(OpKernelContext* ctx, const Config& c, int order,
                                        const Tensor& x, const Tensor& b, const Tensor* dy,
                                        Tensor* out, int64_t channels, int64_t inner) {
  RunGpu<float, float>(ctx, c, order, x, b, dy, out, channels, inner);
}

template <>
void BiasActBase<GPUDevice, Eigen::half>::Run(OpKernelContext* ctx, const Config& c, int order,
                                              const Tensor& x, const Tensor& b, const Tensor* dy,
                                              Tensor* out, int64_t channels, int64_t inner) {
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
