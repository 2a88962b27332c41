// C entry points of sg2tf's bias_act and upfirdn2d kernels without TensorFlow, for
// scripts/gpu_check/gpu_check.py (ctypes). The CPU kernels are the headers the TensorFlow
// ops compile (bias_act_cpu.h, upfirdn2d_cpu.h, run on one thread here), the CUDA kernels
// the ops' own .cu.cc files, linked in when SG2TF_CHECK_CUDA is 1. Attributes are turned
// into kernel configurations by the same helpers as the ops (MakeConfig,
// SetDerivedParams).
//
// dtype: 0 float32, 1 float16 (IEEE half bits). Every function returns 0 on success, a
// negative number for a bad argument (see sg2tf_check_error) or a cudaError_t value.
#include <cstdint>
#include <cstring>
#include <vector>

#include "custom_ops/bias_act/cc/kernels/bias_act.h"
#include "custom_ops/bias_act/cc/kernels/bias_act_cpu.h"
#include "custom_ops/bias_act/cc/kernels/bias_act_gpu.h"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d.h"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d_cpu.h"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d_gpu.h"

#if SG2TF_CHECK_CUDA
#include <cuda_runtime.h>
#endif

namespace {

using sg2tf::Half16;
namespace ba = sg2tf::bias_act;
namespace up = sg2tf::upfirdn2d;

constexpr int kBadDtype = -1;
constexpr int kBadAct = -2;
constexpr int kBadOrder = -3;
constexpr int kBadShape = -4;
constexpr int kNoCuda = -5;

ba::Config BiasActConfig(int dtype, int act, float alpha, float gain, float clamp,
                         int has_bias) {
  ba::Config c = dtype == 0 ? ba::MakeConfig<float>(act, alpha, gain, clamp)
                            : ba::MakeConfig<Eigen::half>(act, alpha, gain, clamp);
  c.has_bias = has_bias != 0;
  return c;
}

int CheckBiasAct(int dtype, int act, int order, int64_t size, int64_t channels,
                 int64_t inner) {
  if (dtype != 0 && dtype != 1) return kBadDtype;
  if (act < 1 || act > 9) return kBadAct;
  if (order < 0 || order > ba::kMaxOrder) return kBadOrder;
  if (size < 0 || channels < 1 || inner < 1 || size % (channels * inner) != 0) {
    return kBadShape;
  }
  return 0;
}

// Params of the op for x [batch, in_h, in_w, channels] and a filter of rank f_rank
// ([fh] or [fh, fw]); the output size is in p->out_h, p->out_w.
int UpFirDnParams(int dtype, const int64_t* xshape, int f_rank, const int* fshape,
                  const int* updown, const int* pad, int flip, float gain, up::Params* p) {
  if (dtype != 0 && dtype != 1) return kBadDtype;
  if (f_rank != 1 && f_rank != 2) return kBadShape;
  std::memset(p, 0, sizeof(*p));
  p->batch = xshape[0];
  p->in_h = static_cast<int>(xshape[1]);
  p->in_w = static_cast<int>(xshape[2]);
  p->channels = xshape[3];
  p->upx = updown[0];
  p->upy = updown[1];
  p->downx = updown[2];
  p->downy = updown[3];
  p->padx0 = pad[0];
  p->padx1 = pad[1];
  p->pady0 = pad[2];
  p->pady1 = pad[3];
  p->separable = f_rank == 1;
  p->fh = fshape[0];
  p->fw = fshape[f_rank - 1];
  p->flip = flip != 0;
  if (p->batch < 0 || p->in_h < 1 || p->in_w < 1 || p->channels < 1 || p->fh < 1 ||
      p->fw < 1 || p->upx < 1 || p->upy < 1 || p->downx < 1 || p->downy < 1) {
    return kBadShape;
  }
  if (dtype == 0) {
    up::SetDerivedParams<float>(p, gain, f_rank);
  } else {
    up::SetDerivedParams<Eigen::half>(p, gain, f_rank);
  }
  return p->out_h > 0 && p->out_w > 0 ? 0 : kBadShape;
}

#if SG2TF_CHECK_CUDA
// Device copies of host arrays, freed on destruction. Exact sizes, so that
// compute-sanitizer's memcheck sees any access past an array.
struct DeviceBuffers {
  std::vector<void*> ptrs;
  int err = 0;
  void* Upload(const void* host, size_t bytes) {
    if (host == nullptr || err) return nullptr;
    void* d = nullptr;
    err = cudaMalloc(&d, bytes ? bytes : 1);
    if (err) return nullptr;
    ptrs.push_back(d);
    if (bytes) err = cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice);
    return d;
  }
  void* Alloc(size_t bytes) {
    if (err) return nullptr;
    void* d = nullptr;
    err = cudaMalloc(&d, bytes ? bytes : 1);
    if (!err) ptrs.push_back(d);
    return d;
  }
  ~DeviceBuffers() {
    for (void* p : ptrs) cudaFree(p);
  }
};
#endif

}  // namespace

