"""T5: a text-to-text encoder-decoder with relative position bias and RMS norm.

Model card
----------
What it is: the Transformer encoder-decoder of Raffel et al. (2020), version
1.0 (the published "small", "base" and "large" models) by default; version 1.1
/ Flan-T5 with `activation="gelu_approximate"`, `use_gated_activation=True`
and `tie_embeddings=False` (what `zoo.from_preset` builds for such
checkpoints). Differences from the original
Transformer (`zoo.transformer`):

- No position embeddings: every self-attention adds a learned, bucketed
  relative position bias `b[h, bucket(j - i)]` to its logits
  (`keras_seq.layers.RelativePositionBias`; one table per stack, shared by its
  layers; bidirectional in the encoder, causal buckets in the decoder).
- Pre-norm residual blocks with RMS normalization and no biases anywhere
  (`keras_seq.layers.RMSNormalization`, epsilon 1e-6):
  `x = x + Dropout(Sublayer(RMSNorm(x)))`, with a final RMSNorm per stack.
- ReLU feed-forward without biases; dropout after the ReLU and on every
  residual branch, on the embeddings and on the attention weights.
- One token embedding shared by encoder, decoder and output layer:
  `logits = (y * d_model^-1/2) E^T`.
- Attention logits are `q.k` without the `1/sqrt(d_head)` of Vaswani et al.
  Our `MultiHeadAttention` divides by `sqrt(d_head)`; the two are the same
  model up to a reparametrization of `W^Q` (T5's `W^Q` is ours times
  `1/sqrt(d_head)`; `tests/test_zoo_t5.py` copies keras-hub's T5 weights this
  way and gets the same outputs). The query initializer is scaled to match.

Inputs: `{"encoder_token_ids": (B, S) int32, "decoder_token_ids": (B, T)
int32}`, pad id 0 in both (padded keys are masked). For training the decoder
input is the target shifted right behind `start_token_id` (teacher forcing).
Output: next-token logits `(B, T, V)`, float32 also under `mixed_float16`.

Generation: `model.generate(inputs, max_length, sampler=...)` (see
`zoo.generation`): the encoder runs once; its keys and values for every
cross-attention are cached, and the decoder self-attention keeps a key/value
cache per layer `(B, 2, max_length, num_heads, head_dim)` (`zoo.decoder_stack`).
Without a decoder prompt, generation starts from `start_token_id`.

Presets: `tiny` (tests), `small` (6+6 layers, 512 wide, 8 heads: 60.5M
parameters), `base` (12+12 layers, 768 wide, 12 heads: 223M), `large`
(24+24, 1024 wide, 16 heads: 738M), `3b` (24+24, 1024 wide, 32 heads of 128:
2.85B) and `11b` (128 heads of 128, d_ff 65536: 11.3B), with T5's
32128-token vocabulary, 32 buckets and maximum distance 128.

Reference: [Raffel et al., 2020](https://arxiv.org/abs/1910.10683),
"Exploring the Limits of Transfer Learning with a Unified Text-to-Text
Transformer", section 2.1 and section 3.1.

Example:
    >>> import numpy as np
    >>> import zoo
    >>> model = zoo.build("t5", "tiny")
    >>> inputs = {
    ...     "encoder_token_ids": np.array([[5, 6, 7, 2, 0]], "int32"),
    ...     "decoder_token_ids": np.array([[1, 9, 4]], "int32"),
    ... }
    >>> tuple(model(inputs).shape)
    (1, 3, 128)
    >>> model.generate({"encoder_token_ids": inputs["encoder_token_ids"]},
    ...                max_length=6, jit_compile=False).shape
    (1, 6)
"""

import keras
from keras import ops

from keras_seq.layers import RelativePositionBias, RMSNormalization
from zoo import activations
from zoo.base import (
    ZooModel,
    check_divisible,
    check_positive_int,
    check_rate,
    check_token_id,
    id_inputs,
)
from zoo.decoder_stack import TransformerGenerationMixin, encoder_decoder_blocks

