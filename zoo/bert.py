"""BERT: a bidirectional Transformer encoder, pretrained by masked language modeling.

Model card
----------
What it is: the encoder of Devlin et al. (2019). Each token is embedded as the
sum of a token embedding, a learned position embedding and a segment (sentence
A/B) embedding, followed by LayerNorm and dropout, then `num_layers` post-LN
`TransformerEncoderBlock`s (GELU feed-forward, tanh approximation as in the
original BERT code; LayerNorm epsilon 1e-12; weights initialized from a
truncated normal with stddev 0.02). The layout and names follow keras-hub's
`BertBackbone`, so its weights copy across one to one (see
`tests/test_zoo_bert.py`).

Heads (one per model, chosen by the hyperparameter `num_classes`):

- `num_classes=0` (pretraining, the default): the masked-LM head. The encoder
  outputs at `mask_positions` go through Dense(d_model, GELU) and LayerNorm,
  then are projected on the vocabulary with the (tied) token embedding matrix
  plus a learned output bias (`"mlm_output_bias"`), as in keras-hub's
  `BertMaskedLM`.
  Inputs: `{"token_ids": (B, T) int32, "segment_ids": (B, T) int32,
  "mask_positions": (B, P) int32}`. Output: MLM logits `(B, P, V)`.
- `num_classes > 0` (fine-tuning): the sentence classifier. The [CLS] output
  (position 0) goes through the pooler Dense(d_model, tanh), dropout and
  Dense(num_classes), as in keras-hub's `BertTextClassifier`. Inputs:
  `{"token_ids": (B, T), "segment_ids": (B, T)}`. Output: class logits
  `(B, num_classes)`. The encoder layers keep their names, so weights of a
  pretrained masked-LM model load into a classifier by layer name.

Under a `mixed_float16` policy the layers compute in float16 and the logits
are float32 (the output layers run in float32).

Padding: the pad id is 0; attention ignores keys where `token_ids == 0`.
Padded `mask_positions` (fewer than P masked tokens) may point anywhere (e.g.
0); give them zero weight in the loss.

Presets: `tiny` (tests), `base` (12 layers, 768 wide, 12 heads: 110M
parameters) and `large` (24 layers, 1024 wide, 16 heads: 340M), both with the
original 30522-token WordPiece vocabulary and 512 positions.

Reference: [Devlin et al., 2019](https://arxiv.org/abs/1810.04805), "BERT:
Pre-training of Deep Bidirectional Transformers for Language Understanding".

Example:
    >>> import numpy as np
    >>> import zoo
    >>> model = zoo.build("bert", "tiny")
    >>> inputs = {
    ...     "token_ids": np.array([[2, 5, 9, 4, 3, 0]], "int32"),
    ...     "segment_ids": np.zeros((1, 6), "int32"),
    ...     "mask_positions": np.array([[2, 3]], "int32"),
    ... }
    >>> tuple(model(inputs).shape)
    (1, 2, 128)
"""

import keras
from keras import ops

from keras_seq.layers import PositionEmbedding, TransformerEncoderBlock
from zoo import activations
from zoo.base import (
    ZooModel,
    check_divisible,
    check_non_negative_int,
    check_positive_int,
    check_rate,
    id_inputs,
)

PRESETS = {
    "tiny": {
        "vocabulary_size": 128,
        "num_layers": 2,
        "num_heads": 2,
        "d_model": 32,
        "dff": 64,
        "dropout": 0.1,
        "max_sequence_length": 64,
        "num_segments": 2,
        "num_classes": 0,
    },
    "base": {
        "vocabulary_size": 30522,
        "num_layers": 12,
        "num_heads": 12,
        "d_model": 768,
        "dff": 3072,
        "dropout": 0.1,
        "max_sequence_length": 512,
        "num_segments": 2,
        "num_classes": 0,
    },
    "large": {
        "vocabulary_size": 30522,
        "num_layers": 24,
        "num_heads": 16,
        "d_model": 1024,
        "dff": 4096,
        "dropout": 0.1,
        "max_sequence_length": 512,
        "num_segments": 2,
        "num_classes": 0,
    },
}

# What the family trains on and how it answers text (zoo.family.Family).
FACTS = dict(
    tasks={"language_model": "masked_lm", "classification": "cls_sep_classification"},
    default_sequence_length=128,
    text_interface="classifier",
    # The paper's pre-training settings (Devlin et al., 2019, appendix A.2),
    # not measured here: Adam at 1e-4 with warm-up and decay, weight decay
    # 0.01 (AdamW, biases and norms spared, as in Google's code). `tiny`
    # keeps the tool's 3e-3 (measured: docs/training_on_your_own_data.md).
    training_defaults={
        p: {"learning_rate": 1e-4, "schedule": "cosine", "weight_decay": 0.01}
        for p in ("base", "large")
    },
    # Fine-tuning a pretrained checkpoint (--init_from): the paper's
    # (appendix A.3: batch 16 or 32, learning rate 5e-5, 3e-5 or 2e-5) with
    # Google's warm-up over 10% of training and weight decay 0.01.
    fine_tuning_defaults={
        "learning_rate": 5e-5,
        "batch_size": 32,
        "schedule": "cosine",
        "weight_decay": 0.01,
    },
)

LAYER_NORM_EPSILON = 1e-12


# The encoder activations a checkpoint may name (`zoo.activations`).
ACTIVATIONS = ("gelu_approximate", "gelu")