extern "C" {

// 1 when the library holds the CUDA kernels.
int sg2tf_check_has_cuda() { return SG2TF_CHECK_CUDA ? 1 : 0; }

const char* sg2tf_check_error(int code) {
  switch (code) {
    case 0: return "ok";
    case kBadDtype: return "dtype must be 0 (float32) or 1 (float16)";
    case kBadAct: return "activation code must be 1..9";
    case kBadOrder: return "order must be 0..3";
    case kBadShape: return "bad shape or parameters";
    case kNoCuda: return "the library was built without CUDA";
    default:
#if SG2TF_CHECK_CUDA
      return cudaGetErrorString(static_cast<cudaError_t>(code));
#else
      return "unknown error";
#endif
  }
}

// n / d by sg2tf::FastDivisor (the CUDA kernels' index math; host evaluation).
uint32_t sg2tf_check_fast_div(uint32_t d, uint32_t n) {
  return sg2tf::FastDivisor::Make(d).Div(n);
}

// Activation code of a name (the op's attribute), 0 when unknown.
int sg2tf_check_act_code(const char* name) { return ba::ActCode(name); }

// bias_act on the CPU kernel: out = op(x [+ b]) (order 0) or its order-k gradient at x
// for the upstream gradient dy. x, dy, out: [size] viewed as [outer, channels, inner];
// b: [channels] or null.
int sg2tf_check_bias_act_cpu(int dtype, const void* x, const void* b, const void* dy,
                             void* out, int64_t size, int64_t channels, int64_t inner,
                             int order, int act, float alpha, float gain, float clamp) {
  int err = CheckBiasAct(dtype, act, order, size, channels, inner);
  if (err) return err;
  if (order > 0 && dy == nullptr) return kBadShape;
  const ba::Config c = BiasActConfig(dtype, act, alpha, gain, clamp, b != nullptr);
  if (dtype == 0) {
    ba::RangeFor<float>(c)(c, order, static_cast<const float*>(x),
                           static_cast<const float*>(b), static_cast<const float*>(dy),
                           static_cast<float*>(out), channels, inner, 0, size);
  } else {
    typedef Eigen::half H;
    ba::RangeFor<H>(c)(c, order, static_cast<const H*>(x), static_cast<const H*>(b),
                       static_cast<const H*>(dy), static_cast<H*>(out), channels, inner, 0,
                       size);
  }
  return 0;
}

// bias_act on the CUDA kernel, device pointers, launched on `stream` (asynchronous).
int sg2tf_check_bias_act_gpu_dev(int dtype, const void* x, const void* b, const void* dy,
                                 void* out, int64_t size, int64_t channels, int64_t inner,
                                 int order, int act, float alpha, float gain, float clamp,
                                 void* stream) {
  int err = CheckBiasAct(dtype, act, order, size, channels, inner);
  if (err) return err;
  if (order > 0 && dy == nullptr) return kBadShape;
#if SG2TF_CHECK_CUDA
  ba::GpuArgs a;
  a.x = x;
  a.b = b;
  a.dy = dy;
  a.out = out;
  a.size = size;
  a.channels = channels;
  a.inner = inner;
  a.order = order;
  a.config = BiasActConfig(dtype, act, alpha, gain, clamp, b != nullptr);
  return dtype == 0 ? ba::LaunchGpu<float>(a, stream) : ba::LaunchGpu<Half16>(a, stream);
#else
  (void)x, (void)b, (void)dy, (void)out, (void)alpha, (void)gain, (void)clamp, (void)stream;
  return kNoCuda;
#endif
}

// The same with host pointers: copies in, runs, synchronizes and copies out.
int sg2tf_check_bias_act_gpu(int dtype, const void* x, const void* b, const void* dy,
                             void* out, int64_t size, int64_t channels, int64_t inner,
                             int order, int act, float alpha, float gain, float clamp) {
  int err = CheckBiasAct(dtype, act, order, size, channels, inner);
  if (err) return err;
#if SG2TF_CHECK_CUDA
  const size_t elem = dtype == 0 ? 4 : 2;
  DeviceBuffers d;
  void* dx = d.Upload(x, size * elem);
  void* db = d.Upload(b, channels * elem);
  void* ddy = d.Upload(dy, size * elem);
  void* dout = d.Alloc(size * elem);
  if (d.err) return d.err;
  err = sg2tf_check_bias_act_gpu_dev(dtype, dx, db, ddy, dout, size, channels, inner, order,
                                     act, alpha, gain, clamp, nullptr);
  if (err) return err;
  err = cudaDeviceSynchronize();
  if (err) return err;
  return cudaMemcpy(out, dout, size * elem, cudaMemcpyDeviceToHost);
#else
  (void)x, (void)b, (void)dy, (void)out, (void)alpha, (void)gain, (void)clamp;
  return kNoCuda;
#endif
}

// Output size of upfirdn2d: out_hw = {out_h, out_w}. x: [batch, in_h, in_w, channels];
// f: [fh] (f_rank 1, separable) or [fh, fw]; updown = {upx, upy, downx, downy};
// pad = {padx0, padx1, pady0, pady1}.
int sg2tf_check_upfirdn2d_out_size(int dtype, const int64_t* xshape, int f_rank,
                                   const int* fshape, const int* updown, const int* pad,
                                   int* out_hw) {
  up::Params p;
  const int err = UpFirDnParams(dtype, xshape, f_rank, fshape, updown, pad, 0, 1.f, &p);
  out_hw[0] = p.out_h;
  out_hw[1] = p.out_w;
  return err;
}

// upfirdn2d on the CPU kernel (y: [batch, out_h, out_w, channels]). force: 0 picks the
// path as the op does, > 0 the separable path where the filter allows, < 0 the 2-D path.
// *used_separable (if not null) tells which path ran.
int sg2tf_check_upfirdn2d_cpu(int dtype, const void* x, const int64_t* xshape,
                              const float* f, int f_rank, const int* fshape,
                              const int* updown, const int* pad, int flip, float gain,
                              void* y, int force, int* used_separable) {
  up::Params p;
  const int err = UpFirDnParams(dtype, xshape, f_rank, fshape, updown, pad, flip, gain, &p);
  if (err) return err;
  if (dtype == 0) {
    const up::CpuPlan<float> plan(p, f, force);
    plan.RunRows(plan.Work(p, static_cast<const float*>(x), static_cast<float*>(y)), 0,
                 p.batch * p.out_h);
    if (used_separable) *used_separable = plan.separable;
  } else {
    typedef Eigen::half H;
    const up::CpuPlan<H> plan(p, f, force);
    plan.RunRows(plan.Work(p, static_cast<const H*>(x), static_cast<H*>(y)), 0,
                 p.batch * p.out_h);
    if (used_separable) *used_separable = plan.separable;
  }
  return 0;
}

// upfirdn2d on the CUDA kernel, device pointers (f too), on `stream` (asynchronous).
int sg2tf_check_upfirdn2d_gpu_dev(int dtype, const void* x, const int64_t* xshape,
                                  const float* f, int f_rank, const int* fshape,
                                  const int* updown, const int* pad, int flip, float gain,
                                  void* y, void* stream) {
  up::Params p;
  const int err = UpFirDnParams(dtype, xshape, f_rank, fshape, updown, pad, flip, gain, &p);
  if (err) return err;
#if SG2TF_CHECK_CUDA
  return dtype == 0 ? up::LaunchGpu<float>(p, x, f, y, stream)
                    : up::LaunchGpu<Half16>(p, x, f, y, stream);
#else
  (void)x, (void)f, (void)y, (void)stream;
  return kNoCuda;
#endif
}

// The same with host pointers: copies in, runs, synchronizes and copies out.
int sg2tf_check_upfirdn2d_gpu(int dtype, const void* x, const int64_t* xshape,
                              const float* f, int f_rank, const int* fshape,
                              const int* updown, const int* pad, int flip, float gain,
                              void* y) {
  up::Params p;
  int err = UpFirDnParams(dtype, xshape, f_rank, fshape, updown, pad, flip, gain, &p);
  if (err) return err;
#if SG2TF_CHECK_CUDA
  const size_t elem = dtype == 0 ? 4 : 2;
  const size_t x_bytes = static_cast<size_t>(p.batch) * p.in_h * p.in_w * p.channels * elem;
  const size_t y_bytes = static_cast<size_t>(p.batch) * p.out_h * p.out_w * p.channels * elem;
  const size_t f_bytes = static_cast<size_t>(p.fh) * (f_rank == 1 ? 1 : p.fw) * sizeof(float);
  DeviceBuffers d;
  void* dx = d.Upload(x, x_bytes);
  void* df = d.Upload(f, f_bytes);
  void* dy = d.Alloc(y_bytes);
  if (d.err) return d.err;
  err = sg2tf_check_upfirdn2d_gpu_dev(dtype, dx, xshape, static_cast<const float*>(df),
                                      f_rank, fshape, updown, pad, flip, gain, dy, nullptr);
  if (err) return err;
  err = cudaDeviceSynchronize();
  if (err) return err;
  return cudaMemcpy(y, dy, y_bytes, cudaMemcpyDeviceToHost);
#else
  (void)x, (void)f, (void)y;
  return kNoCuda;
#endif
}

// Device facts: info = {device count, cc major, cc minor, multiprocessors, memory clock
// (kHz), memory bus width (bits), L2 bytes}; name: 256 bytes. Peak DRAM bandwidth is
// 2 * clock * bus width / 8 (double data rate). CUDA 13's cudaDeviceProp has no memory
// clock, hence the attribute queries.
int sg2tf_check_device_info(int device, int64_t* info, char* name) {
  std::memset(info, 0, 7 * sizeof(int64_t));
  name[0] = 0;
#if SG2TF_CHECK_CUDA
  int count = 0;
  int err = cudaGetDeviceCount(&count);
  if (err) return err;
  info[0] = count;
  if (device >= count) return 0;
  const cudaDeviceAttr attrs[] = {cudaDevAttrComputeCapabilityMajor,
                                  cudaDevAttrComputeCapabilityMinor,
                                  cudaDevAttrMultiProcessorCount, cudaDevAttrMemoryClockRate,
                                  cudaDevAttrGlobalMemoryBusWidth, cudaDevAttrL2CacheSize};
  for (int i = 0; i < 6; ++i) {
    int v = 0;
    err = cudaDeviceGetAttribute(&v, attrs[i], device);
    if (err) return err;
    info[i + 1] = v;
  }
  cudaDeviceProp prop;
  err = cudaGetDeviceProperties(&prop, device);
  if (err) return err;
  std::strncpy(name, prop.name, 255);
  name[255] = 0;
  return 0;
#else
  (void)device;
  return kNoCuda;
#endif
}

}  // extern "C"
