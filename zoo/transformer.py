"""Transformer: the encoder-decoder of "Attention Is All You Need".

Model card:
    What: a sequence-to-sequence model. Source and target tokens share one
        embedding matrix `E` (scaled by `sqrt(d_model)`) plus the sinusoidal
        positional encoding; `num_layers` `TransformerEncoderBlock`s encode the
        source, `num_layers` `TransformerDecoderBlock`s (causal
        self-attention, cross-attention to the encoder, feed-forward) decode
        the target, and the logits are the decoder states times `E^T` (the
        paper shares the two embeddings and the pre-softmax projection).
        Post-LN blocks as in the paper (`normalize_first=False`); pre-LN with
        final LayerNorms is an option.
    Inputs: `{"encoder_token_ids": (B, S) int32, "decoder_token_ids": (B, T)
        int32}`, pad id 0 in both (padding masks are `ids != 0`).
        `decoder_token_ids` are the targets shifted right behind
        `start_token_id` (teacher forcing).
    Outputs: next-token logits `(B, T, vocabulary_size)`.
    Generation: `model.generate({"encoder_token_ids": source}, max_length,
        ...)` decodes from `start_token_id` (see `zoo.generation`); the encoder
        runs once, its projected keys/values are cached for every
        cross-attention, and each decoder layer keeps a self-attention
        key/value cache. Pass `stop_token_ids=[end_token_id]` to stop at the
        end token.
    Presets: `tiny` (for tests), `base` (63.1M parameters, published as 65M)
        and `big` (214M, published as 213M), both with a shared vocabulary of
        37000 BPE tokens as in the paper's English-German setup.
    Paper: Vaswani et al., 2017, "Attention Is All You Need",
        https://arxiv.org/abs/1706.03762 (sections 3 and 5.4; Table 3).

Example:
    >>> import zoo
    >>> model = zoo.build("transformer", "tiny")
    >>> source = {"encoder_token_ids": [[5, 6, 7, 0]]}
    >>> tokens = model.generate(source, max_length=6,  # greedy by default
    ...                         stop_token_ids=[model.end_token_id],
    ...                         jit_compile=False)  # default: compile with XLA
    >>> tokens.shape, int(tokens[0, 0]) == model.start_token_id
    ((1, 6), True)
"""

import math

import keras
from keras import ops

from keras_seq.layers import PositionalEncoding
from zoo.base import ZooModel, check_divisible, check_token_id, id_inputs
from zoo.decoder_stack import TransformerGenerationMixin, encoder_decoder_blocks

# Vaswani et al., 2017, Table 3, "base": N=6, d_model=512, d_ff=2048, h=8,
# P_drop=0.1 (37000 shared BPE tokens for English-German).
_BASE = dict(
    vocabulary_size=37000,
    max_sequence_length=512,
    num_layers=6,
    d_model=512,
    num_heads=8,
    dff=2048,
    dropout=0.1,
    normalize_first=False,
    tie_embeddings=True,
    start_token_id=1,
    end_token_id=2,
)
PRESETS = {
    # The test size: "base" shrunk, without dropout.
    "tiny": dict(
        _BASE,
        vocabulary_size=64,
        max_sequence_length=32,
        num_layers=2,
        d_model=32,
        num_heads=4,
        dff=64,
        dropout=0.0,
    ),
    "base": _BASE,
    # Table 3, "big": "base" with d_model=1024, d_ff=4096, h=16, P_drop=0.3
    # (the table lists only what differs from "base").
    "big": dict(_BASE, d_model=1024, num_heads=16, dff=4096, dropout=0.3),
}

