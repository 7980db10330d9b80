"""RNN text classifier: a (bidirectional) LSTM/GRU encoder, pooled, then a Dense.

Model card
----------
What it is: the classic recurrent text classifier. Token ids are embedded
(pad id 0 is masked), go through `num_layers` stacked recurrent layers
(`cell = "lstm" | "gru" | "rnn"`, keras_seq `LSTM`, `GRU`, `SimpleRNN`; each
wrapped in `keras.layers.Bidirectional` when `bidirectional=True`, the forward
and backward outputs concatenated), and the top layer's outputs `h_t` are
pooled into one vector `s`, which a Dense layer maps to class logits:

    "last"       s = h_T (the state after the last real token; bidirectional:
                 [->h_T ; <-h_1], each direction's final state)
    "mean"       s = sum_t m_t h_t / sum_t m_t         (m_t = 1 at real tokens)
    "max"        s = max_{t: m_t = 1} h_t              (elementwise)
    "attention"  u_t = tanh(W h_t + b), a_t = softmax_t(u_w^T u_t),
                 s = sum_t a_t h_t   (Yang et al., 2016; padding gets a_t = 0)

    logits = W_c dropout(s) + b_c

Every pooling respects the padding mask: appending pad ids changes nothing.
The attention pooling is keras_seq's `BahdanauAttention` with a constant query
`q = 1`: its score `v^T tanh(W_1 q + W_2 h_t)` is exactly Yang et al.'s
`u_w^T tanh(W h_t + b)` with `u_w = v`, `W = W_2` and `b = W_1 1 + b_1`.

Inputs: `{"token_ids": (B, T) int32}` (pad id 0). Output: class logits
`(B, num_classes)`. With `input_features=F > 0` the model reads real-valued
sequences instead, `{"features": (B, T, F) float32}` (no embedding, no
padding), and with `num_classes=1` its single output is a regression value, as
for the adding problem of Hochreiter & Schmidhuber (1997).

Presets: `tiny` (tests), `bilstm` (the Keras IMDB example's two 64-unit
bidirectional LSTMs on 128-dim embeddings of a 20k vocabulary) and `attention`
(the word encoder of Yang et al.'s hierarchical attention network: a 50-unit
bidirectional GRU and 100-unit attention on 200-dim embeddings, 5 classes as
for Yelp reviews).

References:
    - [Hochreiter & Schmidhuber, 1997](https://doi.org/10.1162/neco.1997.9.8.1735),
      Long Short-Term Memory.
    - [Schuster & Paliwal, 1997](https://doi.org/10.1109/78.650093),
      Bidirectional Recurrent Neural Networks.
    - [Yang et al., 2016](https://aclanthology.org/N16-1174/), Hierarchical
      Attention Networks for Document Classification.

Example:
    >>> import numpy as np
    >>> import zoo
    >>> model = zoo.build("rnn_classifier", "tiny", pooling="attention")
    >>> tuple(model({"token_ids": np.array([[5, 6, 7, 0]], "int32")}).shape)
    (1, 2)
"""

import keras
from keras import ops

from keras_seq.layers import BahdanauAttention
from zoo.base import (
    RECURRENT_LAYERS,
    ZooModel,
    check_choice,
    check_non_negative_int,
    check_positive_int,
    check_rate,
)

PRESETS = {
    "tiny": {
        "vocabulary_size": 64,
        "num_classes": 2,
        "cell": "lstm",
        "bidirectional": True,
        "num_layers": 1,
        "embedding_dim": 16,
        "hidden_dim": 32,
        "pooling": "last",
        "attention_units": 16,
        "dropout": 0.0,
        "input_features": 0,
    },
    "bilstm": {
        "vocabulary_size": 20000,
        "num_classes": 2,
        "cell": "lstm",
        "bidirectional": True,
        "num_layers": 2,
        "embedding_dim": 128,
        "hidden_dim": 64,
        "pooling": "last",
        "attention_units": 64,
        "dropout": 0.0,
        "input_features": 0,
    },
    "attention": {
        "vocabulary_size": 20000,
        "num_classes": 5,
        "cell": "gru",
        "bidirectional": True,
        "num_layers": 1,
        "embedding_dim": 200,
        "hidden_dim": 50,
        "pooling": "attention",
        "attention_units": 100,
        "dropout": 0.0,
        "input_features": 0,
    },
}

# What the family trains on and how it answers text (zoo.family.Family).
FACTS = dict(
    tasks={"classification": "classification", "regression": "regression"},
    default_sequence_length=256,
    text_interface="classifier",
)

