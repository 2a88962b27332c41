// Image records of the NVlabs dataset format: TFRecord framing, a minimal reader of the
// tf.train.Example wire format (only what locating `shape` and `data` needs, without
// copying the image bytes), and the CHW -> HWC conversion with optional x-flip and a
// per-byte lookup table. Plain C++, no TensorFlow: the kernels
// (image_records_kernels.cc) do the TensorFlow side.
#ifndef SG2TF_CUSTOM_OPS_IMAGE_RECORDS_CC_KERNELS_IMAGE_RECORDS_H_
#define SG2TF_CUSTOM_OPS_IMAGE_RECORDS_CC_KERNELS_IMAGE_RECORDS_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

// SG2TF_IMAGE_RECORDS_NO_SIMD builds the portable code only (as on other CPUs).
#if (defined(__x86_64__) || defined(__i386__)) && !defined(SG2TF_IMAGE_RECORDS_NO_SIMD)
#include <immintrin.h>
#define SG2TF_IMAGE_RECORDS_X86 1
#else
#define SG2TF_IMAGE_RECORDS_X86 0
#endif

namespace sg2tf {
namespace image_records {

// ------------------------------------------------------------------ TFRecord framing
// A record is: uint64 length, uint32 masked CRC32C of those 8 bytes, `length` data bytes,
// uint32 masked CRC32C of the data (all little-endian).
constexpr size_t kHeaderBytes = 12;
constexpr size_t kFooterBytes = 4;
constexpr uint32_t kMaskDelta = 0xa282ead8u;

inline uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

inline uint64_t LoadLE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline uint32_t LoadLE32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) |
         (uint32_t(p[3]) << 24);
}

// ------------------------------------------------------- tf.train.Example wire format
//   Example  { Features features = 1; }
//   Features { map<string, Feature> feature = 1; }  (entries: key = 1, value = 2)
//   Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
//                           Int64List int64_list = 3; } }
//   BytesList { repeated bytes value = 1; }   Int64List { repeated int64 value = 1; }
// Protocol buffer merge rules are followed where they can matter: the last map entry of
// a key wins, repeated occurrences of a message field merge (lists append), a different
// oneof member replaces the previous one; unknown fields (groups included) are skipped.

enum Kind { kNone = 0, kBytes = 1, kFloats = 2, kInt64s = 3 };

struct FeatureView {
  int kind = kNone;
  int64_t count = 0;                // values in the list
  const uint8_t* bytes = nullptr;   // bytes_list: the last value
  uint64_t bytes_size = 0;
  int64_t ints[3] = {0, 0, 0};      // int64_list: the first three values
};

struct ExampleView {
  FeatureView shape, data;
  bool has_shape = false, has_data = false;
};

struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
};

inline bool ReadVarint(Cursor* c, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (c->p >= c->end) return false;
    uint8_t byte = *c->p++;
    result |= uint64_t(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *v = result;
      return true;
    }
  }
  return false;  // more than 10 bytes
}

// A length-delimited field's contents as a sub-cursor; advances `c` past it.
inline bool ReadLength(Cursor* c, Cursor* sub) {
  uint64_t n;
  if (!ReadVarint(c, &n) || n > uint64_t(c->end - c->p)) return false;
  sub->p = c->p;
  sub->end = c->p + n;
  c->p += n;
  return true;
}

// Skips the value of a field of wire type `wire` (the tag is read). Groups nest.
inline bool SkipField(Cursor* c, uint32_t field, int wire, int depth = 0) {
  uint64_t v;
  Cursor sub;
  switch (wire) {
    case 0: return ReadVarint(c, &v);
    case 1:
      if (c->end - c->p < 8) return false;
      c->p += 8;
      return true;
    case 2: return ReadLength(c, &sub);
    case 5:
      if (c->end - c->p < 4) return false;
      c->p += 4;
      return true;
    case 3:  // start group: fields until the matching end group
      if (depth > 64) return false;
      while (true) {
        uint64_t tag;
        if (!ReadVarint(c, &tag)) return false;
        const int w = int(tag & 7);
        const uint64_t f = tag >> 3;
        if (w == 4) return f == field;
        if (f == 0 || !SkipField(c, uint32_t(f), w, depth + 1)) return false;
      }
    default: return false;  // an unmatched end group or an invalid wire type
  }
}

