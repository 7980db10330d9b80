"""Masks, shape checks and config helpers shared by the attention layers.

Mask convention, used by every attention layer and function in keras-seq
(the Keras convention of `keras.layers.MultiHeadAttention` and
`keras.layers.Attention`):

    A mask is boolean (or 0/1) and **True/1 means "may attend"**: query
    position `t` may attend to key position `s` iff `mask[..., t, s]` is true.

Two kinds of masks appear in call signatures:

- a *padding mask* `(batch, length)`: true at real tokens, false at padding.
  Keras implicit masks (`keras.layers.Embedding(mask_zero=True)`) are
  padding masks, and the layers use them when no explicit mask is given.
- an *attention mask* `(batch, query_length, key_length)`; axes of size 1
  broadcast.

This is the opposite of the TensorFlow Transformer tutorial's padding masks
(`1 = masked`). A query row where no key may be attended gets all-zero
attention weights (and so a zero attention output), as in
`keras.layers.Softmax`, instead of a uniform distribution over padding.
"""

import keras
from keras import ops

# Not in the public API; keras-hub's Transformer layers use it too.
from keras.src.backend import get_keras_mask

# exp(-1e9 - max) underflows to exactly 0 in float32: masked keys get weight 0.
_MASKED_LOGIT = -1e9


def describe(layer):
    """`"MultiHeadAttention 'mha'"`: how error messages name a layer."""
    return f"{type(layer).__name__} '{layer.name}'"


def keras_mask(x):
    """The Keras implicit mask of `x` (`None` if it has none or `x` is None)."""
    return None if x is None else get_keras_mask(x)


def causal_mask(query_length, key_length, start_index=0):
    """The causal attention mask `(1, query_length, key_length)`.

    Query `t` sits at absolute position `start_index + t` (in cached decoding
    the queries are the new tokens and the keys span the whole cache), and may
    attend to key `s` iff `s <= start_index + t`.

    Args:
        query_length: int or int scalar tensor, `T`.
        key_length: int or int scalar tensor, `S`.
        start_index: int or int scalar tensor, absolute position of query 0.

    Returns:
        A boolean tensor of shape `(1, T, S)`.
    """
    t = ops.arange(query_length, dtype="int32") + ops.cast(start_index, "int32")
    s = ops.arange(key_length, dtype="int32")
    # mask[t, s] = s <= t + start_index; expand_dims (not `[:, None]`) keeps
    # TFLite on builtin ops.
    mask = ops.greater_equal(ops.expand_dims(t, 1), ops.expand_dims(s, 0))
    return ops.expand_dims(mask, 0)


def padding_to_attention_mask(padding_mask):
    """Key padding mask `(batch, S)` -> attention mask `(batch, 1, S)`."""
    if padding_mask is None:
        return None
    return ops.expand_dims(ops.cast(padding_mask, "bool"), 1)


def merge_masks(*masks):
    """Logical AND of the masks that are not `None` (`None` if all are)."""
    merged = None
    for mask in masks:
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        merged = mask if merged is None else ops.logical_and(merged, mask)
    return merged


def masked_softmax(logits, mask=None, bias=None):
    """`softmax(logits + bias)` over the last axis, with masked keys at 0.

    The softmax runs in float32 (also under `mixed_float16`) and the weights
    are cast back to the dtype of `logits`. Rows with no allowed key get all
    zeros.

    Args:
        logits: `(..., T, S)` attention logits.
        mask: optional boolean mask broadcastable to `logits`, true = attend.
        bias: optional additive bias broadcastable to `logits`.
    """
    dtype = logits.dtype
    logits = ops.cast(logits, "float32")
    if bias is not None:
        logits = logits + ops.cast(bias, "float32")
    if mask is not None:
        mask = ops.cast(mask, "bool")
        logits = ops.where(mask, logits, _MASKED_LOGIT)
    weights = ops.softmax(logits, axis=-1)
    if mask is not None:
        # A fully masked row would otherwise be uniform over masked keys.
        weights = ops.where(mask, weights, 0.0)
    return ops.cast(weights, dtype)


def check_broadcastable(where, what, shape, target):
    """Raises `ValueError` unless static `shape` broadcasts to `target`.

    Both shapes must have the same rank; each known size of `shape` must be 1
    or equal the known size of `target`.

    Args:
        where: who is checking, for the message (e.g. `describe(layer)`).
        what: the checked argument, e.g. `"mask"`.
        shape: the argument's static shape.
        target: the shape it must broadcast to, with `None` for unknown sizes.
    """
    shape, target = tuple(shape), tuple(target)
    ok = len(shape) == len(target) and all(
        a is None or b is None or a == 1 or a == b for a, b in zip(shape, target)
    )
    if not ok:
        raise ValueError(
            f"{where}: `{what}` has shape {shape}, which does not broadcast to "
            f"{target}."
        )