# Raffel et al., 2020, section 3.7: "Base" is BERT-base's size in the encoder
# and the decoder (12 + 12 layers, 12 heads, d_ff 3072), with the released
# checkpoints' 32128-token SentencePiece vocabulary; "Small" has 6 + 6 layers,
# d_model 512, 8 heads, d_ff 2048.
_BASE = {
    "vocabulary_size": 32128,
    "num_layers": 12,
    "num_heads": 12,
    "d_model": 768,
    "dff": 3072,
    "dropout": 0.1,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "layer_norm_epsilon": 1e-6,
    "start_token_id": 1,
    "end_token_id": 2,
    "depth": None,  # features per head: d_model // num_heads
}
_SMALL = dict(_BASE, num_layers=6, num_heads=8, d_model=512, dff=2048)
PRESETS = {
    # The test size: "small" shrunk, with 8 buckets up to distance 16.
    "tiny": dict(
        _SMALL,
        vocabulary_size=128,
        num_layers=2,
        num_heads=4,
        d_model=32,
        dff=64,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
    ),
    "small": _SMALL,
    "base": _BASE,
}
# Raffel et al., 2020, section 3.7: "Large" has 24 + 24 layers, d_model 1024,
# 16 heads, d_ff 4096 (737.7M parameters; the paper rounds to 770M). "3B" and
# "11B" keep d_model 1024 with 128-wide heads (d_kv), 32 heads and d_ff 16384,
# or 128 heads and d_ff 65536: attention wider than the model.
PRESETS["large"] = dict(
    PRESETS["base"], num_layers=24, num_heads=16, d_model=1024, dff=4096
)
PRESETS["3b"] = dict(PRESETS["large"], num_heads=32, depth=128, dff=16384)
PRESETS["11b"] = dict(PRESETS["large"], num_heads=128, depth=128, dff=65536)

# What the family trains on and how it answers text (zoo.family.Family).
FACTS = dict(
    tasks={"seq2seq": "seq2seq", "language_model": "span_corruption"},
    default_sequence_length=128,
    text_interface="seq2seq",
    # Fine-tuning a pretrained checkpoint (--init_from), not measured here:
    # T5 fine-tunes at a constant rate (Raffel et al., 2020, section 3.1.4:
    # 1e-3 with Adafactor); with Adam, as the train tool trains, Hugging Face's
    # T5 documentation gives 1e-4 to 3e-4.
    fine_tuning_defaults={"learning_rate": 3e-4, "schedule": "constant"},
)


def _normal(stddev):
    return keras.initializers.RandomNormal(stddev=stddev)