// Reads the next tag; false at the end of the message. Sets *ok = false when malformed.
inline bool NextTag(Cursor* c, uint32_t* field, int* wire, bool* ok) {
  if (c->p >= c->end) return false;
  uint64_t tag;
  if (!ReadVarint(c, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
    *ok = false;
    return false;
  }
  *field = uint32_t(tag >> 3);
  *wire = int(tag & 7);
  return true;
}

// What a message's field callback did with the field whose tag was just read.
enum FieldResult { kSkip, kRead, kMalformed };

// Calls on_field(&c, field, wire) for every field of the message `c`; it reads the value
// and returns kRead, or returns kSkip to have the value skipped, or kMalformed. False if
// the message (or a field, as on_field says) is malformed.
template <typename OnField>
inline bool ForEachField(Cursor c, OnField on_field) {
  uint32_t field;
  int wire;
  bool ok = true;
  while (NextTag(&c, &field, &wire, &ok)) {
    const FieldResult result = on_field(&c, field, wire);
    if (result == kMalformed) return false;
    if (result == kSkip && !SkipField(&c, field, wire)) return false;
  }
  return ok;
}

inline bool ParseBytesList(Cursor c, FeatureView* f) {
  return ForEachField(c, [f](Cursor* in, uint32_t field, int wire) {
    if (field != 1 || wire != 2) return kSkip;
    Cursor v;
    if (!ReadLength(in, &v)) return kMalformed;
    f->bytes = v.p;
    f->bytes_size = uint64_t(v.end - v.p);
    ++f->count;
    return kRead;
  });
}

inline void AddInt(FeatureView* f, uint64_t v) {
  if (f->count < 3) f->ints[f->count] = int64_t(v);
  ++f->count;
}

inline bool ParseInt64List(Cursor c, FeatureView* f) {
  return ForEachField(c, [f](Cursor* in, uint32_t field, int wire) {
    uint64_t v;
    if (field == 1 && wire == 0) {
      if (!ReadVarint(in, &v)) return kMalformed;
      AddInt(f, v);
    } else if (field == 1 && wire == 2) {  // packed
      Cursor packed;
      if (!ReadLength(in, &packed)) return kMalformed;
      while (packed.p < packed.end) {
        if (!ReadVarint(&packed, &v)) return kMalformed;
        AddInt(f, v);
      }
    } else {
      return kSkip;
    }
    return kRead;
  });
}

// Merges one serialized Feature into *f.
inline bool ParseFeature(Cursor c, FeatureView* f) {
  return ForEachField(c, [f](Cursor* in, uint32_t field, int wire) {
    if (wire != 2 || field < 1 || field > 3) return kSkip;
    Cursor sub;
    if (!ReadLength(in, &sub)) return kMalformed;
    if (f->kind != int(field)) {  // another oneof member: starts afresh
      *f = FeatureView();
      f->kind = int(field);
    }
    if (field == kBytes && !ParseBytesList(sub, f)) return kMalformed;
    if (field == kInt64s && !ParseInt64List(sub, f)) return kMalformed;
    // float_list: only its presence matters here.
    return kRead;
  });
}

inline bool KeyIs(const Cursor& key, const char* name, size_t len) {
  return size_t(key.end - key.p) == len && std::memcmp(key.p, name, len) == 0;
}

inline bool ParseMapEntry(Cursor c, ExampleView* out) {
  Cursor key = {c.p, c.p};  // empty key unless given
  FeatureView value;
  const bool ok = ForEachField(c, [&](Cursor* in, uint32_t field, int wire) {
    Cursor sub;
    if (field == 1 && wire == 2) {
      if (!ReadLength(in, &key)) return kMalformed;
    } else if (field == 2 && wire == 2) {
      if (!ReadLength(in, &sub) || !ParseFeature(sub, &value)) return kMalformed;
    } else {
      return kSkip;
    }
    return kRead;
  });
  if (!ok) return false;
  if (KeyIs(key, "shape", 5)) {
    out->shape = value;
    out->has_shape = true;
  } else if (KeyIs(key, "data", 4)) {
    out->data = value;
    out->has_data = true;
  }
  return true;
}

// Finds `shape` and `data` in a serialized tf.train.Example; false if it is malformed.
inline bool ParseExample(const uint8_t* p, size_t n, ExampleView* out) {
  *out = ExampleView();
  const Cursor example = {p, p + n};
  return ForEachField(example, [out](Cursor* in, uint32_t field, int wire) {
    if (field != 1 || wire != 2) return kSkip;
    Cursor features;  // repeated occurrences merge
    if (!ReadLength(in, &features)) return kMalformed;
    const bool ok = ForEachField(features, [out](Cursor* in, uint32_t field, int wire) {
      if (field != 1 || wire != 2) return kSkip;
      Cursor entry;
      return ReadLength(in, &entry) && ParseMapEntry(entry, out) ? kRead : kMalformed;
    });
    return ok ? kRead : kMalformed;
  });
}

// ------------------------------------------------------------------ CHW -> HWC
// out[y][x][c] = lut[src[c][y][sx]], sx = flip ? W-1-x : x.

template <typename T, int C>
inline void RowLut(const uint8_t* const* planes, int64_t w, bool flip, const T* lut, T* out) {
  if (!flip) {
    for (int64_t x = 0; x < w; ++x) {
      for (int c = 0; c < C; ++c) out[x * C + c] = lut[planes[c][x]];
    }
  } else {
    for (int64_t x = 0; x < w; ++x) {
      for (int c = 0; c < C; ++c) out[x * C + c] = lut[planes[c][w - 1 - x]];
    }
  }
}

template <typename T>
inline void RowLutAnyC(const uint8_t* const* planes, int channels, int64_t w, bool flip,
                       const T* lut, T* out) {
  for (int64_t x = 0; x < w; ++x) {
    const int64_t sx = flip ? w - 1 - x : x;
    for (int c = 0; c < channels; ++c) out[x * channels + c] = lut[planes[c][sx]];
  }
}

// uint8 without a table (identity), scalar.
inline void RowCopy3(const uint8_t* const* planes, int64_t x0, int64_t w, bool flip,
                     uint8_t* out) {
  const uint8_t *r = planes[0], *g = planes[1], *b = planes[2];
  for (int64_t x = x0; x < w; ++x) {
    const int64_t sx = flip ? w - 1 - x : x;
    out[3 * x] = r[sx];
    out[3 * x + 1] = g[sx];
    out[3 * x + 2] = b[sx];
  }
}

#if SG2TF_IMAGE_RECORDS_X86
// Byte shuffles interleaving 16 pixels of 3 planes into 48 bytes: output vector j takes,
// for channel c, mask kPack[flip][j][c] of that plane's 16 bytes (0x80: zero).
struct PackMasks {
  alignas(16) uint8_t m[2][3][3][16];
  PackMasks() {
    for (int flip = 0; flip < 2; ++flip) {
      for (int j = 0; j < 3; ++j) {
        for (int c = 0; c < 3; ++c) {
          for (int i = 0; i < 16; ++i) {
            const int k = 16 * j + i, pixel = k / 3;
            m[flip][j][c][i] = (k % 3 == c) ? uint8_t(flip ? 15 - pixel : pixel) : 0x80;
          }
        }
      }
    }
  }
};

inline const PackMasks& Masks() {
  static const PackMasks masks;
  return masks;
}

// kStream: non-temporal stores (`out` 16-byte aligned), for outputs too large to stay
// in cache until they are read: no read-for-ownership of the destination lines.
// kCrc: also extends crc[c], the CRC32C state of plane c, over this row of the plane
// (the source bytes are visited in ascending order, flipped or not), so that the record
// is read once for checking and converting.
template <bool kStream, bool kCrc>
__attribute__((target("ssse3,sse4.2"))) inline void RowPack3Ssse3(
    const uint8_t* const* planes, int64_t w, bool flip, uint8_t* out, uint64_t* crc) {
  const PackMasks& pm = Masks();
  __m128i m[3][3];
  for (int j = 0; j < 3; ++j) {
    for (int c = 0; c < 3; ++c) {
      m[j][c] = _mm_load_si128(reinterpret_cast<const __m128i*>(pm.m[flip][j][c]));
    }
  }
  const int64_t blocks = w / 16;
  // Source blocks in ascending order: [0, 16*blocks) unflipped; flipped, the output's
  // first 16*blocks pixels come from the source's last 16*blocks.
  const int64_t base = flip ? w - 16 * blocks : 0;
  uint64_t c0 = 0, c1 = 0, c2 = 0;
  if constexpr (kCrc) {
    c0 = crc[0], c1 = crc[1], c2 = crc[2];
    for (int64_t i = 0; i < base; ++i) {  // flipped: the source's first w % 16 bytes
      c0 = _mm_crc32_u8(uint32_t(c0), planes[0][i]);
      c1 = _mm_crc32_u8(uint32_t(c1), planes[1][i]);
      c2 = _mm_crc32_u8(uint32_t(c2), planes[2][i]);
    }
  }
  for (int64_t k = 0; k < blocks; ++k) {
    const int64_t sx = base + 16 * k;
    const int64_t x = flip ? w - 16 - sx : sx;
    const __m128i r = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes[0] + sx));
    const __m128i g = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes[1] + sx));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(planes[2] + sx));
    if constexpr (kCrc) {
      c0 = _mm_crc32_u64(_mm_crc32_u64(c0, uint64_t(_mm_cvtsi128_si64(r))),
                         uint64_t(_mm_cvtsi128_si64(_mm_unpackhi_epi64(r, r))));
      c1 = _mm_crc32_u64(_mm_crc32_u64(c1, uint64_t(_mm_cvtsi128_si64(g))),
                         uint64_t(_mm_cvtsi128_si64(_mm_unpackhi_epi64(g, g))));
      c2 = _mm_crc32_u64(_mm_crc32_u64(c2, uint64_t(_mm_cvtsi128_si64(b))),
                         uint64_t(_mm_cvtsi128_si64(_mm_unpackhi_epi64(b, b))));
    }
    for (int j = 0; j < 3; ++j) {
      const __m128i v = _mm_or_si128(
          _mm_or_si128(_mm_shuffle_epi8(r, m[j][0]), _mm_shuffle_epi8(g, m[j][1])),
          _mm_shuffle_epi8(b, m[j][2]));
      __m128i* dst = reinterpret_cast<__m128i*>(out + 3 * x + 16 * j);
      if constexpr (kStream) {
        _mm_stream_si128(dst, v);
      } else {
        _mm_storeu_si128(dst, v);
      }
    }
  }
  if constexpr (kCrc) {
    for (int64_t i = base + 16 * blocks; i < w; ++i) {  // unflipped: the last w % 16 bytes
      c0 = _mm_crc32_u8(uint32_t(c0), planes[0][i]);
      c1 = _mm_crc32_u8(uint32_t(c1), planes[1][i]);
      c2 = _mm_crc32_u8(uint32_t(c2), planes[2][i]);
    }
    crc[0] = c0, crc[1] = c1, crc[2] = c2;
  }
  RowCopy3(planes, 16 * blocks, w, flip, out);
}