# What the family trains on and how it answers text (zoo.family.Family).
FACTS = dict(
    tasks={"seq2seq": "seq2seq"},
    default_sequence_length=None,
    text_interface="seq2seq",
)


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class Transformer(TransformerGenerationMixin, ZooModel):
    """The Transformer encoder-decoder (see the module's model card).

        x_0 = sqrt(d) E[source] + PE            y_0 = sqrt(d) E[target_in] + PE
        x_l = EncoderBlock_l(x_{l-1})           y_l = DecoderBlock_l(y_{l-1}, x_N)
        logits = y_N E^T

    (with pre-LN, `x_N` and `y_N` go through a final LayerNorm each).

    Args:
        vocabulary_size: int, `V`, the shared source/target vocabulary (0 is
            the pad id).
        max_sequence_length: int, the longest source or target sequence (the
            positional-encoding table).
        num_layers: int, `N`, encoder blocks and decoder blocks.
        d_model: int, model width.
        num_heads: int, attention heads; must divide `d_model`.
        dff: int, inner width of the feed-forward nets.
        dropout: float, `P_drop`: on the embedding sums, the attention weights
            and every sublayer output.
        normalize_first: bool, pre-LN blocks and final LayerNorms instead of
            the paper's post-LN.
        tie_embeddings: bool, the pre-softmax projection is `E^T`; otherwise a
            separate `(d_model, V)` matrix.
        start_token_id: int, the first decoder input (generation starts there).
        end_token_id: int, the end-of-sequence id of the data (a stop token).
        layer_norm_epsilon: float, epsilon of all LayerNormalizations.
        **kwargs: `name`, `dtype`, `trainable`.

    Example:
        >>> model = Transformer(vocabulary_size=40, max_sequence_length=16,
        ...                     num_layers=1, d_model=16, num_heads=2, dff=32)
        >>> import numpy as np
        >>> inputs = {"encoder_token_ids": np.array([[5, 6, 7]]),
        ...           "decoder_token_ids": np.array([[1, 8]])}
        >>> tuple(model(inputs).shape)
        (1, 2, 40)

    References:
        - Vaswani et al., 2017, https://arxiv.org/abs/1706.03762.
        - Press and Wolf, 2017, "Using the Output Embedding to Improve Language
          Models", https://arxiv.org/abs/1608.05859 (tied embeddings).
    """

    generation_prompt_key = "decoder_token_ids"

    def check_hyperparameters(self, hp):
        check_divisible("Transformer", "d_model", hp["d_model"], hp["num_heads"])
        check_token_id(
            "Transformer",
            hp["vocabulary_size"],
            start_token_id=hp["start_token_id"],
            end_token_id=hp["end_token_id"],
        )

    def __init__(
        self,
        vocabulary_size,
        max_sequence_length,
        num_layers,
        d_model,
        num_heads,
        dff,
        dropout=0.1,
        normalize_first=False,
        tie_embeddings=True,
        start_token_id=1,
        end_token_id=2,
        layer_norm_epsilon=1e-6,
        **kwargs,
    ):
        dtype = kwargs.pop("dtype", None)
        block_args = dict(
            d_model=d_model,
            num_heads=num_heads,
            dff=dff,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            normalize_first=normalize_first,
            dtype=dtype,
        )
        # === Layers ===
        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size,
            d_model,
            tie_weights=tie_embeddings,
            embeddings_initializer=keras.initializers.RandomNormal(
                stddev=d_model**-0.5
            ),
            dtype=dtype,
            name="token_embedding",
        )
        self.positional_encoding = PositionalEncoding(
            max_sequence_length, d_model, dtype=dtype, name="positional_encoding"
        )
        self.encoder_embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="encoder_embeddings_dropout"
        )
        self.decoder_embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="decoder_embeddings_dropout"
        )
        self.encoder_layers, self.decoder_layers = encoder_decoder_blocks(
            num_layers, **block_args
        )
        self.encoder_layer_norm = self.decoder_layer_norm = None
        if normalize_first:
            self.encoder_layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="encoder_layer_norm"
            )
            self.decoder_layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="decoder_layer_norm"
            )
        self._embedding_scale = math.sqrt(d_model)

        # === Functional model ===
        inputs = id_inputs("encoder_token_ids", "decoder_token_ids")
        encoder_token_ids, decoder_token_ids = inputs.values()
        encoder_output, encoder_padding_mask = self.encode(encoder_token_ids)
        y = self.embed_decoder(decoder_token_ids)
        decoder_padding_mask = ops.not_equal(decoder_token_ids, 0)
        y = self.decoder_stack.run(
            y,
            encoder_output,
            decoder_padding_mask=decoder_padding_mask,
            encoder_padding_mask=encoder_padding_mask,
        )
        logits = self.decoder_logits(y)
        super().__init__(
            inputs=inputs,
            outputs=logits,
            dtype=dtype,
            **kwargs,
        )

    def _embed(self, token_ids, dropout, start_index=0):
        """Dropout(sqrt(d_model) E[ids] + PE[start_index ...])."""
        x = self.token_embedding(token_ids) * self._embedding_scale
        x = self.positional_encoding(x, start_index=start_index)
        return dropout(x)

    # === Encoder and decoder (zoo.decoder_stack.TransformerGenerationMixin) ===

    def encode(self, encoder_token_ids):
        """`(encoder_output (B, S, d_model), encoder_padding_mask (B, S))`."""
        encoder_padding_mask = ops.not_equal(encoder_token_ids, 0)
        x = self._embed(encoder_token_ids, self.encoder_embeddings_dropout)
        for block in self.encoder_layers:
            x = block(x, padding_mask=encoder_padding_mask)
        if self.encoder_layer_norm is not None:
            x = self.encoder_layer_norm(x)
        return x, encoder_padding_mask

    def embed_decoder(self, token_ids, index=0):
        return self._embed(token_ids, self.decoder_embeddings_dropout, index)

    def decoder_logits(self, y):
        if self.decoder_layer_norm is not None:
            y = self.decoder_layer_norm(y)
        return self.token_embedding(y, reverse=True)


def build_model(**hparams):
    """Builds a `Transformer` from plain hyperparameters (a preset's)."""
    return Transformer(**hparams)


__all__ = ["FACTS", "PRESETS", "Transformer", "build_model"]
