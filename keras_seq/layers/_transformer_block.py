"""What the Transformer encoder and decoder blocks share."""

import keras

from keras_seq.layers import _attention_utils as utils
from keras_seq.layers._composite import CompositeLayer
from keras_seq.layers.feed_forward import FeedForward
from keras_seq.layers.multi_head_attention import MultiHeadAttention
from keras_seq.layers.rms_normalization import RMSNormalization

# The normalizations a block can use, by name (a string keeps the config plain).
NORMALIZATIONS = {
    "layer_norm": keras.layers.LayerNormalization,
    "rms_norm": RMSNormalization,
}


class TransformerBlock(CompositeLayer):
    """Constructor, config, sublayers and the FFN sublayer of both blocks.

    Not public: `TransformerEncoderBlock` and `TransformerDecoderBlock`
    document the arguments.
    """

    def __init__(
        self,
        d_model,
        num_heads,
        dff,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        normalization="layer_norm",
        use_bias=True,
        use_gated_activation=False,
        activation_dropout=0.0,
        depth=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"{name}: normalization must be one of {sorted(NORMALIZATIONS)}, "
                f"got {normalization!r}."
            )
        if depth is None and d_model % num_heads != 0:
            raise ValueError(
                f"{name}: d_model={d_model} is not divisible by num_heads={num_heads}."
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}.")
        self.d_model = d_model
        self.num_heads = num_heads
        self.dff = dff
        self.dropout = dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.normalization = normalization
        self.use_bias = use_bias
        self.use_gated_activation = use_gated_activation
        self.activation_dropout = activation_dropout
        self.depth = depth
        self.supports_masking = True
        # Created here (a subclass may replace them), built in build().
        self.self_attention = self._attention("self_attention")
        self.self_attention_layer_norm = self._layer_norm("self_attention_layer_norm")
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        self.feed_forward = FeedForward(
            self.d_model,
            self.dff,
            activation=self.activation,
            dropout=self.dropout,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            use_bias=self.use_bias,
            use_gated_activation=self.use_gated_activation,
            activation_dropout=self.activation_dropout,
            dtype=self.dtype_policy,
            name="feed_forward",
        )
        self.feedforward_layer_norm = self._layer_norm("feedforward_layer_norm")

    def _build_self_attention_and_feed_forward(self, inputs_shape):
        self._check_width("inputs", inputs_shape)
        self.build_sublayer(
            self.self_attention, inputs_shape, inputs_shape, inputs_shape
        )
        self.build_sublayer(self.self_attention_layer_norm, inputs_shape)
        self.build_sublayer(self.feed_forward, inputs_shape)
        self.build_sublayer(self.feedforward_layer_norm, inputs_shape)

    def _attention(self, name):
        return MultiHeadAttention(
            self.d_model,
            self.num_heads,
            dropout=self.dropout,
            use_bias=self.use_bias,
            depth=self.depth,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _layer_norm(self, name):
        return NORMALIZATIONS[self.normalization](
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def _dropout(self, name):
        return keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name=name)

    def _attention_sublayer(self, attention, layer_norm, dropout, x, memory, **kw):
        """`x + Dropout(Attention(x, m, m))`, LayerNorm after (or before).

        `memory` is `m`, or `None` for self-attention (`m = x`, normalized
        too under pre-LN). Returns the new `x`, then the attention's extra
        outputs (weights and/or cache) as a tuple.
        """
        residual = x
        if self.normalize_first:
            x = layer_norm(x)
        memory = x if memory is None else memory
        outputs = attention(x, memory, memory, **kw)
        extras = ()
        if isinstance(outputs, tuple):
            outputs, extras = outputs[0], outputs[1:]
        x = residual + dropout(outputs, training=kw.get("training"))
        if not self.normalize_first:
            x = layer_norm(x)
        return x, extras

    def _feed_forward_sublayer(self, x, training):
        """`x + FeedForward(x)` (its dropout included), LN after (or before)."""
        residual = x
        if self.normalize_first:
            x = self.feedforward_layer_norm(x)
        x = residual + self.feed_forward(x, training=training)
        if not self.normalize_first:
            x = self.feedforward_layer_norm(x)
        return x

    def _check_width(self, what, shape):
        """Raises `ValueError` unless `shape` is `(batch, length, d_model)`."""
        where = utils.describe(self)
        utils.check_rank(where, what, shape, (3,))
        if shape[-1] is not None and shape[-1] != self.d_model:
            raise ValueError(
                f"{where}: {what} must have last dimension d_model={self.d_model}, "
                f"got shape {tuple(shape)}."
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "d_model": self.d_model,
                "num_heads": self.num_heads,
                "dff": self.dff,
                "dropout": self.dropout,
                "activation": utils.serialize_activation(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "normalize_first": self.normalize_first,
                "kernel_initializer": utils.serialize_initializer(
                    self.kernel_initializer
                ),
                "bias_initializer": utils.serialize_initializer(self.bias_initializer),
                "normalization": self.normalization,
                "use_bias": self.use_bias,
                "use_gated_activation": self.use_gated_activation,
                "activation_dropout": self.activation_dropout,
                "depth": self.depth,
            }
        )
        return config
