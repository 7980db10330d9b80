"""GPT: a decoder-only Transformer language model (GPT and GPT-2).

Model card:
    What: a causal language model. Token embeddings plus learned position
        embeddings go through `num_layers` `TransformerDecoderBlock`s without
        cross-attention (causal self-attention and a GELU feed-forward net);
        the next-token logits are the final states times the transposed token
        embedding (tied input/output embeddings, `tie_embeddings=True`).
        `normalize_first=False` is the original GPT (post-LN, no final
        LayerNorm); `True` is GPT-2 (pre-LN and a final LayerNorm).
    Inputs: `{"token_ids": (B, T) int32}`, pad id `pad_token_id` (0 by
        default; the padding mask is `token_ids != pad_token_id`; `None` for
        GPT-2 checkpoints, whose id 0 is a real token).
    Outputs: next-token logits `(B, T, vocabulary_size)`: position `t`
        predicts token `t + 1`.
    Generation: `model.generate({"token_ids": prompts}, max_length, ...)` (see
        `zoo.generation`), with a key/value cache per layer.
    Presets: `tiny` (for tests), `gpt` (117M parameters: vocabulary 40478, 512
        positions, 12 layers of width 768), `gpt2` (124M: vocabulary 50257,
        1024 positions), `gpt2_medium` / `gpt2_large` / `gpt2_xl` (355M, 774M,
        1.56B) and the GPT-3 sizes of Brown et al. 2020, table 2.1,
        `gpt3_small` ... `gpt3_175b` (2048 positions). `zoo.count_params`
        sizes them without allocating anything; building one whose weights do
        not fit in memory fails at once with the size needed.
    Papers:
        - Radford et al., 2018, "Improving Language Understanding by Generative
          Pre-Training" (GPT).
        - Radford et al., 2019, "Language Models are Unsupervised Multitask
          Learners" (GPT-2).
        - Vaswani et al., 2017, "Attention Is All You Need",
          https://arxiv.org/abs/1706.03762.

Example:
    >>> import zoo
    >>> model = zoo.build("gpt", "tiny")
    >>> prompts = {"token_ids": [[5, 6, 7], [8, 9, 0]]}  # right-padded with 0
    >>> tokens = model.generate(prompts, max_length=8, sampler="top_k", seed=1,
    ...                         jit_compile=False)  # default: compile with XLA
    >>> tokens.shape
    (2, 8)
    >>> tokens[:, :2].tolist()  # the prompts are kept
    [[5, 6], [8, 9]]
"""

import keras
from keras import ops

from keras_seq.layers import PositionEmbedding, TransformerDecoderBlock
from zoo.activations import gelu_approximate
from zoo.base import ZooModel, check_divisible, id_inputs
from zoo.decoder_stack import TransformerGenerationMixin

# Radford et al., 2018: 12 layers, 768 wide, 12 heads, 3072 inner, 40478 BPE
# tokens, 512 positions, post-LN: 116.5M parameters.
_GPT = dict(
    vocabulary_size=40478,
    max_sequence_length=512,
    num_layers=12,
    d_model=768,
    num_heads=12,
    dff=3072,
    dropout=0.1,
    normalize_first=False,
    tie_embeddings=True,
)
PRESETS = {
    # The test size: pre-LN (GPT-2's layout), without dropout.
    "tiny": dict(
        _GPT,
        vocabulary_size=64,
        max_sequence_length=32,
        num_layers=2,
        d_model=32,
        num_heads=4,
        dff=64,
        dropout=0.0,
        normalize_first=True,
    ),
    "gpt": _GPT,
}

# What the family trains on and how it answers text (zoo.family.Family).
FACTS = dict(
    tasks={"language_model": "causal_lm", "tagging": "tagging"},
    default_sequence_length=128,
    text_interface="language_model",
)


def _gpt2(num_layers, d_model, num_heads, max_sequence_length=1024):
    """GPT-2's layout (pre-LN, tied, 50257 tokens) at another size."""
    return dict(
        _GPT,
        vocabulary_size=50257,
        max_sequence_length=max_sequence_length,
        num_layers=num_layers,
        d_model=d_model,
        num_heads=num_heads,
        dff=4 * d_model,
        normalize_first=True,
    )


