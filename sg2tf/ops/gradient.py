"""`custom_gradient`: `tf.custom_gradient` for tensor functions, without its leak when traced.

Inside a `tf.function`, `tf.custom_gradient` registers every call's gradient closure under a
new name in TensorFlow's process-wide gradient registry and never removes it. The closure
holds tensors of the traced graph, so every graph ever traced through such an op stays in
memory until the process ends: about 400 MB for each tiny training run traced in one process
(notebooks, the test suite, anything that builds more than one trainer). Here one gradient
function is registered once, and each graph keeps its own closures: they go when the graph
goes. In eager mode `tf.custom_gradient` itself runs (nothing is registered there).
"""

import functools

import tensorflow as tf

# Private, as `tf.custom_gradient` uses it: a tape inside a traced function looks gradients up
# by op type ("IdentityN"), not by the override below, so the closure is recorded on it too.
from tensorflow.python.eager import record

_OVERRIDE = "Sg2tfCustomGradient"
_CLOSURES = "_sg2tf_gradient_closures"  # graph attribute: IdentityN op name -> closure


@tf.RegisterGradient(_OVERRIDE)
def _registered_gradient(op, *grads):
    """The symbolic gradient (`tf.gradients`, a traced function differentiated from outside)."""
    return getattr(op.graph, _CLOSURES)[op.name](*grads)


def custom_gradient(f):
    """Decorates `f(*tensors) -> (result, grad)` as `tf.custom_gradient` does.

    Args:
      f: takes tensors only (no keyword arguments, no variables read inside) and returns a
        tensor or a list/tuple of tensors, and `grad(*result_grads)` returning one gradient (or
        None) per argument.

    Returns:
      The decorated function: `f`'s result, whose gradient is `grad`'s.
    """
    eager = tf.custom_gradient(f)

    @functools.wraps(f)
    def decorated(*args):
        if tf.executing_eagerly():
            return eager(*args)
        return _traced(f, args)

    return decorated


def _traced(f, args):
    args = [tf.convert_to_tensor(a) for a in args]
    result, grad = f(*args)
    single = not isinstance(result, (list, tuple))
    results = [result] if single else list(result)
    count = len(results)

    def backward(*output_grads):
        # One gradient per IdentityN input: none for the results, grad's for the arguments.
        input_grads = grad(*output_grads[:count])
        if not isinstance(input_grads, (list, tuple)):
            input_grads = [input_grads]
        if len(input_grads) != len(args):
            raise ValueError(f"{f.__name__}'s gradient returned {len(input_grads)} values for {len(args)} arguments")
        return [None] * count + list(input_grads)

    graph = tf.compat.v1.get_default_graph()
    with graph.gradient_override_map({"IdentityN": _OVERRIDE}):
        outputs = tf.identity_n(results + args)
    closures = getattr(graph, _CLOSURES, None)
    if closures is None:
        closures = {}
        setattr(graph, _CLOSURES, closures)
    closures[outputs[0].op.name] = backward
    record.record_operation(f.__name__, outputs, results + args, backward)
    return outputs[0] if single else outputs[:count]