def _fan_in_normal():
    """N(0, 1 / fan_in): T5's `d^-1/2` for the projections of the model width
    and `d_ff^-1/2` for the feed-forward output. (T5 initializes `W^Q` with
    `(d * d_head)^-1/2` and leaves the logits unscaled; with our
    `1/sqrt(d_head)` the same start is `d^-1/2`.)"""
    return keras.initializers.VarianceScaling(1.0, "fan_in", "untruncated_normal")


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class T5(TransformerGenerationMixin, ZooModel):
    """T5 encoder-decoder (version 1.0 or 1.1) returning next-token logits.

    See the module docstring (the model card) for the architecture, the inputs,
    the outputs and generation.

    Args:
        vocabulary_size: int, number of token ids (pad id 0 included).
        num_layers: int, number of layers of the encoder and of the decoder.
        num_heads: int, attention heads; must divide `d_model` unless `depth`
            is given.
        d_model: int, model width.
        dff: int, inner width of the feed-forward networks.
        dropout: float, dropout rate everywhere.
        relative_attention_num_buckets: int, buckets of the position bias.
        relative_attention_max_distance: int, distances from this on share the
            last bucket.
        layer_norm_epsilon: float, epsilon of the RMS normalizations.
        start_token_id: int, the decoder's first token (generation starts
            from it).
        end_token_id: int, the end-of-sequence id; pass
            `stop_token_ids=[model.end_token_id]` to `generate` to stop there.
        activation: str, the feed-forward activation: `"relu"` (v1.0),
            `"gelu_approximate"` (v1.1 / Flan-T5's "gated-gelu", the tanh
            approximation) or `"gelu"` (exact).
        use_gated_activation: bool, `act(x W_1) * (x W_gate)` feed-forward
            (v1.1) instead of `act(x W_1)` (v1.0).
        tie_embeddings: bool, `logits = (y d^-1/2) E^T` with the shared token
            embedding `E` (v1.0); `False` gives a separate output matrix and
            no rescaling (v1.1: `logits = y W_out`).
        depth: optional int, features per attention head, T5's `d_kv`
            (default `d_model // num_heads`; 128 in T5 3B and 11B, whose
            `num_heads * depth` is not `d_model`).
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

    generation_prompt_key = "decoder_token_ids"

    # Names before the zoo took the course's vocabulary (keras-hub's).
    renamed_hyperparameters = {"hidden_dim": "d_model", "intermediate_dim": "dff"}

    def check_hyperparameters(self, hyperparameters):
        _check_hparams(hyperparameters)

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        d_model,
        dff,
        dropout=0.1,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        layer_norm_epsilon=1e-6,
        start_token_id=1,
        end_token_id=2,
        activation="relu",
        use_gated_activation=False,
        tie_embeddings=True,
        depth=None,
        **kwargs,
    ):

        # === Layers ===
        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size,
            d_model,
            tie_weights=tie_embeddings,
            reverse_dtype="float32",  # float32 logits under mixed precision
            embeddings_initializer=_normal(1.0),
            name="token_embedding",
        )
        bias_args = {
            "num_heads": num_heads,
            "num_buckets": relative_attention_num_buckets,
            "max_distance": relative_attention_max_distance,
            "embeddings_initializer": _normal((d_model) ** -0.5),
        }
        self.encoder_position_bias = RelativePositionBias(
            bidirectional=True, name="encoder_position_bias", **bias_args
        )
        self.decoder_position_bias = RelativePositionBias(
            bidirectional=False, name="decoder_position_bias", **bias_args
        )
        self.encoder_embedding_dropout = keras.layers.Dropout(
            dropout, name="encoder_embedding_dropout"
        )
        self.decoder_embedding_dropout = keras.layers.Dropout(
            dropout, name="decoder_embedding_dropout"
        )
        # Pre-norm blocks: x = x + Dropout(Sublayer(RMSNorm(x))), no biases;
        # the feed-forward net drops units after its activation too.
        block_args = dict(
            d_model=d_model,
            num_heads=num_heads,
            dff=dff,
            dropout=dropout,
            activation=activations.get("T5", activation, ACTIVATIONS),
            layer_norm_epsilon=layer_norm_epsilon,
            normalize_first=True,
            kernel_initializer=_fan_in_normal(),
            normalization="rms_norm",
            use_bias=False,
            use_gated_activation=use_gated_activation,
            activation_dropout=dropout,
            depth=depth,
        )
        self.encoder_layers, self.decoder_layers = encoder_decoder_blocks(
            num_layers, **block_args
        )
        self.encoder_output_layer_norm = RMSNormalization(
            epsilon=layer_norm_epsilon, name="encoder_output_layer_norm"
        )
        self.encoder_output_dropout = keras.layers.Dropout(
            dropout, name="encoder_output_dropout"
        )
        self.decoder_output_layer_norm = RMSNormalization(
            epsilon=layer_norm_epsilon, name="decoder_output_layer_norm"
        )
        self.decoder_output_dropout = keras.layers.Dropout(
            dropout, name="decoder_output_dropout"
        )

        # === Functional model ===
        inputs = id_inputs("encoder_token_ids", "decoder_token_ids")
        encoder_token_ids, decoder_token_ids = inputs.values()
        encoder_output, encoder_mask = self.encode(encoder_token_ids)
        # Decoder: causal self-attention (the causal mask is the block's)
        # over non-pad keys, cross-attention over non-pad encoder positions.
        x = self.embed_decoder(decoder_token_ids)
        position_bias = self.decoder_position_bias(x)
        decoder_mask = _padding_mask(decoder_token_ids, first_is_real=True)
        x = self.decoder_stack.run(
            x,
            encoder_output,
            decoder_padding_mask=decoder_mask,
            encoder_padding_mask=encoder_mask,
            self_attention_bias=position_bias,
        )
        logits = self.decoder_logits(x)
        super().__init__(
            inputs=inputs,
            outputs=logits,
            **kwargs,
        )

    # === Encoder and decoder (zoo.decoder_stack.TransformerGenerationMixin) ===

    def encode(self, encoder_token_ids):
        """`(encoder_output (B, S, d_model), encoder_padding_mask (B, S))`."""
        encoder_mask = _padding_mask(encoder_token_ids)
        x = self.encoder_embedding_dropout(self.token_embedding(encoder_token_ids))
        position_bias = self.encoder_position_bias(x)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=encoder_mask, attention_bias=position_bias)
        x = self.encoder_output_dropout(self.encoder_output_layer_norm(x))
        return x, encoder_mask

    def embed_decoder(self, token_ids, index=0):
        return self.decoder_embedding_dropout(self.token_embedding(token_ids))

    def decoder_attention_bias(self, x, cache, index):
        """Bias rows for the absolute positions of the new tokens; the keys are
        the cache's positions."""
        return self.decoder_position_bias(
            x, cache["self_attention"][0][:, 0], query_start_index=index
        )

    def decoder_logits(self, x):
        """logits = (RMSNorm(x) * d^-1/2) E^T (tied), or RMSNorm(x) W_out."""
        x = self.decoder_output_dropout(self.decoder_output_layer_norm(x))
        if self.token_embedding.tie_weights:
            x = x * ops.cast(self.token_embedding.output_dim**-0.5, x.dtype)
        return self.token_embedding(x, reverse=True)


