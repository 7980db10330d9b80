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

    Args:
        d_model: int, output width.
        dff: int, inner width.
        activation: activation of the inner layer. Defaults to `"relu"`.
        dropout: float in [0, 1), dropout rate on the output.
        kernel_initializer: initializer of the Dense kernels.
        bias_initializer: initializer of the Dense biases.
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
    """

    def __init__(
        self,
        d_model,
        dff,
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0 <= dropout < 1:
            raise ValueError(f"FeedForward: dropout must be in [0, 1), got {dropout}.")
        self.d_model = d_model
        self.dff = dff
        self.activation = activation
        self.dropout = dropout
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.supports_masking = True
        # W_1: (d_in, dff) with activation f; W_2: (dff, d_model).
        self.intermediate_dense = self._dense(dff, activation, "intermediate_dense")
        self.output_dense = self._dense(d_model, None, "output_dense")
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout"
        )

    def _dense(self, units, activation, name):
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=utils.clone_initializer(self.kernel_initializer),
            bias_initializer=utils.clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, inputs_shape):
        self.build_sublayer(self.intermediate_dense, inputs_shape)
        self.build_sublayer(self.output_dense, tuple(inputs_shape[:-1]) + (self.dff,))
        # Later calls with another last dimension get a ValueError naming us.
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: inputs_shape[-1]})

    def call(self, inputs, training=None):
        # FFN(x) = f(x W_1 + b_1) W_2 + b_2
        x = self.output_dense(self.intermediate_dense(inputs))
        return self.output_dropout(x, training=training)

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
            }
        )
        return config