# Radford et al., 2019, table 2 (the published checkpoints' sizes: 124M, 355M,
# 774M, 1558M; the paper rounds them to 117M, 345M, 762M, 1542M). "gpt2" is
# the small one, GPT's size in GPT-2's layout (pre-LN, final LayerNorm).
PRESETS["gpt2"] = _gpt2(12, 768, 12)
PRESETS["gpt2_medium"] = _gpt2(24, 1024, 16)
PRESETS["gpt2_large"] = _gpt2(36, 1280, 20)
PRESETS["gpt2_xl"] = _gpt2(48, 1600, 25)
# Brown et al., 2020, table 2.1: GPT-3 is GPT-2's layout with a 2048-token
# context (its alternating sparse attention has no parameters). Two rows do
# not divide d_model by n_heads: XL (2048 wide, 24 heads of 128) is built with
# 16 heads of 128, and 13B's width is 5120 (the table's 5140 is a typo: 40
# heads of 128). Head counts do not change the parameter count.
PRESETS["gpt3_small"] = _gpt2(12, 768, 12, 2048)
PRESETS["gpt3_medium"] = _gpt2(24, 1024, 16, 2048)
PRESETS["gpt3_large"] = _gpt2(24, 1536, 16, 2048)
PRESETS["gpt3_xl"] = _gpt2(24, 2048, 16, 2048)
PRESETS["gpt3_2.7b"] = _gpt2(32, 2560, 32, 2048)
PRESETS["gpt3_6.7b"] = _gpt2(32, 4096, 32, 2048)
PRESETS["gpt3_13b"] = _gpt2(40, 5120, 40, 2048)
PRESETS["gpt3_175b"] = _gpt2(96, 12288, 96, 2048)

