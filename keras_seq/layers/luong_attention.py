"""Luong's multiplicative (global) attention."""

import keras
from keras import ops

from keras_seq.layers import _attention_utils as utils
from keras_seq.layers._composite import CompositeLayer

_SCORES = ("dot", "general", "concat")


@keras.saving.register_keras_serializable(package="keras_seq")
class LuongAttention(CompositeLayer):
    """Global attention with Luong's `dot`, `general` or `concat` score.

        score(h_t, h_s) = h_t^T h_s                        "dot"
                          h_t^T W_a h_s                    "general"
                          v_a^T tanh(W_a [h_t; h_s])       "concat"
        a_t(s) = softmax_s(score(h_t, h_s))                attention weights
        c_t    = sum_s a_t(s) h_s                          context vector

    `h_t` is the query (decoder state), `h_s` the keys, which are also the
    values (encoder outputs). "general" has the Dense layer `w_a` (kernel
    `(d_v, d_q)`, no bias), computing `W_a h_s`. "concat" splits
    `W_a [h_t; h_s] = W_a^t h_t + W_a^s h_s` into the Dense layers `w_a_query`
    and `w_a_key` (`units` each, no bias) so the `(T, S, d_q + d_v)`
    concatenation is never built, then `v_a` (1 unit). The attentional state
    `tanh(W_c [c_t; h_t])` of the paper is the caller's.

    Masks follow the Keras convention: true/1 = may attend (see
    `keras_seq.layers._attention_utils`). Without `mask`, the Keras implicit
    mask of `values` is used as the key padding mask.

    Args:
        units: int, hidden size of the "concat" score; `None` (the default)
            for "dot" and "general", whose weights are sized by the inputs.
        score: `"dot"` (needs `d_q == d_v`), `"general"` or `"concat"`.
        kernel_initializer: initializer of the kernels.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(batch, d_q)`, one decoder state, or `(batch, T, d_q)`.
        values: `(batch, S, d_v)`, the encoder outputs (keys and values).
        mask: optional key padding mask `(batch, S)`, or with a 3D query an
            attention mask `(batch, T, S)`; true = may attend.

    Returns:
        `(context, attention_weights)`: `(batch, d_v)` and `(batch, S)` for a
        2D query, `(batch, T, d_v)` and `(batch, T, S)` for a 3D one.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import LuongAttention
    >>> attention = LuongAttention(score="general")
    >>> state = np.random.rand(2, 16).astype("float32")
    >>> encoder_outputs = np.random.rand(2, 7, 32).astype("float32")
    >>> context, weights = attention(state, encoder_outputs)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 32), (2, 7))

    References:
        - [Luong et al., 2015](https://arxiv.org/abs/1508.04025), "Effective
          Approaches to Attention-based Neural Machine Translation",
          section 3.1.
    """

    def __init__(
        self,
        units=None,
        score="dot",
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if score not in _SCORES:
            raise ValueError(
                f"LuongAttention: score must be one of {_SCORES}, got {score!r}."
            )
        if score == "concat" and not units:
            raise ValueError(
                f"LuongAttention: score='concat' needs `units`, got units={units}."
            )
        self.units = units
        self.score = score
        self.kernel_initializer = kernel_initializer
        self._input_dims = None
        self.supports_masking = True
        # "general"'s W_a is sized by the query (its units are d_q): it is
        # created in build() unless a subclass sets `self.w_a` here first.
        self.w_a = None
        if score == "concat":
            self.w_a_query = self._dense(units, "w_a_query")
            self.w_a_key = self._dense(units, "w_a_key")
            self.v_a = self._dense(1, "v_a")

    def _dense(self, units, name):
        return keras.layers.Dense(
            units,
            use_bias=False,
            kernel_initializer=utils.clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, values_shape):
        d_q, d_v = query_shape[-1], values_shape[-1]
        if self.score == "dot" and d_q != d_v:
            raise ValueError(
                f"{utils.describe(self)}: score='dot' needs the query and values "
                f"to have the same last dimension, got query shape "
                f"{tuple(query_shape)} and values shape {tuple(values_shape)}."
            )
        if self.score == "general":
            # W_a h_s: (d_v) -> (d_q)
            if self.w_a is None:
                self.w_a = self._dense(d_q, "w_a")
            self.build_sublayer(self.w_a, values_shape)
        elif self.score == "concat":
            self.build_sublayer(self.w_a_query, query_shape)
            self.build_sublayer(self.w_a_key, values_shape)
            self.build_sublayer(self.v_a, (None, self.units))
        self._input_dims = (d_q, d_v)

    def call(self, query, values, mask=None):
        single, h_t, mask = utils.check_query_values(self, query, values, mask)
        h_s = ops.cast(values, h_t.dtype)
        scores = self.compute_scores(h_t, h_s)
        return utils.attend(scores, h_s, mask, single)

    def compute_scores(self, h_t, h_s):
        """`score(h_t, h_s)` `(batch, T, S)`, before masking and softmax.

        The extension point for another score: a subclass overrides this
        (see docs/extending.md); masking, softmax and the context stay ours.

        Args:
            h_t: the queries `(batch, T, d_q)`.
            h_s: the keys `(batch, S, d_v)`.
        """
        if self.score == "dot":
            # h_t^T h_s: (batch, T, S)
            return ops.matmul(h_t, ops.swapaxes(h_s, 1, 2))
        if self.score == "general":
            # h_t^T (W_a h_s): (batch, T, S)
            return ops.matmul(h_t, ops.swapaxes(self.w_a(h_s), 1, 2))
        # v_a^T tanh(W_a^t h_t + W_a^s h_s): (batch, T, S)
        hidden = ops.expand_dims(self.w_a_query(h_t), 2) + ops.expand_dims(
            self.w_a_key(h_s), 1
        )
        return ops.squeeze(self.v_a(ops.tanh(hidden)), -1)

    def compute_mask(self, query, previous_mask=None):
        # The context is padded where the queries are. `previous_mask` would
        # be our `mask` argument, a key mask rather than an input mask.
        return utils.keras_mask(query)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "score": self.score,
                "kernel_initializer": utils.serialize_initializer(
                    self.kernel_initializer
                ),
            }
        )
        return config
