// CPU kernels of the image records family (see image_records.h for the record layout).
//
// Both kernels handle one image per work item of TensorFlow's intra-op thread pool, in a
// single pass from the record bytes to the output: the Example is parsed in place, the
// `shape` and data size are checked, and the CHW planes are interleaved into the NHWC
// output (with the x-flip folded into the read order, and the dtype conversion done by a
// 256-entry table computed by the caller with the reference formula, so the values are
// those of the reference ops bit for bit). uint8 output of 3-channel images uses SSSE3
// byte shuffles (16 pixels per step).
//
// Sg2tf>ReadImageRecords also reads the records itself, by number, from a file of
// fixed-size records, and verifies the TFRecord framing and both CRC32C checksums like
// TensorFlow's record reader. Local files are memory-mapped and records decoded in
// place (the copy out of the page cache that read() makes costs as much as checking and
// converting a record); otherwise, or beyond the mapped length, one read per record into
// a per-thread buffer that stays in cache. Errors name the file and the record.
#define EIGEN_USE_THREADS

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/crc/crc32c.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "custom_ops/common/kernel_util.h"
#include "custom_ops/image_records/cc/kernels/image_records.h"
#include "tensorflow/core/platform/env.h"
#include "tensorflow/core/platform/file_system.h"

namespace sg2tf {
namespace image_records {

namespace {

constexpr int kMaxChannels = 4;

std::string ShapeString(const int64_t* v, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) {
    if (i) s += ", ";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

// CRC32C. TensorFlow's absl is built without SSE4.2, so its CRC32C is the portable
// table-driven one (about as slow as reading the record); on x86 with SSE4.2 this uses
// the crc32 instruction on three interleaved streams, joined with absl::ConcatCrc32c.
uint32_t Crc32cPortable(const uint8_t* p, size_t n) {
  return static_cast<uint32_t>(
      absl::ComputeCrc32c(absl::string_view(reinterpret_cast<const char*>(p), n)));
}

#if SG2TF_IMAGE_RECORDS_X86
bool HaveSse42() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}

__attribute__((target("sse4.2"))) uint64_t Crc32cStep(uint64_t state, const uint8_t* p,
                                                      size_t n) {
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    state = _mm_crc32_u64(state, v);
  }
  for (; n > 0; --n, ++p) state = _mm_crc32_u8(uint32_t(state), *p);
  return state;
}

__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(const uint8_t* p, size_t n) {
  constexpr size_t kMinSplit = 3 * 1024;
  if (n < kMinSplit) return ~uint32_t(Crc32cStep(0xffffffffu, p, n));
  const size_t part = (n / 3) & ~size_t(7);
  const uint8_t *a = p, *b = p + part, *c = p + 2 * part;
  uint64_t sa = 0xffffffffu, sb = 0xffffffffu, sc = 0xffffffffu;
  for (size_t i = 0; i < part; i += 8) {
    uint64_t va, vb, vc;
    std::memcpy(&va, a + i, 8);
    std::memcpy(&vb, b + i, 8);
    std::memcpy(&vc, c + i, 8);
    sa = _mm_crc32_u64(sa, va);
    sb = _mm_crc32_u64(sb, vb);
    sc = _mm_crc32_u64(sc, vc);
  }
  const size_t rest = n - 2 * part;
  sc = Crc32cStep(sc, c + part, rest - part);
  const absl::crc32c_t ca(~uint32_t(sa)), cb(~uint32_t(sb)), cc(~uint32_t(sc));
  return static_cast<uint32_t>(absl::ConcatCrc32c(absl::ConcatCrc32c(ca, cb, part), cc, rest));
}
#endif

uint32_t Crc32c(const uint8_t* p, size_t n) {
#if SG2TF_IMAGE_RECORDS_X86
  if (HaveSse42()) return Crc32cSse42(p, n);
#endif
  return Crc32cPortable(p, n);
}

template <typename T>
class ImageRecordsOpBase : public OpKernel {
 public:
  explicit ImageRecordsOpBase(OpKernelConstruction* ctx) : OpKernel(ctx) {
    std::vector<int64_t> shape;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("shape", &shape));
    OP_REQUIRES(ctx,
                shape.size() == 3 && shape[0] >= 1 && shape[0] <= kMaxChannels &&
                    shape[1] >= 1 && shape[2] >= 1,
                errors::InvalidArgument("shape must be [C, H, W] with 1 <= C <= ",
                                        kMaxChannels, " and H, W >= 1"));
    for (int i = 0; i < 3; ++i) shape_[i] = shape[i];
    image_bytes_ = shape_[0] * shape_[1] * shape_[2];
    OP_REQUIRES_OK(ctx, ctx->GetAttr("filename", &filename_));
  }