def _initializer():
    """BERT's initializer: a truncated normal with stddev 0.02."""
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class LogitsBias(keras.layers.Layer):
    """Adds a learned bias `b` (one value per vocabulary entry) to logits.

    The output layer of BERT's masked-LM head: `logits = h E^T + b`, where the
    product with the tied token embedding `E` is computed by the embedding
    layer, and `b` lives here.

    Args:
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).
    """

    def build(self, inputs_shape):
        self.bias = self.add_weight(
            name="bias", shape=(inputs_shape[-1],), initializer="zeros"
        )

    def call(self, inputs):
        return inputs + ops.cast(self.bias, inputs.dtype)


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class Bert(ZooModel):
    """BERT with a masked-LM head (`num_classes=0`) or a classifier head.

    See the module docstring (the model card) for the architecture, the inputs
    and the outputs.

    Args:
        vocabulary_size: int, number of token ids (pad id 0 included).
        num_layers: int, number of encoder blocks.
        num_heads: int, attention heads per block.
        d_model: int, model width.
        dff: int, inner width of the feed-forward networks.
        dropout: float, dropout rate everywhere (embeddings, attention weights,
            residual branches, classifier).
        max_sequence_length: int, number of learned positions.
        num_segments: int, number of segment ids.
        num_classes: int, 0 for the masked-LM head, else the number of classes
            of the classifier head.
        activation: str, the encoder's feed-forward activation:
            `"gelu_approximate"` (tanh approximation, the original BERT code
            and keras-hub) or `"gelu"` (exact, Hugging Face's `hidden_act`
            "gelu").
        layer_norm_epsilon: float, epsilon of every LayerNorm.
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

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
        max_sequence_length=512,
        num_segments=2,
        num_classes=0,
        activation="gelu_approximate",
        layer_norm_epsilon=LAYER_NORM_EPSILON,
        **kwargs,
    ):
        activation_fn = activations.get("Bert", activation, ACTIVATIONS)
        # === Layers ===
        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size,
            d_model,
            tie_weights=True,
            reverse_dtype="float32",  # float32 logits under mixed precision
            embeddings_initializer=_initializer(),
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            max_sequence_length,
            initializer=_initializer(),
            name="position_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            num_segments,
            d_model,
            embeddings_initializer=_initializer(),
            name="segment_embedding",
        )
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, name="embeddings_dropout"
        )
        self.transformer_layers = [
            TransformerEncoderBlock(
                d_model,
                num_heads,
                dff,
                dropout=dropout,
                activation=activation_fn,
                layer_norm_epsilon=layer_norm_epsilon,
                kernel_initializer=_initializer(),
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]

        # === Functional model ===
        inputs = id_inputs("token_ids", "segment_ids")
        token_ids, segment_ids = inputs.values()
        padding_mask = ops.not_equal(token_ids, 0)
        # x = LayerNorm(E_token[w] + E_pos[t] + E_seg[s])
        x = self.position_embedding(self.token_embedding(token_ids))
        x = x + self.segment_embedding(segment_ids)
        x = self.embeddings_dropout(self.embeddings_layer_norm(x))
        for block in self.transformer_layers:
            x = block(x, padding_mask=padding_mask)

        if num_classes == 0:
            inputs.update(id_inputs("mask_positions"))
            mask_positions = inputs["mask_positions"]
            self.mlm_intermediate_dense = keras.layers.Dense(
                d_model,
                activation="gelu",
                kernel_initializer=_initializer(),
                name="mlm_intermediate_dense",
            )
            self.mlm_layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, name="mlm_layer_norm"
            )
            # Logits in float32 also under mixed precision (stable softmax).
            self.mlm_output_bias = LogitsBias(dtype="float32", name="mlm_output_bias")
            # h_p = x[b, mask_positions[b, p]]: (B, P, d_model)
            h = ops.take_along_axis(x, ops.expand_dims(mask_positions, -1), axis=1)
            h = self.mlm_layer_norm(self.mlm_intermediate_dense(h))
            # logits = h E^T + b: (B, P, V)
            outputs = self.mlm_output_bias(self.token_embedding(h, reverse=True))
        else:
            self.pooled_dense = keras.layers.Dense(
                d_model,
                activation="tanh",
                kernel_initializer=_initializer(),
                name="pooled_dense",
            )
            self.classifier_dropout = keras.layers.Dropout(
                dropout, name="classifier_dropout"
            )
            self.logits_dense = keras.layers.Dense(
                num_classes,
                kernel_initializer=_initializer(),
                dtype="float32",  # float32 logits also under mixed precision
                name="logits",
            )
            # pooled = tanh(W x_[CLS] + b); logits = W' dropout(pooled) + b'
            pooled = self.pooled_dense(x[:, 0, :])
            outputs = self.logits_dense(self.classifier_dropout(pooled))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)


def _check_hparams(hparams):
    positive = (
        "vocabulary_size",
        "num_layers",
        "num_heads",
        "d_model",
        "dff",
        "max_sequence_length",
        "num_segments",
    )
    check_positive_int("Bert", **{key: hparams[key] for key in positive})
    # num_classes=0: the masked-LM head.
    check_non_negative_int("Bert", num_classes=hparams["num_classes"])
    check_rate("Bert", dropout=hparams["dropout"])
    check_divisible("Bert", "d_model", hparams["d_model"], hparams["num_heads"])


def build_model(**hparams):
    """Builds a `Bert` from plain hyperparameters (see `PRESETS`)."""
    return Bert(**hparams)