POOLINGS = ("last", "mean", "max", "attention")


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class RNNClassifier(ZooModel):
    """A (bidirectional) recurrent encoder with pooling and a Dense classifier.

    See the module docstring (the model card) for the architecture, the
    poolings, the inputs and the outputs.

    Args:
        vocabulary_size: int, number of token ids (pad id 0 included).
        num_classes: int, number of classes (the logits' size).
        cell: `"lstm"`, `"gru"` or `"rnn"`.
        bidirectional: bool, read the text both ways in every layer.
        num_layers: int, number of stacked recurrent layers.
        embedding_dim: int, size of the token embeddings.
        hidden_dim: int, units of each recurrent layer (per direction).
        pooling: `"last"`, `"mean"`, `"max"` or `"attention"`.
        attention_units: int, size of `u_t` in the attention pooling (unused
            by the other poolings).
        dropout: float in [0, 1), dropout after the embedding, between the
            recurrent layers and before the classifier.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    >>> import numpy as np
    >>> model = RNNClassifier(vocabulary_size=20, num_classes=3, cell="gru",
    ...                       embedding_dim=8, hidden_dim=8, pooling="max")
    >>> tuple(model({"token_ids": np.ones((2, 7), "int32")}).shape)
    (2, 3)
    """

    def check_hyperparameters(self, hyperparameters):
        _check_hparams(hyperparameters)

    def __init__(
        self,
        vocabulary_size,
        num_classes,
        cell="lstm",
        bidirectional=True,
        num_layers=1,
        embedding_dim=128,
        hidden_dim=64,
        pooling="last",
        attention_units=64,
        dropout=0.0,
        input_features=0,
        **kwargs,
    ):
        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="token_embedding"
        )
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.recurrent_layers = []
        self.recurrent_dropouts = []
        for i in range(num_layers):
            # The top layer returns only its final state for "last" pooling.
            sequences = pooling != "last" or i < num_layers - 1
            layer = RECURRENT_LAYERS[cell](
                hidden_dim, return_sequences=sequences, name=f"{cell}_{i}"
            )
            if bidirectional:
                layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{i}")
            self.recurrent_layers.append(layer)
            self.recurrent_dropouts.append(
                keras.layers.Dropout(dropout, name=f"{cell}_{i}_dropout")
            )
        self.attention_pooling = None
        if pooling == "attention":
            self.attention_pooling = BahdanauAttention(
                attention_units, name="attention_pooling"
            )
        self.logits_dense = keras.layers.Dense(num_classes, name="logits")

        # === Functional model ===
        if input_features:
            features = keras.Input(
                shape=(None, input_features), dtype="float32", name="features"
            )
            inputs = {"features": features}
            padding_mask = ops.ones_like(features[..., 0], dtype="bool")
            x = self.embedding_dropout(features)
        else:
            token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
            inputs = {"token_ids": token_ids}
            padding_mask = ops.not_equal(token_ids, 0)
            x = self.embedding_dropout(self.token_embedding(token_ids))
        for layer, drop in zip(self.recurrent_layers, self.recurrent_dropouts):
            x = drop(layer(x))
        pooled = self._pool(pooling, x, padding_mask)
        logits = self.logits_dense(pooled)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

    def _pool(self, pooling, h, padding_mask):
        """s from the top layer's outputs `h` `(B, T, D)` (`(B, D)` for "last")."""
        if pooling == "last":  # the top RNN already returned h_T
            return h
        m = ops.expand_dims(padding_mask, -1)  # m_t: (B, T, 1)
        if pooling == "attention":
            # a_t = softmax_t(v^T tanh(W_1 q + b_1 + W_2 h_t)), s = sum_t a_t h_t
            query = ops.ones_like(ops.sum(ops.cast(m, h.dtype), axis=1))  # q = 1
            s, _ = self.attention_pooling(query, h, mask=padding_mask)
            return s
        if pooling == "mean":
            # s = sum_t m_t h_t / sum_t m_t (an all-pad row gives 0)
            m = ops.cast(m, h.dtype)
            return ops.sum(h * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)
        # "max": s = max over the real steps (an all-pad row gives 0)
        s = ops.max(ops.where(m, h, ops.full_like(h, -1e4)), axis=1)
        return ops.where(ops.any(padding_mask, axis=1, keepdims=True), s, 0.0)


def _check_hparams(hp):
    name = "RNNClassifier"
    positive = (
        "vocabulary_size",
        "num_classes",
        "num_layers",
        "embedding_dim",
        "hidden_dim",
        "attention_units",
    )
    check_positive_int(name, **{key: hp[key] for key in positive})
    check_choice(
        name,
        cell=(hp["cell"], RECURRENT_LAYERS),
        pooling=(hp["pooling"], POOLINGS),
    )
    check_non_negative_int(name, input_features=hp["input_features"])
    check_rate(name, dropout=hp["dropout"])


def build_model(**hparams):
    """Builds an `RNNClassifier` from plain hyperparameters (see `PRESETS`)."""
    return RNNClassifier(**hparams)