 protected:
  std::string Where(int64_t index) const {
    std::string where = filename_.empty() ? std::string() : filename_ + ": ";
    return where + "record " + std::to_string(index);
  }

  // Checks the inputs shared by both ops, allocates the output and picks the conversion.
  bool Prepare(OpKernelContext* ctx, int64_t batch, const Tensor& flip, const Tensor& lut,
               Tensor** images, Conversion<T>* conv) {
    SG2TF_REQUIRE_OR_FALSE(ctx, flip.dims() == 1 && flip.dim_size(0) == batch,
                           errors::InvalidArgument("flip must have shape [", batch, "], got ",
                                                   flip.shape().DebugString()));
    SG2TF_REQUIRE_OR_FALSE(
        ctx, lut.dims() == 1 && lut.dim_size(0) == 256,
        errors::InvalidArgument("lut must have shape [256], got ", lut.shape().DebugString()));
    Status s = ctx->allocate_output(0, TensorShape({batch, shape_[1], shape_[2], shape_[0]}),
                                    images);
    SG2TF_REQUIRE_OR_FALSE(ctx, s.ok(), s);
    *conv = MakeConversion<T>(lut.flat<T>().data());
    return true;
  }

  // The stored checksum of a record read from the file, to verify while decoding.
  struct Checksum {
    uint32_t masked;  // the record's footer: masked CRC32C of the serialized Example
    uint64_t offset;  // of the record in the file, for the message
  };

  // Finds the image bytes of one serialized Example and checks `shape` and size.
  Status Locate(const uint8_t* record, size_t size, int64_t index,
                const uint8_t** pixels) const {
    ExampleView ex;
    if (!ParseExample(record, size, &ex)) {
      return errors::InvalidArgument(Where(index), ": is not a valid tf.train.Example (",
                                     size, " bytes)");
    }
    if (!ex.has_shape || ex.shape.kind != kInt64s) {
      return errors::InvalidArgument(Where(index), ": has no int64 feature 'shape'");
    }
    if (ex.shape.count != 3 || ex.shape.ints[0] != shape_[0] ||
        ex.shape.ints[1] != shape_[1] || ex.shape.ints[2] != shape_[2]) {
      const std::string got = ex.shape.count == 3
                                  ? ShapeString(ex.shape.ints, 3)
                                  : std::to_string(ex.shape.count) + " values";
      return errors::InvalidArgument(Where(index), ": has shape ", got, ", expected ",
                                     ShapeString(shape_, 3));
    }
    if (!ex.has_data || ex.data.kind != kBytes || ex.data.count != 1) {
      return errors::InvalidArgument(Where(index), ": has no single bytes feature 'data'");
    }
    if (ex.data.bytes_size != uint64_t(image_bytes_)) {
      return errors::InvalidArgument(Where(index), ": holds ", ex.data.bytes_size,
                                     " data bytes, expected ", image_bytes_,
                                     " (raw uint8 CHW)");
    }
    *pixels = ex.data.bytes;
    return Status();
  }

  Status Damaged(int64_t index, const Checksum& sum) const {
    return errors::DataLoss(Where(index), ": is damaged (data checksum mismatch at offset ",
                            sum.offset, ")");
  }

  // Decodes one serialized Example into `out`. With `sum`, also verifies its checksum:
  // a mismatch is a DataLoss error, and takes precedence over content errors (a damaged
  // record is reported as damaged).
  Status DecodeOne(const uint8_t* record, size_t size, int64_t index, bool flip,
                   const Conversion<T>& conv, T* out, const Checksum* sum = nullptr) const {
    const uint8_t* pixels = nullptr;
    Status content = Locate(record, size, index, &pixels);
    if (!content.ok()) {
      if (sum != nullptr && MaskCrc(Crc32c(record, size)) != sum->masked) {
        return Damaged(index, *sum);
      }
      return content;
    }
    static thread_local std::vector<uint8_t> row;
    if (row.size() < size_t(shape_[0] * shape_[2])) row.resize(size_t(shape_[0] * shape_[2]));
    uint64_t planes[kMaxChannels] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    const bool fused = ImageToHwc<T>(pixels, int(shape_[0]), shape_[1], shape_[2], flip, conv,
                                     row.data(), out, sum != nullptr ? planes : nullptr);
    if (sum == nullptr) return Status();
    uint32_t crc;
    if (fused) {  // CRC(prefix | plane 0 | ... | suffix) from the parts' CRCs
      const size_t prefix = size_t(pixels - record), plane = size_t(shape_[1] * shape_[2]);
      const size_t suffix = size - prefix - size_t(image_bytes_);
      absl::crc32c_t total(Crc32c(record, prefix));
      for (int c = 0; c < shape_[0]; ++c) {
        total = absl::ConcatCrc32c(total, absl::crc32c_t(~uint32_t(planes[c])), plane);
      }
      total = absl::ConcatCrc32c(total, absl::crc32c_t(Crc32c(pixels + image_bytes_, suffix)),
                                 suffix);
      crc = static_cast<uint32_t>(total);
    } else {
      crc = Crc32c(record, size);
    }
    if (MaskCrc(crc) != sum->masked) return Damaged(index, *sum);
    return Status();
  }

