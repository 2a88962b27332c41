"""numpy's legacy `RandomState(seed).randn(...)` as TensorFlow ops.

`sg2tf-generate` (like the official scripts) turns a seed into a latent with
`np.random.RandomState(seed).randn(1, z_dim)`. The `generate_seeds` signature of an
exported SavedModel must give the same latents without numpy, so this module
re-implements, with stock TensorFlow integer ops only:

  * MT19937 `init_genrand` seeding from a 32-bit seed (numpy's `mt19937_seed`);
  * the MT19937 twist and tempering (`mt19937_gen`, `mt19937_next32`);
  * `random_sample` doubles with 53 random bits from two 32-bit draws;
  * `legacy_gauss`: the polar Box-Muller method with rejection and the cached second
    value, in float64, returned as float32 like `z_from_seed`.

Every sample of a batch runs its own generator; the rejection loop is vectorised:
whole 624-word blocks are drawn until every sample has enough accepted pairs.
Integer state is held in uint64 tensors masked to 32 bits (uint32 arithmetic kernels
are not registered for every op on every device).
"""

import tensorflow as tf

N = 624
M = 397
MATRIX_A = 0x9908B0DF
UPPER_MASK = 0x80000000
LOWER_MASK = 0x7FFFFFFF
MASK32 = 0xFFFFFFFF


def _u64(value):
    return tf.constant(value, tf.uint64)


def _seed_state(seeds):
    """`mt19937_seed`: `[B]` uint64 seeds -> `[B, 624]` uint64 key."""
    mask = _u64(MASK32)
    mult = _u64(1812433253)
    first = tf.bitwise.bitwise_and(seeds, mask)
    keys = tf.TensorArray(tf.uint64, size=N, element_shape=first.shape)
    keys = keys.write(0, first)

    def body(pos, value, keys):
        shifted = tf.bitwise.right_shift(value, _u64(30))
        value = tf.bitwise.bitwise_and(mult * tf.bitwise.bitwise_xor(value, shifted) + tf.cast(pos, tf.uint64), mask)
        return pos + 1, value, keys.write(pos, value)

    _, _, keys = tf.while_loop(
        lambda pos, value, keys: pos < N, body, (tf.constant(1, tf.int32), first, keys), parallel_iterations=1
    )
    return tf.transpose(keys.stack(), [1, 0])


def _twist_part(cur, nxt, far):
    """New key words from key[i], key[i + 1] and key[i + M] (or its new value)."""
    y = tf.bitwise.bitwise_or(
        tf.bitwise.bitwise_and(cur, _u64(UPPER_MASK)), tf.bitwise.bitwise_and(nxt, _u64(LOWER_MASK))
    )
    mag = tf.bitwise.bitwise_and(y, _u64(1)) * _u64(MATRIX_A)
    return tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(far, tf.bitwise.right_shift(y, _u64(1))), mag)


def _twist(key):
    """`mt19937_gen` on `[B, 624]`: the sequential recurrence in four vector steps
    (each step only reads words that earlier steps have finished)."""
    k = N - M  # 227
    a = _twist_part(key[:, 0:k], key[:, 1 : k + 1], key[:, M:N])  # i in [0, 227)
    b = _twist_part(key[:, k : 2 * k], key[:, k + 1 : 2 * k + 1], a)  # [227, 454)
    c = _twist_part(key[:, 2 * k : N - 1], key[:, 2 * k + 1 : N], b[:, : N - 1 - 2 * k])  # [454, 623)
    d = _twist_part(key[:, N - 1 : N], a[:, 0:1], b[:, M - 1 - k : M - k])  # i = 623
    return tf.concat([a, b, c, d], axis=1)


