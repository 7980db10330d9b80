"""Multi-head attention: the course's class, completed."""

import functools
import math

import keras
from keras import ops

from keras_seq.layers import _attention_utils as utils
from keras_seq.layers._composite import CompositeLayer


@keras.saving.register_keras_serializable(package="keras_seq")
class MultiHeadAttention(CompositeLayer):
    """Multi-head attention with masks, an additive bias and a key/value cache.

        MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O
        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

    `W^Q, W^K, W^V` are the Dense layers `wq, wk, wv` with `num_heads * depth`
    units; head `i` uses features `[i * depth, (i + 1) * depth)` of their
    outputs, with `depth = d_model // num_heads` unless given (T5 3B/11B use
    heads of 128 features whose total width is not `d_model`). `W^O` is the
    Dense layer `dense`, from `num_heads * depth` back to `d_model` features. Each head
    computes `scaled_dot_product_attention` (written with einsum, all heads at
    once, on the `(batch, T, heads, depth)` layout). The weights are those of
    `keras.layers.MultiHeadAttention(num_heads, key_dim=depth)` reshaped:
    its query kernel `(d, num_heads, depth)` is our `wq` kernel
    `(d, num_heads * depth)`.

    Masks follow the Keras convention: true/1 = may attend (see
    `keras_seq.layers._attention_utils`). The explicit `mask`, the causal mask
    and the Keras implicit masks of `q` (query rows) and `k`/`v` (keys, unless
    a cache is given) are combined with AND. A query with no key to attend to
    gets all-zero weights.

    Key/value cache (the convention of keras-hub's `CachedMultiHeadAttention`,
    static shapes so it runs under XLA and in TFLite): a tensor
    `(batch, 2, max_length, num_heads, depth)` holding the projected keys
    (`cache[:, 0]`) and values (`cache[:, 1]`) of all positions so far.

    - `cache` and `cache_update_index` given: the keys and values of `k` and
      `v` (the new tokens) are written into the cache at
      `cache_update_index`, attention runs over the whole cache, and the
      updated cache is returned. With `use_causal_mask=True` query `t` sits at
      position `cache_update_index + t`, so it sees cache slots up to there
      and never the unwritten ones; decoding one token at a time then gives
      the full causal forward pass.
    - `cache` given, `cache_update_index=None`: the cache is used as is and
      `k`, `v` are ignored (e.g. a precomputed cross-attention cache).

    With a cache and one query (a decoding step) the two attention products
    are written as products and sums over the cache's layout, the same math
    without the copies XLA makes of the cache for the einsums.

    Args:
        d_model: int, model width; the output has `d_model` features.
        num_heads: int, number of heads; must divide `d_model` unless `depth`
            is given.
        dropout: float in [0, 1), dropout rate on the attention weights.
        use_bias: bool, whether the four Dense layers use biases.
        kernel_initializer: initializer of the Dense kernels.
        bias_initializer: initializer of the Dense biases.
        depth: optional int, features per head (default `d_model // num_heads`).
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        q: queries `(batch, T, d_q)`.
        k: keys `(batch, S, d_k)`.
        v: values `(batch, S, d_v)`.
        mask: optional attention mask `(batch, T, S)` (size-1 axes broadcast),
            true = may attend. With a cache, `S` is the cache's `max_length`.
        attention_bias: optional float tensor broadcastable to
            `(batch, num_heads, T, S)` added to the attention logits (e.g. the
            output of `RelativePositionBias`).
        use_causal_mask: bool, query `t` attends only to keys `s <= t`
            (`s <= cache_update_index + t` with a cache).
        return_attention_scores: bool, also return the attention weights
            `(batch, num_heads, T, S)` (before dropout).
        cache: optional cache `(batch, 2, max_length, num_heads, depth)`.
        cache_update_index: optional int or int scalar tensor, where to write
            the new keys and values into `cache`.
        training: bool, whether dropout is active.

    Returns:
        `output` `(batch, T, d_model)`, followed by the attention weights if
        `return_attention_scores`, followed by the updated cache if `cache` is
        given: `output`, `(output, weights)`, `(output, cache)` or
        `(output, weights, cache)`.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import MultiHeadAttention
    >>> mha = MultiHeadAttention(d_model=16, num_heads=4)
    >>> x = np.random.rand(2, 5, 16).astype("float32")
    >>> out, w = mha(x, x, x, use_causal_mask=True, return_attention_scores=True)
    >>> tuple(out.shape), tuple(w.shape)
    ((2, 5, 16), (2, 4, 5, 5))
    >>> cache = mha.initial_cache(batch_size=2, max_length=5)
    >>> step, cache = mha(x[:, :1], x[:, :1], x[:, :1], use_causal_mask=True,
    ...                   cache=cache, cache_update_index=0)
    >>> bool(np.allclose(step, out[:, :1], atol=1e-5))
    True

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
          "Attention Is All You Need", section 3.2.2.
    """

    def __init__(
        self,
        d_model,
        num_heads,
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        depth=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_heads) <= 0 or int(d_model) <= 0:
            raise ValueError(
                f"MultiHeadAttention: d_model and num_heads must be positive, got "
                f"d_model={d_model}, num_heads={num_heads}."
            )
        if depth is not None and int(depth) <= 0:
            raise ValueError(
                f"MultiHeadAttention: depth must be positive, got depth={depth}."
            )
        if depth is None and d_model % num_heads != 0:
            raise ValueError(
                f"MultiHeadAttention: d_model={d_model} is not divisible by "
                f"num_heads={num_heads}; each head gets d_model // num_heads "
                "features, so d_model must be a multiple of num_heads."
            )
        if not 0 <= dropout < 1:
            raise ValueError(
                f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}."
            )
        self.d_model = d_model
        self.num_heads = num_heads
        self.depth = d_model // num_heads if depth is None else int(depth)
        self.dropout = dropout
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.supports_masking = True
        self._input_dims = None
        # W^Q, W^K, W^V: (d_in, h * depth); W^O: (h * depth, d_model). Created
        # here (a subclass may replace them in its `__init__`), built in build().
        heads_width = self.num_heads * self.depth
        self.wq = self._projection("wq", heads_width)
        self.wk = self._projection("wk", heads_width)
        self.wv = self._projection("wv", heads_width)
        self.dense = self._projection("dense", self.d_model)
        self.attention_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="attention_dropout"
        )

    def _projection(self, name, units):
        return keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=utils.clone_initializer(self.kernel_initializer),
            bias_initializer=utils.clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, q_shape, k_shape=None, v_shape=None):
        k_shape = q_shape if k_shape is None else k_shape
        v_shape = k_shape if v_shape is None else v_shape
        self.build_sublayer(self.wq, q_shape)
        self.build_sublayer(self.wk, k_shape)
        self.build_sublayer(self.wv, v_shape)
        heads_width = self.num_heads * self.depth
        self.build_sublayer(self.dense, tuple(q_shape[:-1]) + (heads_width,))
        self._input_dims = (q_shape[-1], k_shape[-1], v_shape[-1])

    def initial_cache(self, batch_size, max_length):
        """An empty cache `(batch_size, 2, max_length, num_heads, depth)`."""
        return ops.zeros(
            (batch_size, 2, max_length, self.num_heads, self.depth),
            dtype=self.compute_dtype,
        )

    def key_value_cache(self, k, v=None):
        """The cache `(batch, S, ...)` of keys `k` and values `v` (default `k`).

        Returns `(batch, 2, S, num_heads, depth)`: `k W^K` and `v W^V` split
        into heads, the layout of `initial_cache`. A cross-attention computes
        it once from the encoder output and is then called with
        `cache=...` and no `cache_update_index`.
        """
        v = k if v is None else v
        keys = self._split_heads(self.wk(k))
        values = self._split_heads(self.wv(v))
        return ops.stack([keys, values], axis=1)

    def call(
        self,
        q,
        k,
        v,
        mask=None,
        attention_bias=None,
        use_causal_mask=False,
        return_attention_scores=False,
        cache=None,
        cache_update_index=None,
        training=None,
    ):
        self._check_inputs(q, k, v, cache, cache_update_index)
        # Keras implicit masks: of the queries, and of the keys unless cached.
        query_mask = utils.keras_mask(q)
        key_masks = ()
        if cache is None:
            key_masks = (utils.keras_mask(k),)
            if v is not k:
                key_masks += (utils.keras_mask(v),)

        # Q W^Q split into heads: (batch, T, d_model) -> (batch, T, h, depth).
        q_heads = self._split_heads(self.wq(q))
        if cache is None:
            k_heads = self._split_heads(self.wk(k))
            v_heads = self._split_heads(self.wv(v))
        elif cache_update_index is None:
            k_heads, v_heads = cache[:, 0, ...], cache[:, 1, ...]
        else:
            # Write K W^K, V W^V of the new tokens at cache_update_index.
            k_new = ops.cast(self._split_heads(self.wk(k)), cache.dtype)
            v_new = ops.cast(self._split_heads(self.wv(v)), cache.dtype)
            # One update of the whole cache, which XLA does in place in a
            # decoding loop (updating `cache[:, 0]` and `cache[:, 1]` and
            # stacking them again copied the cache at every step).
            new = ops.stack([k_new, v_new], axis=1)
            cache = ops.slice_update(cache, [0, 0, cache_update_index, 0, 0], new)
            k_heads, v_heads = cache[:, 0, ...], cache[:, 1, ...]

        key_length = ops.shape(k_heads)[1]
        attention_mask = self._attention_mask(
            q, key_length, mask, query_mask, key_masks, use_causal_mask,
            cache_update_index,
        )  # fmt: skip
        if attention_bias is not None:
            utils.check_broadcastable(
                utils.describe(self),
                "attention_bias",
                attention_bias.shape,
                (q.shape[0], self.num_heads, q.shape[1], _static(key_length)),
            )
        if attention_mask is not None:
            # (batch, T, S) -> (batch, 1, T, S): the same mask for every head.
            attention_mask = ops.expand_dims(attention_mask, 1)
        dropout = None
        if self.dropout > 0:
            dropout = functools.partial(self.attention_dropout, training=training)

        # head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V), all heads at once: the
        # formula of `scaled_dot_product_attention`, written with einsum on the
        # (batch, T, h, depth) layout, which spares XLA the transposes to and
        # from (batch, h, T, depth) (measured: docs/benchmarks.md).
        k_heads = ops.cast(k_heads, q_heads.dtype)
        v_heads = ops.cast(v_heads, q_heads.dtype)
        q_heads = ops.multiply(
            q_heads, ops.cast(1.0 / math.sqrt(self.depth), q_heads.dtype)
        )
        # One query over a cache (a decoding step): products and sums that
        # read the cached keys and values where they are (see `_one_query_*`).
        one_query = q.shape[1] == 1 and cache is not None
        # logits = Q K^T / sqrt(depth)                          (batch, h, T, S)
        if one_query:
            logits = _one_query_logits(q_heads, k_heads)
        else:
            logits = ops.einsum("bthd,bshd->bhts", q_heads, k_heads)
        # weights = softmax(logits + bias), masked keys at 0    (batch, h, T, S)
        weights = utils.masked_softmax(logits, attention_mask, attention_bias)
        dropped = weights if dropout is None else dropout(weights)
        # heads = weights V                                     (batch, T, h, depth)
        if one_query:
            heads = _one_query_heads(dropped, v_heads)
        else:
            heads = ops.einsum("bhts,bshd->bthd", dropped, v_heads)
        # Concat(head_1, ..., head_h) W^O: (batch, T, h, depth) -> (batch, T, d).
        batch, length = ops.shape(heads)[0], ops.shape(heads)[1]
        concat = ops.reshape(heads, (batch, length, self.num_heads * self.depth))
        output = self.dense(concat)

        outputs = (output,)
        if return_attention_scores:
            outputs += (weights,)
        if cache is not None:
            outputs += (cache,)
        return outputs[0] if len(outputs) == 1 else outputs

    def compute_mask(self, q, previous_mask=None):
        # The output is padded where the queries are. `previous_mask` would be
        # our `mask` argument, an attention mask rather than an input mask.
        return utils.keras_mask(q)

    def _split_heads(self, x):
        """(batch, length, h * depth) -> (batch, length, num_heads, depth)."""
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(x, (batch, length, self.num_heads, self.depth))

    def _attention_mask(
        self,
        q,
        key_length,
        mask,
        query_mask,
        key_masks,
        use_causal_mask,
        cache_update_index,
    ):
        """AND of all masks, `(batch or 1, T or 1, S)`, or `None`."""
        where = utils.describe(self)
        target = (q.shape[0], q.shape[1], _static(key_length))
        if mask is not None:
            utils.check_rank(where, "mask", mask.shape, (3,))
            utils.check_broadcastable(where, "mask", mask.shape, target)
        causal = None
        if use_causal_mask:
            start = 0 if cache_update_index is None else cache_update_index
            causal = utils.causal_mask(ops.shape(q)[1], key_length, start)
        # Keras implicit masks: padded queries (batch, T, 1), keys (batch, 1, S).
        implicit = []
        if query_mask is not None:
            implicit.append(ops.expand_dims(ops.cast(query_mask, "bool"), -1))
        for key_mask in key_masks:
            if key_mask is not None:
                utils.check_broadcastable(
                    where, "keras mask of k/v", key_mask.shape, target[::2]
                )
                implicit.append(utils.padding_to_attention_mask(key_mask))
        return utils.merge_masks(mask, causal, *implicit)

    def _check_inputs(self, q, k, v, cache, cache_update_index):
        where = utils.describe(self)
        shapes = {"q": tuple(q.shape), "k": tuple(k.shape), "v": tuple(v.shape)}
        for name, shape in shapes.items():
            utils.check_rank(where, name, shape, (3,))
        got = f"q.shape={shapes['q']}, k.shape={shapes['k']}, v.shape={shapes['v']}"
        if self._input_dims is not None:
            dims = tuple(s[-1] for s in shapes.values())
            if any(a != b for a, b in zip(dims, self._input_dims) if a is not None):
                raise ValueError(
                    f"{where} was built for last dimensions (q, k, v) = "
                    f"{self._input_dims}, got {got}."
                )
        if None not in (shapes["k"][1], shapes["v"][1]) and (
            shapes["k"][1] != shapes["v"][1]
        ):
            raise ValueError(f"{where}: k and v must have the same length, got {got}.")
        batches = {s[0] for s in shapes.values()} - {None}
        if len(batches) > 1:
            raise ValueError(f"{where}: q, k and v batch sizes differ, got {got}.")
        if cache is None:
            if cache_update_index is not None:
                raise ValueError(
                    f"{where}: `cache_update_index` was given without a `cache`."
                )
            return
        expected = (shapes["q"][0], 2, None, self.num_heads, self.depth)
        utils.check_rank(where, "cache", cache.shape, (5,))
        if any(
            a is not None and b is not None and a != b
            for a, b in zip(cache.shape, expected)
        ):
            raise ValueError(
                f"{where}: `cache` must have shape (batch, 2, max_length, "
                f"num_heads, depth) = {expected}, got {tuple(cache.shape)}."
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "d_model": self.d_model,
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "depth": self.depth,
                "kernel_initializer": utils.serialize_initializer(
                    self.kernel_initializer
                ),
                "bias_initializer": utils.serialize_initializer(self.bias_initializer),
            }
        )
        return config


def _one_query_logits(q_heads, k_heads):
    """`einsum("bthd,bshd->bhts")` for one query (`T = 1`) over a cache.

    Written as a product and a sum over `depth`, which read the cached keys
    in their `(batch, S, h, depth)` layout: under XLA the einsum's batched
    dot first copied them to `(batch, h, depth, S)` at every decoding step
    (measured: docs/benchmarks.md, "Generation at GPT-2 124M").
    """
    logits = ops.sum(q_heads * k_heads, axis=-1)  # (batch, S, h)
    return ops.expand_dims(ops.transpose(logits, (0, 2, 1)), 2)


def _one_query_heads(weights, v_heads):
    """`einsum("bhts,bshd->bthd")` for one query: a product and a sum over
    `S`, one pass over the cached values (see `_one_query_logits`)."""
    weights = ops.transpose(ops.squeeze(weights, 2), (0, 2, 1))  # (batch, S, h)
    return ops.sum(ops.expand_dims(weights, -1) * v_heads, axis=1, keepdims=True)


def _static(size):
    """A Python int if `size` is statically known, else `None`."""
    return size if isinstance(size, int) else None