inline bool HaveSsse3() {
  static const bool have = __builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

// Interleaves one row of 3 planes. With `crc` (3 CRC32C states), also extends them over
// the row's source bytes when that can be fused (x86 with SSSE3 and SSE4.2); returns
// whether it did.
inline bool RowPack3(const uint8_t* const* planes, int64_t w, bool flip, uint8_t* out,
                     bool stream = false, uint64_t* crc = nullptr) {
#if SG2TF_IMAGE_RECORDS_X86
  if (HaveSsse3()) {
    const bool nt = stream && reinterpret_cast<uintptr_t>(out) % 16 == 0;
    if (crc != nullptr) {
      nt ? RowPack3Ssse3<true, true>(planes, w, flip, out, crc)
         : RowPack3Ssse3<false, true>(planes, w, flip, out, crc);
    } else {
      nt ? RowPack3Ssse3<true, false>(planes, w, flip, out, crc)
         : RowPack3Ssse3<false, false>(planes, w, flip, out, crc);
    }
    return true;
  }
#endif
  RowCopy3(planes, 0, w, flip, out);
  return false;
}

// One row of interleaved uint8 pixels; `crc` as for RowPack3 (3 channels only).
inline bool RowBytes(const uint8_t* const* planes, int channels, int64_t w, bool flip,
                     uint8_t* out, bool stream = false, uint64_t* crc = nullptr) {
  if (channels == 3) return RowPack3(planes, w, flip, out, stream, crc);
  if (channels == 1 && !flip) {
    std::memcpy(out, planes[0], size_t(w));
  } else {
    for (int64_t x = 0; x < w; ++x) {
      const int64_t sx = flip ? w - 1 - x : x;
      for (int c = 0; c < channels; ++c) out[x * channels + c] = planes[c][sx];
    }
  }
  return false;
}

// float32 output as out = fl(fl(float(v) * scale) + offset): the reference's
// `cast(x, float32) * scale + offset` (two IEEE roundings, no fused multiply-add).
inline void AffineRowScalar(const uint8_t* in, int64_t n, float scale, float offset,
                            float* out) {
  for (int64_t i = 0; i < n; ++i) {
    volatile float product = float(in[i]) * scale;  // keeps the two roundings apart
    out[i] = product + offset;
  }
}

#if SG2TF_IMAGE_RECORDS_X86
template <bool kStream>
__attribute__((target("avx2"))) inline void AffineRowAvx2(const uint8_t* in, int64_t n,
                                                          float scale, float offset,
                                                          float* out) {
  int64_t i = 0;
  if constexpr (kStream) {  // scalar up to a 32-byte boundary, then aligned streaming stores
    const int64_t head = int64_t((32 - reinterpret_cast<uintptr_t>(out) % 32) % 32) / 4;
    i = head < n ? head : n;
    AffineRowScalar(in, i, scale, offset, out);
  }
  const __m256 s = _mm256_set1_ps(scale), o = _mm256_set1_ps(offset);
  for (; i + 8 <= n; i += 8) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(in + i));
    const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
    const __m256 v = _mm256_add_ps(_mm256_mul_ps(f, s), o);
    if constexpr (kStream) {
      _mm256_stream_ps(out + i, v);
    } else {
      _mm256_storeu_ps(out + i, v);
    }
  }
  AffineRowScalar(in + i, n - i, scale, offset, out + i);
}

