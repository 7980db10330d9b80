"""One Transformer decoder layer: causal self-attention, cross-attention, FFN."""

import keras

from keras_seq.layers import _attention_utils as utils
from keras_seq.layers._transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_seq")
class TransformerDecoderBlock(TransformerBlock):
    """Causal self-attention, optional cross-attention and a feed-forward net.

    Post-LN (the paper's, `normalize_first=False`), with `y` the decoder
    sequence and `e` the encoder outputs:

        y = LayerNorm(y + Dropout(MultiHeadAttention(y, y, y, causal)))
        y = LayerNorm(y + Dropout(MultiHeadAttention(y, e, e)))
        y = LayerNorm(y + FeedForward(y))

    Pre-LN (`normalize_first=True`) normalizes each sublayer's input instead
    and adds the residual after: `y = y + Sublayer(LN(y))`.

    Called as `block(y)` it has no cross-attention (decoder-only models such as
    GPT); called as `block(y, e)` it has one (encoder-decoder models). The
    first call decides, as in keras-hub's `TransformerDecoder`, whose
    computation and sublayer names (`self_attention`, `cross_attention`,
    `feed_forward` and their `*_layer_norm`, `*_dropout`) this follows.

    Masks follow the Keras convention: true/1 = may attend (see
    `keras_seq.layers._attention_utils`). The self-attention combines the
    causal mask, `decoder_padding_mask` (else the Keras mask of `y`) and
    `decoder_attention_mask`; the cross-attention combines
    `encoder_padding_mask` (else the Keras mask of `e`) and
    `encoder_attention_mask`.

    Cached decoding: `self_attention_cache` is the self-attention's key/value
    cache `(batch, 2, max_length, num_heads, depth)` (from
    `initial_cache`); the new tokens' keys and values are written at
    `self_attention_cache_update_index`, which is also the position of the
    first new token. `cross_attention_cache` `(batch, 2, S_enc, num_heads,
    depth)` holds the encoder's projected keys and values: pass a zero cache
    (`block.cross_attention.initial_cache(batch, S_enc)`) with
    `cross_attention_cache_update_index=0` on the first step to fill it, then
    `None` to reuse it; or pass the encoder's keys and values once computed
    (`block.cross_attention.key_value_cache(e)`), and then `encoder_sequence`
    may be left out. Both are optional, and each is returned updated when
    given.

    Args:
        d_model: int, model width; the last dimension of `y` (and of `e`'s
            projections).
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
        decoder_sequence: `y`, `(batch, T, d_model)`.
        encoder_sequence: optional `e`, `(batch, S_enc, d_enc)`.
        decoder_padding_mask: optional `(batch, S)`, true at real decoder
            tokens; `S` is `T`, or the cache's `max_length` with a cache.
        decoder_attention_mask: optional `(batch, T, S)`.
        encoder_padding_mask: optional `(batch, S_enc)`.
        encoder_attention_mask: optional `(batch, T, S_enc)`.
        self_attention_bias: optional float tensor broadcastable to
            `(batch, num_heads, T, S)` added to the self-attention logits.
        self_attention_cache: optional self-attention cache.
        self_attention_cache_update_index: int or int scalar tensor.
        cross_attention_cache: optional cross-attention cache.
        cross_attention_cache_update_index: `None` or int (usually 0).
        use_causal_mask: bool, defaults to `True`.
        training: bool, whether dropout is active.

    Returns:
        `outputs` `(batch, T, d_model)`, followed by the updated
        `self_attention_cache` and `cross_attention_cache` when given.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import TransformerDecoderBlock
    >>> block = TransformerDecoderBlock(d_model=16, num_heads=4, dff=32)
    >>> y = np.random.rand(2, 5, 16).astype("float32")
    >>> full = block(y)
    >>> cache = block.initial_cache(batch_size=2, max_length=5)
    >>> steps = []
    >>> for t in range(5):
    ...     out, cache = block(y[:, t : t + 1], self_attention_cache=cache,
    ...                        self_attention_cache_update_index=t)
    ...     steps.append(out)
    >>> bool(np.allclose(np.concatenate(steps, 1), full, atol=1e-5))
    True

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
          "Attention Is All You Need", section 3.1.
        - [Xiong et al., 2020](https://arxiv.org/abs/2002.04745), "On Layer
          Normalization in the Transformer Architecture" (pre-LN).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cross_attention = None

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        self._check_width("decoder_sequence", decoder_sequence_shape)
        self._build_self_attention_and_feed_forward(decoder_sequence_shape)
        if encoder_sequence_shape is None:
            # Decoder-only: no cross-attention (a subclass's is dropped).
            self.cross_attention = None
            return
        utils.check_rank(
            utils.describe(self), "encoder_sequence", encoder_sequence_shape, (3,)
        )
        # Whether there is a cross-attention is known at the first call only:
        # it is created here, unless a subclass created its own already.
        if self.cross_attention is None:
            self.cross_attention = self._attention("cross_attention")
        self.build_sublayer(
            self.cross_attention,
            decoder_sequence_shape,
            encoder_sequence_shape,
            encoder_sequence_shape,
        )
        self.cross_attention_layer_norm = self._layer_norm("cross_attention_layer_norm")
        self.cross_attention_layer_norm.build(decoder_sequence_shape)
        self.cross_attention_dropout = self._dropout("cross_attention_dropout")

    def initial_cache(self, batch_size, max_length):
        """An empty self-attention cache `(batch, 2, max_length, heads, depth)`."""
        return self.self_attention.initial_cache(batch_size, max_length)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        decoder_attention_mask=None,
        encoder_padding_mask=None,
        encoder_attention_mask=None,
        self_attention_bias=None,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        cross_attention_cache_update_index=None,
        use_causal_mask=True,
        training=None,
    ):
        where = utils.describe(self)
        self._check_width("decoder_sequence", decoder_sequence.shape)
        has_cross = self.cross_attention is not None
        # A filled cross-attention cache stands for the encoder sequence.
        cross_from_cache = (
            cross_attention_cache is not None
            and cross_attention_cache_update_index is None
        )
        if has_cross != (encoder_sequence is not None) and not (
            has_cross and cross_from_cache
        ):
            built = "with" if has_cross else "without"
            raise ValueError(
                f"{where} was built {built} cross-attention: call it as "
                f"`block(decoder_sequence{', encoder_sequence' * has_cross})` "
                "every time."
            )
        if not has_cross and cross_attention_cache is not None:
            raise ValueError(
                f"{where} has no cross-attention, but got a `cross_attention_cache`."
            )
        y = decoder_sequence
        query_shape = y.shape[:2]

        # Sublayer 1: causal self-attention.
        key_length = y.shape[1]
        if self_attention_cache is not None:
            key_length = self_attention_cache.shape[2]
        elif decoder_padding_mask is None:
            decoder_padding_mask = utils.keras_mask(y)
        mask = utils.merge_padding_and_attention_masks(
            self,
            decoder_padding_mask,
            decoder_attention_mask,
            query_shape,
            key_length,
            names=("decoder_padding_mask", "decoder_attention_mask"),
        )
        y, self_cache = self._attention_sublayer(
            self.self_attention,
            self.self_attention_layer_norm,
            self.self_attention_dropout,
            y,
            None,
            mask=mask,
            attention_bias=self_attention_bias,
            use_causal_mask=use_causal_mask,
            cache=self_attention_cache,
            cache_update_index=self_attention_cache_update_index,
            training=training,
        )

        # Sublayer 2: cross-attention over the encoder outputs.
        if has_cross:
            if encoder_padding_mask is None and encoder_sequence is not None:
                encoder_padding_mask = utils.keras_mask(encoder_sequence)
            if cross_attention_cache is None:
                key_length = encoder_sequence.shape[1]
            else:
                key_length = cross_attention_cache.shape[2]
            mask = utils.merge_padding_and_attention_masks(
                self,
                encoder_padding_mask,
                encoder_attention_mask,
                query_shape,
                key_length,
                names=("encoder_padding_mask", "encoder_attention_mask"),
            )
            y, cross_cache = self._attention_sublayer(
                self.cross_attention,
                self.cross_attention_layer_norm,
                self.cross_attention_dropout,
                y,
                encoder_sequence,
                mask=mask,
                cache=cross_attention_cache,
                cache_update_index=cross_attention_cache_update_index,
                training=training,
            )

        # Sublayer 3: y + FeedForward(y).
        y = self._feed_forward_sublayer(y, training)
        outputs = (y,) + self_cache + (cross_cache if has_cross else ())
        return outputs[0] if len(outputs) == 1 else outputs
