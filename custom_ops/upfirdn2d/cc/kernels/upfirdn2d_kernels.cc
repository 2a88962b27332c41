// CPU kernel, and the registration of the CUDA kernel, of upfirdn2d.
//
// CPU: output rows are split across TensorFlow's intra-op thread pool. Only the window
// positions that hit input samples are visited (see upfirdn2d.h), so inserted zeros
// cost nothing, and only kept output rows and columns are computed. Two paths:
//   * separable: when the filter is 1-D, or its 2-D weights are an outer product
//     (SeparableWeights; e.g. setup_filter([1, 3, 3, 1])), each output row is a vertical
//     pass (a weighted sum of whole contiguous input rows into one float32 row) followed
//     by a horizontal pass over that row: taps_y + taps_x multiply-adds per output
//     instead of taps_y * taps_x (4x4 filter, down 2: 12 instead of 16 per output;
//     up 2: 3 instead of 4);
//   * 2-D: every output pixel is the weighted sum of the input pixels its span visits.
// Whichever needs fewer operations runs. Both sum weight * (NHWC channel vector) terms
// in blocks of 32 channels held in vector registers (WeightedSum), in float32.
#define EIGEN_USE_THREADS
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif

#include "custom_ops/common/kernel_util.h"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d.h"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d_cpu.h"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d_gpu.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace sg2tf {
namespace upfirdn2d {

namespace {

typedef Eigen::ThreadPoolDevice CPUDevice;

template <typename T>
void RunCpu(OpKernelContext* ctx, const Params& p, const float* f, const T* x, T* y) {
  const CpuPlan<T> plan(p, f);
  const CpuWork<T> work = plan.Work(p, x, y);
  ParallelFor(ctx, p.batch * p.out_h, plan.row_cost,
              [&](int64_t begin, int64_t end) { plan.RunRows(work, begin, end); });
}

template <typename Device, typename T>
class UpFirDn2DOp : public OpKernel {
 public:
  explicit UpFirDn2DOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("upx", &p_.upx));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("upy", &p_.upy));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("downx", &p_.downx));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("downy", &p_.downy));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("padx0", &p_.padx0));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("padx1", &p_.padx1));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pady0", &p_.pady0));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("pady1", &p_.pady1));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("flip_filter", &p_.flip));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("gain", &gain_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& f = ctx->input(1);
    OP_REQUIRES(ctx, x.dims() == 4,
                errors::InvalidArgument("x must be NHWC, got ", x.shape().DebugString()));
    OP_REQUIRES(ctx, f.dims() == 1 || f.dims() == 2,
                errors::InvalidArgument("f must be 1-D or 2-D, got ", f.shape().DebugString()));
    OP_REQUIRES(ctx, f.NumElements() > 0, errors::InvalidArgument("f is empty"));
    const int64_t kMaxDim = 1 << 28;
    for (int i = 1; i < 3; ++i) {
      OP_REQUIRES(ctx, x.dim_size(i) < kMaxDim,
                  errors::InvalidArgument("x is too large: ", x.shape().DebugString()));
    }
    Params p = p_;
    p.batch = x.dim_size(0);
    p.in_h = static_cast<int>(x.dim_size(1));
    p.in_w = static_cast<int>(x.dim_size(2));
    p.channels = x.dim_size(3);
    p.separable = f.dims() == 1;
    p.fh = static_cast<int>(f.dim_size(0));
    p.fw = static_cast<int>(f.dim_size(f.dims() - 1));
    SetDerivedParams<T>(&p, gain_, f.dims());
    OP_REQUIRES(ctx, p.out_h > 0 && p.out_w > 0,
                errors::InvalidArgument("upfirdn2d output would be empty for input ",
                                        x.shape().DebugString(), " and filter ",
                                        f.shape().DebugString()));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, TensorShape({p.batch, p.out_h, p.out_w, p.channels}), &y));
    if (y->NumElements() == 0) return;
    Run(ctx, p, f, x, y);
  }

 private:
  void Run(OpKernelContext* ctx, const Params& p, const Tensor& f, const Tensor& x, Tensor* y);

  Params p_;
  float gain_;
};

template <>
void UpFirDn2DOp<CPUDevice, float>::Run(OpKernelContext* ctx, const Params& p,
                                        const Tensor& f, const Tensor& x, Tensor* y) {
  RunCpu<float>(ctx, p, f.flat<float>().data(), x.flat<float>().data(), y->flat<float>().data());
}

template <>
void UpFirDn2DOp<CPUDevice, Eigen::half>::Run(OpKernelContext* ctx, const Params& p,
                                              const Tensor& f, const Tensor& x, Tensor* y) {
  typedef Eigen::half H;
  RunCpu<H>(ctx, p, f.flat<float>().data(), x.flat<H>().data(), y->flat<H>().data());
}

REGISTER_KERNEL_BUILDER(
    Name("Sg2tf>UpFirDn2D").Device(DEVICE_CPU).TypeConstraint<float>("T"),
    UpFirDn2DOp<CPUDevice, float>);
REGISTER_KERNEL_BUILDER(
    Name("Sg2tf>UpFirDn2D").Device(DEVICE_CPU).TypeConstraint<Eigen::half>("T"),
    UpFirDn2DOp<CPUDevice, Eigen::half>);

#if GOOGLE_CUDA
typedef Eigen::GpuDevice GPUDevice;

template <typename T, typename S>
void RunGpu(OpKernelContext* ctx, const Params& p, const Tensor& f, const Tensor& x,
            Tensor* y) {
  int err = LaunchGpu<S>(p, x.flat<T>().data(), f.flat<float>().data(), y->flat<T>().data(),
                         ctx->eigen_device<GPUDevice>().stream());
  OP_REQUIRES(ctx, err == 0,
              errors::Internal("Sg2tf>UpFirDn2D CUDA launch failed: ", GpuErrorString(err)));
}

template <>
void UpFirDn2DOp<GPUDevice, float>::Run(OpKernelContext* ctx, const Params& p,
                                        const Tensor& f, const Tensor& x, Tensor* y) {
  RunGpu<float, float>(ctx, p, f, x, y);
}

template <>
void UpFirDn2DOp<GPUDevice, Eigen::half>::Run(OpKernelContext* ctx, const Params& p,
                                              const Tensor& f, const Tensor& x, Tensor* y) {
  RunGpu<Eigen::half, Half16>(ctx, p, f, x, y);
}

REGISTER_KERNEL_BUILDER(
    Name("Sg2tf>UpFirDn2D").Device(::tensorflow::DEVICE_GPU).TypeConstraint<float>("T"),
    UpFirDn2DOp<GPUDevice, float>);
REGISTER_KERNEL_BUILDER(
    Name("Sg2tf>UpFirDn2D").Device(::tensorflow::DEVICE_GPU).TypeConstraint<Eigen::half>("T"),
    UpFirDn2DOp<GPUDevice, Eigen::half>);
#endif  // GOOGLE_CUDA

}  // namespace
}  // namespace upfirdn2d
}  // namespace sg2tf
