// Op definition of upfirdn2d (NHWC).
#include "custom_ops/common/shape_util.h"
#include "custom_ops/upfirdn2d/cc/kernels/upfirdn2d.h"

namespace sg2tf {

REGISTER_OP("Sg2tf>UpFirDn2D")
    .Input("x: T")
    .Input("f: float")
    .Output("y: T")
    .Attr("T: {half, float}")
    .Attr("upx: int >= 1 = 1")
    .Attr("upy: int >= 1 = 1")
    .Attr("downx: int >= 1 = 1")
    .Attr("downy: int >= 1 = 1")
    .Attr("padx0: int = 0")
    .Attr("padx1: int = 0")
    .Attr("pady0: int = 0")
    .Attr("pady1: int = 0")
    .Attr("flip_filter: bool = false")
    .Attr("gain: float = 1.0")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle x, f;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      TF_RETURN_IF_ERROR(c->WithRankAtLeast(c->input(1), 1, &f));
      TF_RETURN_IF_ERROR(c->WithRankAtMost(f, 2, &f));
      int upx, upy, downx, downy, padx0, padx1, pady0, pady1;
      TF_RETURN_IF_ERROR(c->GetAttr("upx", &upx));
      TF_RETURN_IF_ERROR(c->GetAttr("upy", &upy));
      TF_RETURN_IF_ERROR(c->GetAttr("downx", &downx));
      TF_RETURN_IF_ERROR(c->GetAttr("downy", &downy));
      TF_RETURN_IF_ERROR(c->GetAttr("padx0", &padx0));
      TF_RETURN_IF_ERROR(c->GetAttr("padx1", &padx1));
      TF_RETURN_IF_ERROR(c->GetAttr("pady0", &pady0));
      TF_RETURN_IF_ERROR(c->GetAttr("pady1", &pady1));
      DimensionHandle fh = c->Dim(f, 0);
      DimensionHandle fw = c->Dim(f, c->Rank(f) - 1);
      auto out_dim = [&](DimensionHandle in, DimensionHandle taps, int up, int pad0,
                         int pad1, int down, DimensionHandle* out) -> tensorflow::Status {
        if (!c->ValueKnown(in) || !c->ValueKnown(taps)) {
          *out = c->UnknownDim();
          return tensorflow::OkStatus();
        }
        int size = upfirdn2d::OutSize(static_cast<int>(c->Value(in)), up, pad0, pad1,
                                      static_cast<int>(c->Value(taps)), down);
        if (size <= 0) {
          return tensorflow::errors::InvalidArgument(
              "upfirdn2d output would be empty: input ", c->Value(in), ", up ", up,
              ", padding ", pad0, "/", pad1, ", filter ", c->Value(taps), ", down ", down);
        }
        *out = c->MakeDim(size);
        return tensorflow::OkStatus();
      };
      DimensionHandle out_h, out_w;
      TF_RETURN_IF_ERROR(out_dim(c->Dim(x, 1), fh, upy, pady0, pady1, downy, &out_h));
      TF_RETURN_IF_ERROR(out_dim(c->Dim(x, 2), fw, upx, padx0, padx1, downx, &out_w));
      c->set_output(0, c->MakeShape({c->Dim(x, 0), out_h, out_w, c->Dim(x, 3)}));
      return tensorflow::OkStatus();
    })
    .Doc(R"doc(
Upsamples (zero insertion), pads (negative: crops), FIR-filters and downsamples a batch
of NHWC images. f is [fh, fw], or [taps] for a separable filter (its outer product).
Filter taps are scaled by gain ** (rank(f) / 2). The gradient with respect to x is this
op with the factors swapped, the filter flipped and the padding adjusted.
)doc");

}  // namespace sg2tf
