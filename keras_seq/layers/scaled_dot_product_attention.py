"""Scaled dot-product attention, the function every attention layer uses."""

import math

from keras import ops

from keras_seq.layers import _attention_utils as utils

_WHERE = "scaled_dot_product_attention"


def scaled_dot_product_attention(q, k, v, mask=None, bias=None, weights_dropout=None):
    """`Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V`.

    Leading axes (batch, heads, ...) are shared by `q`, `k` and `v` and may
    broadcast. The softmax runs in float32, also under `mixed_float16`.

    Mask convention (the Keras one, used everywhere in keras-seq): `mask` is
    boolean or 0/1 and **true means "may attend"**: query `t` may attend to key
    `s` iff `mask[..., t, s]`. A query row with no allowed key gets all-zero
    weights and a zero output. See `keras_seq.layers._attention_utils`.

    Args:
        q: queries `(..., T, d_k)`.
        k: keys `(..., S, d_k)`.
        v: values `(..., S, d_v)`.
        mask: optional boolean tensor broadcastable to `(..., T, S)`.
        bias: optional float tensor broadcastable to `(..., T, S)`, added to
            the scaled logits before the softmax (e.g. T5's relative position
            bias or ALiBi).
        weights_dropout: optional callable applied to the attention weights
            before they multiply `v` (e.g. a `keras.layers.Dropout` bound to
            `training`). The returned weights are taken before it.

    Returns:
        `(output, attention_weights)`: `(..., T, d_v)` and `(..., T, S)`.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import scaled_dot_product_attention
    >>> q = np.ones((2, 3, 4), "float32")
    >>> kv = np.ones((2, 5, 4), "float32")
    >>> padding = np.array([[1, 1, 1, 0, 0]] * 2, bool)[:, np.newaxis, :]
    >>> out, w = scaled_dot_product_attention(q, kv, kv, mask=padding)
    >>> tuple(out.shape), np.asarray(w, "float64")[0, 0].round(3).tolist()
    ((2, 3, 4), [0.333, 0.333, 0.333, 0.0, 0.0])

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
          "Attention Is All You Need", section 3.2.1, equation (1).
    """
    q, k, v = (ops.convert_to_tensor(x) for x in (q, k, v))
    _check_inputs(q, k, v, mask, bias)
    d_k = q.shape[-1]
    # Q / sqrt(d_k): scaling the (T, d_k) queries costs less than the (T, S)
    # logits, and it is where keras.layers.MultiHeadAttention scales too.
    q = ops.multiply(q, ops.cast(1.0 / math.sqrt(d_k), q.dtype))
    # logits = Q K^T / sqrt(d_k)                                  (..., T, S)
    logits = ops.matmul(q, ops.swapaxes(k, -1, -2))
    # weights = softmax(logits + bias), masked keys at 0          (..., T, S)
    weights = utils.masked_softmax(logits, mask, bias)
    dropped = weights if weights_dropout is None else weights_dropout(weights)
    # output = weights V                                          (..., T, d_v)
    return ops.matmul(dropped, v), weights


def _check_inputs(q, k, v, mask, bias):
    q_shape, k_shape, v_shape = q.shape, k.shape, v.shape
    if min(len(q_shape), len(k_shape), len(v_shape)) < 2:
        raise ValueError(
            f"{_WHERE}: q, k and v need rank >= 2 (..., length, features), got "
            f"q.shape={tuple(q_shape)}, k.shape={tuple(k_shape)}, "
            f"v.shape={tuple(v_shape)}."
        )
    if q_shape[-1] is None:
        raise ValueError(f"{_WHERE}: the last axis of q must be known, got {q_shape}.")
    if k_shape[-1] is not None and q_shape[-1] != k_shape[-1]:
        raise ValueError(
            f"{_WHERE}: q and k must have the same last dimension d_k, got "
            f"q.shape={tuple(q_shape)} and k.shape={tuple(k_shape)}."
        )
    if None not in (k_shape[-2], v_shape[-2]) and k_shape[-2] != v_shape[-2]:
        raise ValueError(
            f"{_WHERE}: k and v must have the same length, got "
            f"k.shape={tuple(k_shape)} and v.shape={tuple(v_shape)}."
        )
    scores = tuple(q_shape[:-1]) + (k_shape[-2],)
    for what, extra in (("mask", mask), ("bias", bias)):
        if extra is None:
            continue
        shape = tuple(extra.shape)
        if len(shape) > len(scores) or len(shape) < 2:
            raise ValueError(
                f"{_WHERE}: `{what}` has shape {shape}, which does not broadcast "
                f"to the attention logits {scores}."
            )
        utils.check_broadcastable(
            _WHERE, what, shape, scores[len(scores) - len(shape) :]
        )