inline bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}
#endif

inline bool AffineAvailable() {
#if SG2TF_IMAGE_RECORDS_X86
  return HaveAvx2();
#else
  return false;
#endif
}

inline void AffineRow(const uint8_t* in, int64_t n, float scale, float offset, float* out,
                      bool stream = false) {
#if SG2TF_IMAGE_RECORDS_X86
  if (HaveAvx2()) {
    if (stream && reinterpret_cast<uintptr_t>(out) % 4 == 0) {
      AffineRowAvx2<true>(in, n, scale, offset, out);
    } else {
      AffineRowAvx2<false>(in, n, scale, offset, out);
    }
    return;
  }
#endif
  AffineRowScalar(in, n, scale, offset, out);
}

// How bytes become output values: the table `lut` (T[256]), with two fast paths that
// give the same values: uint8 identity (`lut` null) and, for float32, a vectorized
// affine map used only when it reproduces all 256 table entries bit for bit.
template <typename T>
struct Conversion {
  const T* lut = nullptr;
  bool affine = false;
  float scale = 0.f, offset = 0.f;
};

// The conversion for table `lut`: detects the identity (uint8) and affine (float32) tables.
template <typename T>
Conversion<T> MakeConversion(const T* lut) {
  Conversion<T> conv;
  conv.lut = lut;
  if constexpr (sizeof(T) == 1) {
    bool identity = true;
    for (int v = 0; v < 256 && identity; ++v) {
      uint8_t byte;
      std::memcpy(&byte, &lut[v], 1);
      identity = byte == v;
    }
    if (identity) conv.lut = nullptr;
  }
  return conv;
}

