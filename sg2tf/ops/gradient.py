"""`custom_gradient`: `tf.custom_gradient` for tensor functions, without its leak when traced.

Inside a `tf.function`, `tf.custom_gradient` registers every call's gradient closure under a
new name in TensorFlow's process-wide gradient registry and never removes it. The closure
holds tensors of the traced graph, so every graph ever traced through such an op stays in
memory until the process ends: about 400 MB for each tiny training run traced in one process
(notebooks, the test suite, anything that builds more than one trainer).

Here the registry gets, per call, a function holding only a weak reference to the gradient
closure, which the traced graph itself keeps: the closure goes when the graph goes. (A
SavedModel traces the registered function while the graph is alive, so it saves the gradient
as `tf.custom_gradient`'s.) A tape records the closure directly. In eager mode
`tf.custom_gradient` itself runs (nothing is registered there).
"""

import functools
import itertools
import weakref

import tensorflow as tf

# Private, as `tf.custom_gradient` uses it: a tape inside a traced function looks gradients up
# by op type ("IdentityN"), not by the override below, so the closure is recorded on it too.
from tensorflow.python.eager import record

_KEPT = "_sg2tf_gradient_closures"  # graph attribute: the closures the graph keeps alive
_names = itertools.count()


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

    closure = weakref.ref(backward)

    def registered(unused_op, *output_grads):  # SavedModel calls it with no op.
        alive = closure()
        if alive is None:
            raise LookupError(f"the gradient of {f.__name__}: its traced graph is gone")
        return alive(*output_grads)

    name = f"Sg2tfCustomGradient{next(_names)}"
    tf.RegisterGradient(name)(registered)
    graph = tf.compat.v1.get_default_graph()
    kept = getattr(graph, _KEPT, None)
    if kept is None:
        kept = []
        setattr(graph, _KEPT, kept)
    kept.append(backward)
    with graph.gradient_override_map({"IdentityN": name}):
        outputs = tf.identity_n(results + args)
    record.record_operation(f.__name__, outputs, results + args, backward)
    return outputs[0] if single else outputs[:count]
