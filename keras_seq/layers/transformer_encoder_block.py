"""One Transformer encoder layer: self-attention and feed-forward."""

import keras

from keras_seq.layers import _attention_utils as utils
from keras_seq.layers._transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_seq")
class TransformerEncoderBlock(TransformerBlock):
    """Self-attention and feed-forward sublayers with residuals and LayerNorm.

    Post-LN (the paper's, `normalize_first=False`):

        x = LayerNorm(x + Dropout(MultiHeadAttention(x, x, x)))
        x = LayerNorm(x + FeedForward(x))

    Pre-LN (`normalize_first=True`, as GPT-2 and keras-hub's option):

        x = x + Dropout(MultiHeadAttention(LN(x), LN(x), LN(x)))
        x = x + FeedForward(LN(x))

    Sublayers: `self_attention` (`MultiHeadAttention`, with attention dropout
    `dropout`), `self_attention_layer_norm`, `self_attention_dropout`,
    `feed_forward` (`FeedForward`, with output dropout `dropout`) and
    `feedforward_layer_norm`; the same computation and names as keras-hub's
    `TransformerEncoder`.

    Masks follow the Keras convention: true/1 = may attend (see
    `keras_seq.layers._attention_utils`). `padding_mask` (or else the Keras
    mask of `inputs`) and `attention_mask` are combined with AND.

    Args:
        d_model: int, model width; the inputs' last dimension.
        num_heads: int, number of attention heads; must divide `d_model`
            unless `depth` is given.
        dff: int, inner width of the feed-forward network.
        dropout: float in [0, 1), rate of all dropouts.
        activation: activation of the feed-forward network.
        layer_norm_epsilon: float, epsilon of the LayerNormalizations.
        normalize_first: bool, pre-LN instead of post-LN.
        kernel_initializer: initializer of all Dense kernels.
        bias_initializer: initializer of all Dense biases.
        normalization: `"layer_norm"` (`keras.layers.LayerNormalization`) or
            `"rms_norm"` (`RMSNormalization`, T5's).
        use_bias: bool, biases in the attention and feed-forward Dense layers
            (T5 has none).
        use_gated_activation: bool, the gated feed-forward network of T5 v1.1
            (see `FeedForward`).
        activation_dropout: float in [0, 1), dropout inside the feed-forward
            network, after its activation (T5's).
        depth: optional int, features per attention head (default
            `d_model // num_heads`; T5 3B/11B: 128 with 32/128 heads).
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, S, d_model)`.
        padding_mask: optional `(batch, S)`, true at real tokens.
        attention_mask: optional `(batch, S, S)`, true = may attend.
        attention_bias: optional float tensor broadcastable to
            `(batch, num_heads, S, S)` added to the attention logits (e.g.
            T5's `RelativePositionBias`).
        return_attention_scores: bool, also return the attention weights
            `(batch, num_heads, S, S)`.
        training: bool, whether dropout is active.

    Returns:
        `(batch, S, d_model)`, or `(outputs, attention_weights)`.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import TransformerEncoderBlock
    >>> block = TransformerEncoderBlock(d_model=16, num_heads=4, dff=32)
    >>> x = np.random.rand(2, 6, 16).astype("float32")
    >>> padding_mask = np.array([[1] * 6, [1] * 4 + [0] * 2], bool)
    >>> tuple(block(x, padding_mask=padding_mask).shape)
    (2, 6, 16)

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
          "Attention Is All You Need", sections 3.1 and 5.4.
        - [Xiong et al., 2020](https://arxiv.org/abs/2002.04745), "On Layer
          Normalization in the Transformer Architecture" (pre-LN).
    """

    def build(self, inputs_shape):
        self._build_self_attention_and_feed_forward(inputs_shape)

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        attention_bias=None,
        return_attention_scores=False,
        training=None,
    ):
        self._check_width("inputs", inputs.shape)
        if padding_mask is None:
            padding_mask = utils.keras_mask(inputs)
        mask = utils.merge_padding_and_attention_masks(
            self, padding_mask, attention_mask, inputs.shape[:2], inputs.shape[1]
        )
        # Sublayer 1: x + Dropout(MultiHeadAttention(x, x, x)).
        x, (scores,) = self._attention_sublayer(
            self.self_attention,
            self.self_attention_layer_norm,
            self.self_attention_dropout,
            inputs,
            None,
            mask=mask,
            attention_bias=attention_bias,
            return_attention_scores=True,
            training=training,
        )
        # Sublayer 2: x + FeedForward(x).
        x = self._feed_forward_sublayer(x, training)
        return (x, scores) if return_attention_scores else x