  // Runs fn(b) for every image b on the intra-op thread pool; the error of the first
  // failing image (in batch order) wins.
  template <typename Fn>
  void ForEachImage(OpKernelContext* ctx, int64_t batch, Fn fn) {
    std::vector<Status> status(batch);
    const int64_t cost = image_bytes_ * int64_t(4 + sizeof(T));
    ParallelFor(ctx, batch, cost, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) status[b] = fn(b);
    });
    for (const Status& s : status) {
      if (!s.ok()) {
        ctx->SetStatus(s);
        return;
      }
    }
  }

  int64_t shape_[3];
  int64_t image_bytes_;
  std::string filename_;
};

template <typename T>
class DecodeImageExamplesOp : public ImageRecordsOpBase<T> {
 public:
  explicit DecodeImageExamplesOp(OpKernelConstruction* ctx) : ImageRecordsOpBase<T>(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& serialized = ctx->input(0);
    const Tensor& index = ctx->input(1);
    OP_REQUIRES(ctx, serialized.dims() == 1,
                errors::InvalidArgument("serialized must be 1-D, got ",
                                        serialized.shape().DebugString()));
    const int64_t batch = serialized.dim_size(0);
    OP_REQUIRES(ctx, index.dims() == 1 && index.dim_size(0) == batch,
                errors::InvalidArgument("index must have shape [", batch, "], got ",
                                        index.shape().DebugString()));
    Tensor* images = nullptr;
    Conversion<T> conv;
    if (!this->Prepare(ctx, batch, ctx->input(2), ctx->input(3), &images, &conv)) return;
    const auto records = serialized.flat<tensorflow::tstring>();
    const auto idx = index.flat<int64_t>();
    const auto flip = ctx->input(2).flat<bool>();
    T* out = images->flat<T>().data();
    const int64_t per_image = this->image_bytes_;
    this->ForEachImage(ctx, batch, [&](int64_t b) {
      const tensorflow::tstring& r = records(b);
      return this->DecodeOne(reinterpret_cast<const uint8_t*>(r.data()), r.size(), idx(b),
                             flip(b), conv, out + b * per_image);
    });
  }
};

template <typename T>
class ReadImageRecordsOp : public ImageRecordsOpBase<T> {
 public:
  explicit ReadImageRecordsOp(OpKernelConstruction* ctx) : ImageRecordsOpBase<T>(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("record_bytes", &record_bytes_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("num_records", &num_records_));
    OP_REQUIRES(ctx, record_bytes_ > int64_t(kHeaderBytes + kFooterBytes),
                errors::InvalidArgument("record_bytes must exceed ",
                                        kHeaderBytes + kFooterBytes));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& index = ctx->input(0);
    OP_REQUIRES(ctx, index.dims() == 1,
                errors::InvalidArgument("index must be 1-D, got ",
                                        index.shape().DebugString()));
    const int64_t batch = index.dim_size(0);
    Tensor* images = nullptr;
    Conversion<T> conv;
    if (!this->Prepare(ctx, batch, ctx->input(1), ctx->input(2), &images, &conv)) return;
    std::shared_ptr<const Source> source;
    OP_REQUIRES_OK(ctx, GetSource(&source));
    // Mapped records are read only while the file is still as long as when it was
    // mapped (checked once per batch): a file truncated in place would make reading
    // its vanished pages fatal (SIGBUS); read() reports it as a truncated record.
    uint64_t mapped = 0;
    if (source->region != nullptr) {
      uint64_t size = 0;
      if (tensorflow::Env::Default()->GetFileSize(this->filename_, &size).ok()) {
        mapped = std::min<uint64_t>(size, source->region->length());
      }
    }
    const auto idx = index.flat<int64_t>();
    const auto flip = ctx->input(1).flat<bool>();
    T* out = images->flat<T>().data();
    const int64_t per_image = this->image_bytes_;
    this->ForEachImage(ctx, batch, [&](int64_t b) {
      return ReadOne(*source, mapped, idx(b), flip(b), conv, out + b * per_image);
    });
  }

