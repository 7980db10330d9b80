"""The Transformer's position-wise feed-forward network."""

import keras

from keras_seq.layers import _attention_utils as utils
from keras_seq.layers._composite import CompositeLayer


@keras.saving.register_keras_serializable(package="keras_seq")
class FeedForward(CompositeLayer):
    """Position-wise feed-forward network: `FFN(x) = f(x W_1 + b_1) W_2 + b_2`.

    The same two Dense layers act on every position: `intermediate_dense`
    (`W_1`, `dff` units, activation `f`, ReLU in the paper) and `output_dense`
    (`W_2`, `d_model` units), followed by dropout on the output (the paper's
    residual dropout, applied before the residual connection, which is the
    caller's). Masks pass through unchanged.

    Options of later Transformers (T5, Raffel et al., 2020; Shazeer, 2020):
    `use_bias=False` drops `b_1`, `b_2`; `use_gated_activation=True` adds
    `gate_dense` (`W_g`) and computes `(f(x W_1) * x W_g) W_2` (GLU variants,
    T5 v1.1's "gated-gelu"); `activation_dropout` drops units of the inner
    layer, before `W_2` (T5's dropout inside the feed-forward network).

    Args:
        d_model: int, output width.
        dff: int, inner width.
        activation: activation of the inner layer. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout rate on the output.
        kernel_initializer: initializer of the Dense kernels.
        bias_initializer: initializer of the Dense biases.
        use_bias: bool, whether the Dense layers have biases.
        use_gated_activation: bool, multiply `f(x W_1)` by a linear gate
            `x W_g`.
        activation_dropout: float in [0, 1), dropout rate on the inner layer.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, ..., d_in)`; after the first call `d_in` is fixed.
        training: bool, whether dropout is active.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import FeedForward
    >>> ffn = FeedForward(d_model=8, dff=32)
    >>> tuple(ffn(np.zeros((2, 5, 8), "float32")).shape)
    (2, 5, 8)

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
          "Attention Is All You Need", section 3.3, equation (2).
        - [Shazeer, 2020](https://arxiv.org/abs/2002.05202), "GLU Variants
          Improve Transformer" (the gated form).
    """

    def __init__(
        self,
        d_model,
        dff,
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        use_bias=True,
        use_gated_activation=False,
        activation_dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for key, rate in (
            ("dropout", dropout),
            ("activation_dropout", activation_dropout),
        ):
            if not 0 <= rate < 1:
                raise ValueError(f"FeedForward: {key} must be in [0, 1), got {rate}.")
        self.d_model = d_model
        self.dff = dff
        self.activation = activation
        self.dropout = dropout
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.use_bias = use_bias
        self.use_gated_activation = use_gated_activation
        self.activation_dropout = activation_dropout
        self.supports_masking = True
        # W_1: (d_in, dff) with activation f; W_g: (d_in, dff); W_2: (dff, d_model).
        self.intermediate_dense = self._dense(dff, activation, "intermediate_dense")
        self.gate_dense = None
        if use_gated_activation:
            self.gate_dense = self._dense(dff, None, "gate_dense")
        self.activation_dropout_layer = keras.layers.Dropout(
            activation_dropout, dtype=self.dtype_policy, name="activation_dropout"
        )
        self.output_dense = self._dense(d_model, None, "output_dense")
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout"
        )

    def _dense(self, units, activation, name):
        return keras.layers.Dense(
            units,
            activation=activation,
            use_bias=self.use_bias,
            kernel_initializer=utils.clone_initializer(self.kernel_initializer),
            bias_initializer=utils.clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, inputs_shape):
        self.build_sublayer(self.intermediate_dense, inputs_shape)
        if self.gate_dense is not None:
            self.build_sublayer(self.gate_dense, inputs_shape)
        self.build_sublayer(self.output_dense, tuple(inputs_shape[:-1]) + (self.dff,))
        # Later calls with another last dimension get a ValueError naming us.
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: inputs_shape[-1]})

    def call(self, inputs, training=None):
        # FFN(x) = f(x W_1 + b_1) W_2 + b_2   (gated: (f(x W_1) * x W_g) W_2)
        h = self.intermediate_dense(inputs)
        if self.gate_dense is not None:
            h = h * self.gate_dense(inputs)
        h = self.activation_dropout_layer(h, training=training)
        return self.output_dropout(self.output_dense(h), training=training)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.d_model,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "d_model": self.d_model,
                "dff": self.dff,
                "activation": utils.serialize_activation(self.activation),
                "dropout": self.dropout,
                "kernel_initializer": utils.serialize_initializer(
                    self.kernel_initializer
                ),
                "bias_initializer": utils.serialize_initializer(self.bias_initializer),
                "use_bias": self.use_bias,
                "use_gated_activation": self.use_gated_activation,
                "activation_dropout": self.activation_dropout,
            }
        )
        return config