# The published training settings, not measured here (these models do not
# train on 2 CPU cores). Peak learning rate with warm-up and cosine decay:
# GPT-1 2.5e-4 (Radford et al., 2018, section 4.1); GPT-3 by size (Brown et
# al., 2020, table 2.1); GPT-2's paper gives none, so its sizes take GPT-3's
# value for the nearest size (124M: 6e-4, 355M: 3e-4, 774M: 2.5e-4, 1.5B:
# 2e-4). Weight decay (AdamW, biases and norms spared): 0.01 for GPT-1 (kept
# for GPT-2), 0.1 for GPT-3 (Appendix B). `tiny` keeps the tool's 3e-3
# constant: measured on 35 KB of text at 600 steps, 3e-3 beats 1e-3 and 6e-4
# (docs/training_on_your_own_data.md).
PEAK_LEARNING_RATES = {
    "gpt": 2.5e-4,
    "gpt2": 6e-4,
    "gpt2_medium": 3e-4,
    "gpt2_large": 2.5e-4,
    "gpt2_xl": 2e-4,
    "gpt3_small": 6e-4,
    "gpt3_medium": 3e-4,
    "gpt3_large": 2.5e-4,
    "gpt3_xl": 2e-4,
    "gpt3_2.7b": 1.6e-4,
    "gpt3_6.7b": 1.2e-4,
    "gpt3_13b": 1e-4,
    "gpt3_175b": 6e-5,
}
FACTS["training_defaults"] = {
    preset: {
        "learning_rate": learning_rate,
        "schedule": "cosine",
        "weight_decay": 0.1 if preset.startswith("gpt3") else 0.01,
    }
    for preset, learning_rate in PEAK_LEARNING_RATES.items()
}
# Fine-tuning a pretrained checkpoint (--init_from), as GPT-1 fine-tunes
# (Radford et al., 2018, section 4.1): learning rate 6.25e-5 with warm-up and
# decay, batch 32, weight decay 0.01.
FACTS["fine_tuning_defaults"] = {
    "learning_rate": 6.25e-5,
    "batch_size": 32,
    "schedule": "cosine",
    "weight_decay": 0.01,
}


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class GPT(TransformerGenerationMixin, ZooModel):
    """A GPT / GPT-2 causal language model (see the module's model card).

        h_0 = E[x] + P[0 : T]
        h_l = TransformerDecoderBlock_l(h_{l-1})        l = 1 ... num_layers
        logits = LN(h_L) E^T      (no LN if normalize_first=False)

    Args:
        vocabulary_size: int, `V`, number of token ids (0 is the pad id).
        max_sequence_length: int, the number of learned positions.
        num_layers: int, number of decoder blocks.
        d_model: int, model width.
        num_heads: int, attention heads; must divide `d_model`.
        dff: int, inner width of the feed-forward nets.
        dropout: float, dropout on the embeddings, attention weights and
            sublayer outputs.
        normalize_first: bool, pre-LN blocks and a final LayerNorm (GPT-2)
            instead of post-LN blocks (GPT).
        tie_embeddings: bool, the output projection is `E^T`; otherwise a
            separate `(d_model, V)` matrix.
        layer_norm_epsilon: float, epsilon of all LayerNormalizations.
        pad_token_id: int or None, the id whose keys attention ignores and
            that `generate` pads prompts with (0 by default). `None`: every id
            is a real token (GPT-2 checkpoints, whose id 0 is "!"); causal
            attention already keeps right padding out of the real positions.
        **kwargs: `name`, `dtype`, `trainable`.

    Example:
        >>> model = GPT(vocabulary_size=50, max_sequence_length=16, num_layers=1,
        ...             d_model=16, num_heads=2, dff=32)
        >>> import numpy as np
        >>> tuple(model({"token_ids": np.array([[3, 4, 5, 0]])}).shape)
        (1, 4, 50)

    References:
        - Radford et al., 2018 (GPT) and 2019 (GPT-2).
        - keras-hub's `GPT2Backbone` / `GPT2CausalLM`, whose layout this
          follows (a test copies weights between the two).
    """

    generation_prompt_key = "token_ids"

    def check_hyperparameters(self, hp):
        check_divisible("GPT", "d_model", hp["d_model"], hp["num_heads"])

    def __init__(
        self,
        vocabulary_size,
        max_sequence_length,
        num_layers,
        d_model,
        num_heads,
        dff,
        dropout=0.1,
        normalize_first=True,
        tie_embeddings=True,
        layer_norm_epsilon=1e-5,
        pad_token_id=0,
        **kwargs,
    ):
        dtype = kwargs.pop("dtype", None)
        init = keras.initializers.RandomNormal(stddev=0.02)
        # === Layers ===
        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size,
            d_model,
            tie_weights=tie_embeddings,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.02),
            dtype=dtype,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            max_sequence_length,
            initializer=init,
            dtype=dtype,
            name="position_embedding",
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerDecoderBlock(
                d_model,
                num_heads,
                dff,
                dropout=dropout,
                activation=gelu_approximate,
                layer_norm_epsilon=layer_norm_epsilon,
                normalize_first=normalize_first,
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.layer_norm = None
        if normalize_first:
            self.layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype=dtype, name="layer_norm"
            )

        # === Functional model ===
        inputs = id_inputs("token_ids")
        token_ids = inputs["token_ids"]
        padding_mask = None
        if pad_token_id is not None:
            padding_mask = ops.not_equal(token_ids, pad_token_id)
        x = self.embed_decoder(token_ids)
        x = self.decoder_stack.run(x, decoder_padding_mask=padding_mask)
        logits = self.decoder_logits(x)
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)

    # === Generation (zoo.decoder_stack.TransformerGenerationMixin) ===

    @property
    def decoder_layers(self):
        return self.transformer_layers

    def embed_decoder(self, token_ids, index=0):
        """Dropout(E[ids] + P[index ...])."""
        x = self.token_embedding(token_ids)
        return self.embeddings_dropout(self.position_embedding(x, start_index=index))

    def decoder_logits(self, x):
        """LN(h_L) E^T (no LN with normalize_first=False)."""
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return self.token_embedding(x, reverse=True)


def build_model(**hparams):
    """Builds a `GPT` from plain hyperparameters (a preset's)."""
    return GPT(**hparams)


__all__ = ["GPT", "FACTS", "PRESETS", "build_model", "gelu_approximate"]