 private:
  // The open file, and its memory mapping where the file system offers one (local
  // files): reading records in place saves the copy out of the page cache, which costs
  // as much as checking and converting them.
  struct Source {
    std::unique_ptr<tensorflow::RandomAccessFile> file;
    std::unique_ptr<tensorflow::ReadOnlyMemoryRegion> region;
  };

  Status GetSource(std::shared_ptr<const Source>* source) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!source_) {
      auto s = std::make_shared<Source>();
      tensorflow::Env* env = tensorflow::Env::Default();
      Status status = env->NewRandomAccessFile(this->filename_, &s->file);
      if (!status.ok()) {
        return errors::NotFound(this->filename_, ": cannot open (", status.message(), ")");
      }
      if (!env->NewReadOnlyMemoryRegionFromFile(this->filename_, &s->region).ok() ||
          (s->region != nullptr && s->region->data() == nullptr)) {
        s->region.reset();  // no mapping: read() every record
      }
      source_ = std::move(s);
    }
    *source = source_;
    return Status();
  }

  Status ReadOne(const Source& source, uint64_t mapped, int64_t index, bool flip,
                 const Conversion<T>& conv, T* out) const {
    if (index < 0 || index >= num_records_) {
      return errors::InvalidArgument(this->Where(index), ": out of range (the file has ",
                                     num_records_, " records)");
    }
    const uint64_t offset = uint64_t(index) * uint64_t(record_bytes_);
    if (offset + uint64_t(record_bytes_) <= mapped) {
      const uint8_t* r = static_cast<const uint8_t*>(source.region->data()) + offset;
      return Check(r, index, offset, flip, conv, out);
    }
    // One buffer per thread, reused: the record stays in cache until it is decoded.
    static thread_local std::vector<char> buffer;
    if (buffer.size() < size_t(record_bytes_)) buffer.resize(size_t(record_bytes_));
    absl::string_view got;
    Status s =
        source.file->Read(offset, got, absl::MakeSpan(buffer.data(), size_t(record_bytes_)));
    if (got.size() < size_t(record_bytes_)) {
      if (s.ok() || tensorflow::errors::IsOutOfRange(s)) {
        return errors::DataLoss(this->Where(index), ": is truncated (", got.size(), " of ",
                                record_bytes_, " bytes at offset ", offset, ")");
      }
      return errors::DataLoss(this->Where(index), ": read failed at offset ", offset, " (",
                              s.message(), ")");
    }
    return Check(reinterpret_cast<const uint8_t*>(got.data()), index, offset, flip, conv, out);
  }

  // Verifies the framing and checksums of the record at `r` and decodes it.
  Status Check(const uint8_t* r, int64_t index, uint64_t offset, bool flip,
               const Conversion<T>& conv, T* out) const {
    const uint64_t length = LoadLE64(r);
    if (MaskCrc(Crc32c(r, 8)) != LoadLE32(r + 8)) {
      return errors::DataLoss(this->Where(index), ": is damaged (header checksum mismatch at "
                              "offset ", offset, ")");
    }
    const uint64_t expected = uint64_t(record_bytes_) - kHeaderBytes - kFooterBytes;
    if (length != expected) {
      return errors::DataLoss(this->Where(index), ": holds ", length, " bytes, but every "
                              "record of this file should hold ", expected);
    }
    const typename ImageRecordsOpBase<T>::Checksum sum = {LoadLE32(r + kHeaderBytes + length),
                                                          offset};
    return this->DecodeOne(r + kHeaderBytes, length, index, flip, conv, out, &sum);
  }

  int64_t record_bytes_;
  int64_t num_records_;
  std::mutex mu_;
  std::shared_ptr<const Source> source_;
};

}  // namespace

#define REGISTER_CPU(T)                                                                   \
  REGISTER_KERNEL_BUILDER(                                                                \
      Name("Sg2tf>DecodeImageExamples").Device(DEVICE_CPU).TypeConstraint<T>("T"),        \
      DecodeImageExamplesOp<T>);                                                          \
  REGISTER_KERNEL_BUILDER(                                                                \
      Name("Sg2tf>ReadImageRecords").Device(DEVICE_CPU).TypeConstraint<T>("T"),           \
      ReadImageRecordsOp<T>);
REGISTER_CPU(uint8_t);
REGISTER_CPU(Eigen::half);
REGISTER_CPU(Eigen::bfloat16);
REGISTER_CPU(float);
REGISTER_CPU(double);
#undef REGISTER_CPU

}  // namespace image_records
}  // namespace sg2tf