def check_rank(where, what, shape, ranks):
    """Raises `ValueError` unless `len(shape)` is in `ranks`."""
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{where}: `{what}` must have rank {want}, got shape {tuple(shape)}."
        )


def check_size(where, what, size, expected, axis_name):
    """Raises `ValueError` if a known `size` differs from `expected`."""
    if size is not None and expected is not None and size != expected:
        raise ValueError(
            f"{where}: {what} has {axis_name} {size}, expected {expected}."
        )


def clone_initializer(initializer):
    """A fresh initializer object, so that sublayers do not share one.

    Initializers are stateless: two sublayers given the same object with a
    fixed seed would start with the same values.
    """
    initializer = keras.initializers.get(initializer)
    return initializer.__class__.from_config(initializer.get_config())


def serialize_initializer(initializer):
    """Strings stay as given (so configs keep `"glorot_uniform"`)."""
    if isinstance(initializer, str):
        return initializer
    return keras.initializers.serialize(keras.initializers.get(initializer))


def serialize_activation(activation):
    """Strings stay as given; functions become their registered names."""
    if isinstance(activation, str) or activation is None:
        return activation
    return keras.activations.serialize(keras.activations.get(activation))


def check_query_values(layer, query, values, mask):
    """Shared by Bahdanau and Luong: checks shapes, makes the query 3D.

    Returns:
        `(single, query, mask)`: whether the query was 2D, the query as
        `(batch, T, d_q)`, and the mask as `(batch or 1, T or 1, S)`: the
        given one, else the Keras mask of `values`, else `None`.
    """
    where = describe(layer)
    q_shape, v_shape = tuple(query.shape), tuple(values.shape)
    got = f"query.shape={q_shape}, values.shape={v_shape}"
    check_rank(where, "query", q_shape, (2, 3))
    check_rank(where, "values", v_shape, (3,))
    if None not in (q_shape[0], v_shape[0]) and q_shape[0] != v_shape[0]:
        raise ValueError(f"{where}: query and values batch sizes differ, {got}.")
    built = layer._input_dims
    if built is not None and (
        (q_shape[-1] is not None and q_shape[-1] != built[0])
        or (v_shape[-1] is not None and v_shape[-1] != built[1])
    ):
        raise ValueError(
            f"{where} was built for last dimensions (query, values) = {built}, "
            f"got {got}."
        )
    single = len(q_shape) == 2
    if single:
        query = ops.expand_dims(query, 1)
    length = 1 if single else q_shape[1]
    if mask is None:
        mask = keras_mask(values)
    if mask is not None:
        ranks = (2,) if single else (2, 3)
        check_rank(where, "mask", mask.shape, ranks)
        if len(mask.shape) == 2:
            check_broadcastable(where, "mask", mask.shape, (v_shape[0], v_shape[1]))
            mask = padding_to_attention_mask(mask)
        else:
            check_broadcastable(
                where, "mask", mask.shape, (v_shape[0], length, v_shape[1])
            )
            mask = ops.cast(mask, "bool")
    return single, query, mask


def attend(scores, values, mask, single):
    """`a = softmax(scores)` with masked keys at 0, `c = a V`; squeezes T."""
    # a_ts = softmax_s(e_ts): (batch, T, S); c_t = sum_s a_ts v_s: (batch, T, d_v)
    weights = masked_softmax(scores, mask)
    context = ops.matmul(weights, ops.cast(values, weights.dtype))
    if single:
        return ops.squeeze(context, 1), ops.squeeze(weights, 1)
    return context, weights


def merge_padding_and_attention_masks(
    layer,
    padding_mask,
    attention_mask,
    query_shape,
    key_length,
    names=("padding_mask", "attention_mask"),
):
    """AND of a key padding mask and an attention mask, `(batch, T|1, S)`.

    Args:
        layer: the calling layer, for error messages.
        padding_mask: `None` or `(batch, S)`, true at real keys.
        attention_mask: `None` or `(batch, T, S)` (size-1 axes broadcast).
        query_shape: static `(batch, T)` of the queries.
        key_length: static `S` (or `None`).
        names: the two arguments' names, for error messages.

    Returns:
        A boolean mask or `None`.
    """
    where = describe(layer)
    batch, query_length = tuple(query_shape)
    if padding_mask is not None:
        check_rank(where, names[0], padding_mask.shape, (2,))
        check_broadcastable(where, names[0], padding_mask.shape, (batch, key_length))
    if attention_mask is not None:
        target = (batch, query_length, key_length)
        check_rank(where, names[1], attention_mask.shape, (3,))
        check_broadcastable(where, names[1], attention_mask.shape, target)
    return merge_masks(padding_to_attention_mask(padding_mask), attention_mask)
