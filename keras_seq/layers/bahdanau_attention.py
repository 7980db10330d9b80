"""Bahdanau's additive attention."""

import keras
from keras import ops

from keras_seq.layers import _attention_utils as utils
from keras_seq.layers._composite import CompositeLayer


@keras.saving.register_keras_serializable(package="keras_seq")
class BahdanauAttention(CompositeLayer):
    """Additive attention: `e_ts = v^T tanh(W_1 q_t + W_2 k_s)`.

        e_ts     = v^T tanh(W_1 q_t + W_2 k_s)        score of key s for query t
        a_ts     = softmax_s(e_ts)                     attention weights
        c_t      = sum_s a_ts k_s                      context vector

    `W_1` is the Dense layer `w1` (`units`, with the bias), `W_2` is `w2`
    (`units`, no bias: one bias inside the tanh is enough) and `v` is `v`
    (1 unit, no bias: the softmax ignores it). The keys are also the values,
    as in the paper (the encoder annotations `h_j`; the query is the decoder
    state `s_{i-1}`).

    Masks follow the Keras convention: true/1 = may attend (see
    `keras_seq.layers._attention_utils`). Without `mask`, the Keras implicit
    mask of `values` is used as the key padding mask.

    Args:
        units: int, size of the hidden layer inside the tanh.
        kernel_initializer: initializer of the kernels.
        bias_initializer: initializer of the bias of `w1`.
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
    >>> from keras_seq.layers import BahdanauAttention
    >>> attention = BahdanauAttention(units=10)
    >>> state = np.random.rand(2, 16).astype("float32")
    >>> encoder_outputs = np.random.rand(2, 7, 32).astype("float32")
    >>> context, weights = attention(state, encoder_outputs)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 32), (2, 7))

    References:
        - [Bahdanau et al., 2015](https://arxiv.org/abs/1409.0473), "Neural
          Machine Translation by Jointly Learning to Align and Translate",
          section 3.1 and appendix A.1.2.
    """

    def __init__(
        self,
        units,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._input_dims = None
        self.supports_masking = True
        self.w1 = self._dense(units, True, "w1")
        self.w2 = self._dense(units, False, "w2")
        self.v = self._dense(1, False, "v")

    def _dense(self, units, use_bias, name):
        return keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=utils.clone_initializer(self.kernel_initializer),
            bias_initializer=utils.clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, values_shape):
        self.build_sublayer(self.w1, query_shape)
        self.build_sublayer(self.w2, values_shape)
        self.build_sublayer(self.v, (None, self.units))
        self._input_dims = (query_shape[-1], values_shape[-1])

    def call(self, query, values, mask=None):
        single, query, mask = utils.check_query_values(self, query, values, mask)
        scores = self.compute_scores(query, values)
        return utils.attend(scores, values, mask, single)

    def compute_scores(self, query, values):
        """The scores `e_ts` `(batch, T, S)`, before masking and softmax.

        The extension point for another score: a subclass overrides this
        (see docs/extending.md); masking, softmax and the context stay ours.

        Args:
            query: `(batch, T, d_q)`.
            values: `(batch, S, d_v)`.
        """
        # W_1 q_t: (batch, T, 1, units); W_2 k_s: (batch, 1, S, units).
        w1_q = ops.expand_dims(self.w1(query), 2)
        w2_k = ops.expand_dims(self.w2(values), 1)
        # e_ts = v^T tanh(W_1 q_t + W_2 k_s): (batch, T, S)
        return ops.squeeze(self.v(ops.tanh(w1_q + w2_k)), -1)

    def compute_mask(self, query, previous_mask=None):
        # The context is padded where the queries are. `previous_mask` would
        # be our `mask` argument, a key mask rather than an input mask.
        return utils.keras_mask(query)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": utils.serialize_initializer(
                    self.kernel_initializer
                ),
                "bias_initializer": utils.serialize_initializer(self.bias_initializer),
            }
        )
        return config