# T5's feed-forward activations (`zoo.activations`).
ACTIVATIONS = ("relu", "gelu", "gelu_approximate")


def _padding_mask(token_ids, first_is_real=False):
    """Key padding mask: `(B, L)`, true at non-pad.

    `first_is_real`: position 0 is a real token even if it is the pad id (the
    decoder's start token in T5 checkpoints).
    """
    mask = ops.not_equal(token_ids, 0)
    if first_is_real:
        first = ops.equal(ops.cumsum(ops.ones_like(token_ids), axis=1), 1)
        mask = ops.logical_or(mask, first)
    return mask


def _check_hparams(hparams):
    positive = (
        "vocabulary_size",
        "num_layers",
        "num_heads",
        "d_model",
        "dff",
        "relative_attention_num_buckets",
        "relative_attention_max_distance",
    )
    check_positive_int("T5", **{key: hparams[key] for key in positive})
    if hparams["depth"] is None:
        check_divisible("T5", "d_model", hparams["d_model"], hparams["num_heads"])
    else:
        check_positive_int("T5", depth=hparams["depth"])
    check_rate("T5", dropout=hparams["dropout"])
    # The end id must not be the pad id 0; the start id may (T5 checkpoints
    # start decoding from the pad id: the decoder's first position is always
    # a real token).
    vocabulary_size = hparams["vocabulary_size"]
    check_token_id(
        "T5", vocabulary_size, low=0, start_token_id=hparams["start_token_id"]
    )
    check_token_id("T5", vocabulary_size, end_token_id=hparams["end_token_id"])


def build_model(**hparams):
    """Builds a `T5` from plain hyperparameters (see `PRESETS`)."""
    return T5(**hparams)
