// Op definitions of the fused bias + activation family.
#include "custom_ops/common/shape_util.h"

namespace sg2tf {

namespace {

#define SG2TF_BIAS_ACT_ATTRS                                                        \
  Attr("T: {half, float}")                                                          \
      .Attr("act: {'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', "   \
            "'softplus', 'swish'} = 'linear'")                                      \
      .Attr("alpha: float = 0.0")                                                   \
      .Attr("gain: float = 1.0")                                                    \
      .Attr("clamp: float = -1.0")                                                  \
      .Attr("axis: int = -1")

// Output has the shape of x; the bias is [x.shape[axis]] or [0] (no bias).
Status BiasActShape(InferenceContext* c, int x_input, int b_input) {
  ShapeHandle x = c->input(x_input);
  ShapeHandle b;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(b_input), 1, &b));
  if (c->RankKnown(x)) {
    int rank = c->Rank(x);
    int axis;
    TF_RETURN_IF_ERROR(c->GetAttr("axis", &axis));
    if (rank == 0 || axis < -rank || axis >= rank) {
      return tensorflow::errors::InvalidArgument("axis ", axis, " is out of range for rank ",
                                                 rank);
    }
    if (axis < 0) axis += rank;
    DimensionHandle bias_len = c->Dim(b, 0);
    if (c->ValueKnown(bias_len) && c->Value(bias_len) != 0) {
      DimensionHandle unused;
      TF_RETURN_IF_ERROR(c->Merge(c->Dim(x, axis), bias_len, &unused));
    }
  }
  c->set_output(0, x);
  return tensorflow::OkStatus();
}

}  // namespace

REGISTER_OP("Sg2tf>FusedBiasAct")
    .Input("x: T")
    .Input("b: T")
    .Output("y: T")
    .SG2TF_BIAS_ACT_ATTRS
    .SetShapeFn([](InferenceContext* c) { return BiasActShape(c, 0, 1); })
    .Doc(R"doc(
y = clamp(act(x + b) * gain, -clamp, clamp), elementwise; b runs along `axis` of x.
b has shape [x.shape[axis]], or [0] for no bias. clamp < 0 disables clamping.
)doc");

REGISTER_OP("Sg2tf>FusedBiasActGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("b: T")
    .Output("dx: T")
    .SG2TF_BIAS_ACT_ATTRS
    .Attr("order: int >= 1 = 1")
    .SetShapeFn([](InferenceContext* c) {
      ShapeHandle merged;
      TF_RETURN_IF_ERROR(c->Merge(c->input(0), c->input(1), &merged));
      TF_RETURN_IF_ERROR(BiasActShape(c, 1, 2));
      c->set_output(0, merged);
      return tensorflow::OkStatus();
    })
    .Doc(R"doc(
Gradient of Sg2tf>FusedBiasAct with respect to x, of order `order` (1 to 3):
dx = dy * d^order y / dx^order, where x + b is not clamped, else 0. The gradient with
respect to b is the sum of dx over all axes but `axis`.
)doc");

#undef SG2TF_BIAS_ACT_ATTRS

}  // namespace sg2tf
