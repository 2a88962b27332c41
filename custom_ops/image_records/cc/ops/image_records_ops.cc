// Op definitions of the image records family: NVlabs dataset records (tf.train.Example
// with `shape` [C, H, W] and raw uint8 CHW `data`) to NHWC image batches.
#include "custom_ops/common/shape_util.h"

namespace sg2tf {

namespace {

// The inputs, output and attrs of the decoding, shared by both ops (after their own inputs).
#define SG2TF_IMAGE_RECORDS_DECODE_ARGS                  \
  Input("flip: bool")                                    \
      .Input("lut: T")                                   \
      .Output("images: T")                               \
      .Attr("T: {uint8, half, bfloat16, float, double}") \
      .Attr("shape: list(int)")

// Checks that inputs a and b are vectors of one length; *merged is their merged shape.
Status MergeVectors(InferenceContext* c, int a, int b, ShapeHandle* merged) {
  ShapeHandle other;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(a), 1, merged));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(b), 1, &other));
  return c->Merge(*merged, other, merged);
}

// images: [B, H, W, C] with B from the 1-D input `batch_input`; flip and lut checked.
Status ImagesShape(InferenceContext* c, int batch_input, int flip_input, int lut_input) {
  std::vector<int64_t> shape;
  TF_RETURN_IF_ERROR(c->GetAttr("shape", &shape));
  if (shape.size() != 3) {
    return tensorflow::errors::InvalidArgument("shape must be [C, H, W], got ", shape.size(),
                                               " values");
  }
  ShapeHandle batch, lut;
  TF_RETURN_IF_ERROR(MergeVectors(c, batch_input, flip_input, &batch));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(lut_input), 1, &lut));
  DimensionHandle unused;
  TF_RETURN_IF_ERROR(c->WithValue(c->Dim(lut, 0), 256, &unused));
  c->set_output(0, c->MakeShape({c->Dim(batch, 0), c->MakeDim(shape[1]),
                                 c->MakeDim(shape[2]), c->MakeDim(shape[0])}));
  return tensorflow::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2tf>DecodeImageExamples")
    .Input("serialized: string")
    .Input("index: int64")
    .SG2TF_IMAGE_RECORDS_DECODE_ARGS
    .Attr("filename: string = ''")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle records;
      TF_RETURN_IF_ERROR(MergeVectors(c, 0, 1, &records));
      return ImagesShape(c, 0, 2, 3);
    })
    .Doc(R"doc(
Decodes a batch of serialized tf.train.Example image records into NHWC images.

Each record must hold `shape` (int64 [C, H, W], equal to the `shape` attr) and `data`
(C*H*W bytes, the uint8 image in CHW order). images[b, y, x, c] =
lut[data_b[c, y, x']] with x' = W-1-x where flip[b], else x. `index` (the records'
numbers in `filename`) only serves the error messages, which name the file and record.
)doc");

REGISTER_OP("Sg2tf>ReadImageRecords")
    .Input("index: int64")
    .SG2TF_IMAGE_RECORDS_DECODE_ARGS
    .Attr("filename: string")
    .Attr("record_bytes: int >= 17")
    .Attr("num_records: int >= 0")
    .SetShapeFn([](InferenceContext* c) { return ImagesShape(c, 0, 1, 2); })
    .Doc(R"doc(
Reads records number `index` of a TFRecord file whose records all take `record_bytes`
bytes (framing included) and decodes them like Sg2tf>DecodeImageExamples.

Record i is read at byte offset i * record_bytes (any TensorFlow file system). Its
framing and both CRC32C checksums are verified: a damaged or truncated record is a
DataLoss error naming the file and record.
)doc");

#undef SG2TF_IMAGE_RECORDS_DECODE_ARGS

}  // namespace sg2tf
