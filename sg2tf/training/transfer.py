"""Copying weights between networks of different configurations, by name and shape."""


def _key(path):
    return path.split("/", 1)[1] if "/" in path else path


def copy_matching(src, dst):
    """Copies every variable of `src` into the `dst` variable with the same path (below the
    model name) and shape.

    Returns `(copied, shape_mismatch, missing_in_src, unused_in_src)`: lists of paths
    (`shape_mismatch` as `(path, src_shape, dst_shape)`).
    """
    source = {_key(v.path): v for v in src.variables}
    copied, mismatch, missing = [], [], []
    for v in dst.variables:
        key = _key(v.path)
        s = source.pop(key, None)
        if s is None:
            missing.append(key)
        elif tuple(s.shape) != tuple(v.shape):
            mismatch.append((key, tuple(s.shape), tuple(v.shape)))
        else:
            v.assign(s.numpy())
            copied.append(key)
    return copied, mismatch, missing, sorted(source)


def report(name, result):
    """Human-readable lines describing `copy_matching`'s result for network `name`."""
    copied, mismatch, missing, unused = result
    lines = [
        f"{name}: copied {len(copied)} variables, {len(mismatch)} shape mismatches, "
        f"{len(missing)} not in the source, {len(unused)} source variables unused"
    ]
    lines += [f"  {name} shape mismatch, kept initial value: {k} {s} -> {d}" for k, s, d in mismatch]
    lines += [f"  {name} not in source, kept initial value: {k}" for k in missing]
    lines += [f"  {name} source variable unused: {k}" for k in unused]
    return lines
