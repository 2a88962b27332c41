// CPU kernel, and the registration of the CUDA kernel, of upfirdn2d.
//
// CPU: output rows are split across TensorFlow's intra-op thread pool. For each output
// pixel only the window positions that hit input samples are visited (see
// upfirdn2d.h), and each contributes weight * (a whole NHWC channel vector), a
// contiguous loop that the compiler vectorizes; the sums are kept in float32.
#define EIGEN_USE_THREADS
#if GOOGLE_CUDA
#define EIGEN_USE_GPU
#endif

#include <cmath>
#include <vector>

#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d.h"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d_gpu.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace sg2tf {
namespace upfirdn2d {

using ::tensorflow::DEVICE_CPU;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
namespace errors = ::tensorflow::errors;

namespace {

typedef Eigen::ThreadPoolDevice CPUDevice;

template <typename T> struct CpuRound;
template <> struct CpuRound<float> {
  static float Round(float v) { return v; }
};
template <> struct CpuRound<Eigen::half> {
  static float Round(float v) { return static_cast<float>(Eigen::half(v)); }
};

// What the row loop needs; built once per call.
template <typename T>
struct CpuWork {
  const Params* p;
  const Span* spans_y;
  const Span* spans_x;
  const float* weights;  // [fh, fw], rounded and scaled.
  const T* x;
  T* y;
};

// Output rows [begin, end) of the flattened [batch * out_h] rows.
template <typename T>
inline __attribute__((always_inline)) void RowsImpl(const CpuWork<T>& w, int64_t begin,
                                                    int64_t end, float* __restrict acc) {
  const Params& p = *w.p;
  const int64_t C = p.channels;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / p.out_h;
    const int oy = static_cast<int>(row % p.out_h);
    const Span sy = w.spans_y[oy];
    T* __restrict out = w.y + OutputOffset(p, n, oy, 0);
    for (int ox = 0; ox < p.out_w; ++ox, out += C) {
      const Span sx = w.spans_x[ox];
      for (int64_t c = 0; c < C; ++c) acc[c] = 0.f;
      for (int a = 0; a < sy.count; ++a) {
        const float* wrow = w.weights + (sy.first_tap + a * p.upy) * p.fw;
        const T* xrow = w.x + InputOffset(p, n, sy.first_in + a, sx.first_in);
        for (int b = 0; b < sx.count; ++b) {
          const float wt = wrow[sx.first_tap + b * p.upx];
          const T* __restrict xp = xrow + b * C;
          for (int64_t c = 0; c < C; ++c) acc[c] += wt * static_cast<float>(xp[c]);
        }
      }
      for (int64_t c = 0; c < C; ++c) out[c] = static_cast<T>(acc[c]);
    }
  }
}

// The same loop compiled for AVX2 (8 floats per instruction), chosen at run time. FMA
// is not enabled, so both versions round identically.
template <typename T>
__attribute__((target("avx2"), noinline)) void RowsAvx2(const CpuWork<T>& w, int64_t begin,
                                                       int64_t end, float* acc) {
  RowsImpl<T>(w, begin, end, acc);
}

template <typename T>
__attribute__((noinline)) void RowsBaseline(const CpuWork<T>& w, int64_t begin, int64_t end,
                                            float* acc) {
  RowsImpl<T>(w, begin, end, acc);
}

bool HaveAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
#else
  return false;
#endif
}

template <typename T>
void RunCpu(OpKernelContext* ctx, const Params& p, const float* f, const T* x, T* y) {
  typedef CpuRound<T> P;
  std::vector<Span> spans_y(p.out_h), spans_x(p.out_w);
  for (int o = 0; o < p.out_h; ++o) spans_y[o] = TapSpan(o, p.downy, p.upy, p.pady0, p.in_h, p.fh);
  for (int o = 0; o < p.out_w; ++o) spans_x[o] = TapSpan(o, p.downx, p.upx, p.padx0, p.in_w, p.fw);
  std::vector<float> weights(static_cast<size_t>(p.fh) * p.fw);
  for (int ky = 0; ky < p.fh; ++ky) {
    for (int kx = 0; kx < p.fw; ++kx) weights[ky * p.fw + kx] = Weight<P>(p, f, ky, kx);
  }
  CpuWork<T> work{&p, spans_y.data(), spans_x.data(), weights.data(), x, y};
  auto rows_fn = HaveAvx2() ? RowsAvx2<T> : RowsBaseline<T>;

  const int64_t rows = p.batch * p.out_h;
  const double taps_per_output =
      std::ceil(static_cast<double>(p.fh) / p.upy) * std::ceil(static_cast<double>(p.fw) / p.upx);
  const int64_t cost = static_cast<int64_t>(p.out_w * p.channels * (2.0 * taps_per_output + 1.0));
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  pool->ParallelFor(rows, cost, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(p.channels);
    rows_fn(work, begin, end, acc.data());
  });
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
    const double scale = std::pow(static_cast<double>(gain_), f.dims() / 2.0);
    p.tap_scale = static_cast<float>(static_cast<T>(static_cast<float>(scale)));
    p.out_h = OutSize(p.in_h, p.upy, p.pady0, p.pady1, p.fh, p.downy);
    p.out_w = OutSize(p.in_w, p.upx, p.padx0, p.padx1, p.fw, p.downx);
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