def _temper(y):
    y = tf.bitwise.bitwise_xor(y, tf.bitwise.right_shift(y, _u64(11)))
    y = tf.bitwise.bitwise_xor(y, tf.bitwise.bitwise_and(tf.bitwise.left_shift(y, _u64(7)), _u64(0x9D2C5680)))
    y = tf.bitwise.bitwise_xor(y, tf.bitwise.bitwise_and(tf.bitwise.left_shift(y, _u64(15)), _u64(0xEFC60000)))
    y = tf.bitwise.bitwise_xor(y, tf.bitwise.right_shift(y, _u64(18)))
    return tf.bitwise.bitwise_and(y, _u64(MASK32))


def _block_gaussians(words):
    """Polar attempts of a `[B, 624]` block of 32-bit outputs.

    Every attempt uses two doubles = four words, so a block holds exactly 156 attempts
    and attempts never straddle blocks. Returns accept `[B, 156]` and the pair
    `[B, 156, 2]` (the value returned first, then the cached one)."""
    words = tf.reshape(words, [-1, N // 2, 2])
    a = tf.cast(tf.bitwise.right_shift(words[:, :, 0], _u64(5)), tf.float64)
    b = tf.cast(tf.bitwise.right_shift(words[:, :, 1], _u64(6)), tf.float64)
    doubles = (a * 67108864.0 + b) / 9007199254740992.0  # [B, 312]
    doubles = tf.reshape(doubles, [-1, N // 4, 2])
    x1 = 2.0 * doubles[:, :, 0] - 1.0
    x2 = 2.0 * doubles[:, :, 1] - 1.0
    r2 = x1 * x1 + x2 * x2
    accept = tf.logical_and(r2 < 1.0, r2 > 0.0)
    safe_r2 = tf.where(accept, r2, tf.ones_like(r2))
    f = tf.sqrt(-2.0 * tf.math.log(safe_r2) / safe_r2)
    return accept, tf.stack([f * x2, f * x1], axis=-1)


@tf.function(autograph=False)
def _randn_impl(seeds, dim):
    key = _seed_state(seeds)
    batch = tf.shape(seeds)[0]
    pairs_needed = (dim + 1) // 2

    def cond(key, accept, pairs):
        return tf.logical_or(
            tf.shape(accept)[1] == 0, tf.reduce_min(tf.reduce_sum(tf.cast(accept, tf.int32), axis=1)) < pairs_needed
        )

    def body(key, accept, pairs):
        key = _twist(key)
        block_accept, block_pairs = _block_gaussians(_temper(key))
        return (key, tf.concat([accept, block_accept], axis=1), tf.concat([pairs, block_pairs], axis=1))

    _, accept, pairs = tf.while_loop(
        cond,
        body,
        (key, tf.zeros([batch, 0], tf.bool), tf.zeros([batch, 0, 2], tf.float64)),
        shape_invariants=(tf.TensorShape([None, N]), tf.TensorShape([None, None]), tf.TensorShape([None, None, 2])),
        parallel_iterations=1,
    )
    # Accepted attempts first, in draw order (a stable sort on "rejected").
    order = tf.argsort(tf.cast(tf.logical_not(accept), tf.int32), axis=1, stable=True)
    chosen = tf.gather(pairs, order[:, :pairs_needed], batch_dims=1)  # [B, P, 2]
    values = tf.reshape(chosen, [batch, 2 * pairs_needed])[:, :dim]
    return tf.cast(values, tf.float32)


def randn_from_seeds(seeds, dim):
    """`np.random.RandomState(seed).randn(1, dim)[0]` for every seed, as float32.

    Args:
      seeds: int `[B]` tensor of seeds in [0, 2**32) (numpy's range; callers check it).
      dim: latent width (Python int).

    Returns:
      float32 `[B, dim]`.
    """
    seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
    out = _randn_graph(tf.cast(seeds, tf.uint64), int(dim))
    return tf.ensure_shape(out, [seeds.shape[0], int(dim)])


def _randn_graph(seeds, dim):
    return _randn_impl.python_function(seeds, dim) if tf.inside_function() else _randn_impl(seeds, dim)