template <>
inline Conversion<float> MakeConversion<float>(const float* lut) {
  Conversion<float> conv;
  conv.lut = lut;
  if (!AffineAvailable()) return conv;
  // Candidate: offset = lut[0], scale = the mean step; kept only if exact everywhere.
  const float offset = lut[0];
  const float scale = float((double(lut[255]) - double(lut[0])) / 255.0);
  uint8_t bytes[256];
  float table[256];
  for (int v = 0; v < 256; ++v) bytes[v] = uint8_t(v);
  AffineRow(bytes, 256, scale, offset, table);
  if (std::memcmp(table, lut, sizeof(table)) == 0) {
    conv.affine = true;
    conv.scale = scale;
    conv.offset = offset;
  }
  return conv;
}

// Images at least this large (output bytes) are written with non-temporal stores: a
// batch of them does not fit in cache anyway, and skipping the read-for-ownership of
// the destination saves a third of the memory traffic (measured: uint8 +15-35%,
// float32 +20-30% per CPU second at 256 and 1024 px).
constexpr int64_t kStreamBytes = 128 << 10;

// One image: src [C, H, W] uint8 -> out [H, W, C]. `row` is scratch of C*W bytes.
// With `crc` (C states, 0xffffffff to start), the CRC32C states of the C planes are
// extended over them in the same pass where that is possible (3 channels, uint8 or affine
// float32 on x86); returns whether it did (otherwise the caller checksums separately).
template <typename T>
bool ImageToHwc(const uint8_t* src, int channels, int64_t h, int64_t w, bool flip,
                const Conversion<T>& conv, uint8_t* row, T* out, uint64_t* crc = nullptr) {
  const int64_t plane = h * w;
  const int64_t row_len = w * channels;
  const bool stream = h * row_len * int64_t(sizeof(T)) >= kStreamBytes;
  const bool bytes_path = conv.lut == nullptr || conv.affine;
  if (!bytes_path || channels != 3) crc = nullptr;
  bool fused = crc != nullptr;
  const uint8_t* planes[8];
  for (int64_t y = 0; y < h; ++y) {
    for (int c = 0; c < channels && c < 8; ++c) planes[c] = src + c * plane + y * w;
    T* dst = out + y * row_len;
    if (conv.lut == nullptr) {
      if constexpr (sizeof(T) == 1) {
        fused &= RowBytes(planes, channels, w, flip, reinterpret_cast<uint8_t*>(dst), stream,
                          crc);
      }
    } else if (conv.affine) {
      if constexpr (std::is_same<T, float>::value) {
        fused &= RowBytes(planes, channels, w, flip, row, false, crc);
        AffineRow(row, row_len, conv.scale, conv.offset, dst, stream);
      }
    } else if (channels == 3) {
      RowLut<T, 3>(planes, w, flip, conv.lut, dst);
    } else if (channels == 1) {
      RowLut<T, 1>(planes, w, flip, conv.lut, dst);
    } else {
      RowLutAnyC<T>(planes, channels, w, flip, conv.lut, dst);
    }
  }
#if SG2TF_IMAGE_RECORDS_X86
  if (stream) _mm_sfence();  // order the streaming stores before the image is handed on
#endif
  return fused;
}

}  // namespace image_records
}  // namespace sg2tf

#endif  // SG2TF_CUSTOM_OPS_IMAGE_RECORDS_CC_KERNELS_IMAGE_RECORDS_H_
