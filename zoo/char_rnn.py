"""Char-RNN: a character/byte-level recurrent language model.

Model card
----------
What it is: the character-level language model of Karpathy's char-rnn (and of
Graves, 2013): each token id is embedded, goes through `num_layers` stacked
recurrent layers (`cell = "rnn" | "lstm" | "gru"`, the keras_seq `SimpleRNN`,
`LSTM` and `GRU`), with dropout between layers, and a Dense layer gives the
next-token logits at every position:

    x_t      = E[w_t]                                  token embedding
    h^l_t    = RNN^l(h^(l-1)_t, h^l_(t-1))             l = 1 .. num_layers
    logits_t = W_o dropout(h^L_t) + b_o                predicts w_(t+1)

Inputs: `{"token_ids": (B, T) int32}`; pad id 0 (a padding mask
`token_ids != 0` is carried by the logits, so Keras losses skip padding).
Output: next-token logits `(B, T, vocabulary_size)`.

Stateful mode (`stateful=True`, with a fixed `batch_size`): the final states of
one batch are the initial states of the next, so a long text cut into
consecutive windows is learned with truncated backpropagation through time
(gradients stop at window boundaries, the state does not). Lay the text out
with `keras_seq.data.truncated_bptt_batches` (also importable from here) and
fit with `shuffle=False`; `reset_state()` zeroes the carried states (e.g. at
the start of each epoch). A stateful model cannot `generate` (its batch size
is fixed and its state would be clobbered): generate with `stateless_copy()`.

Generation (`generate`, from `zoo.generation.GenerationMixin`): the cache is
the recurrent state of every layer, fed one token at a time.

Presets: `tiny` (tests, 64K parameters), `small` (Karpathy's char-rnn sizes:
2 LSTM layers of 128 units, 0.28M parameters, with dropout 0.3 on the
embeddings and between layers; for texts of about 10 KB to 1 MB, on which an
unregularized model overfits within a few hundred steps) and `large` (3 LSTM
layers of 512 units with dropout 0.5, 5.7M parameters, as for the Shakespeare
and Linux samples of "The Unreasonable Effectiveness of Recurrent Neural
Networks"; for 1 MB of text and more), both on 256 byte ids (pad 0 = the NUL
byte; the train tool sets the vocabulary of the data's characters).
`recurrent_dropout` (default 0) drops `h_(t-1)` in each LSTM's recurrent
matmul (Gal & Ghahramani, 2016), one mask per sequence. The train tool's
settings for `small` (the `training_defaults` fact: 1,000 steps of 32 windows
of 50 characters, learning rate 6e-3, constant) were chosen by measurement
(docs/training_on_your_own_data.md).

References:
    - [Karpathy, 2015](https://karpathy.github.io/2015/05/21/rnn-effectiveness/),
      "The Unreasonable Effectiveness of Recurrent Neural Networks", and
      https://github.com/karpathy/char-rnn.
    - [Graves, 2013](https://arxiv.org/abs/1308.0850), "Generating Sequences
      With Recurrent Neural Networks".
    - [Gal & Ghahramani, 2016](https://arxiv.org/abs/1512.05287), "A
      Theoretically Grounded Application of Dropout in Recurrent Neural
      Networks" (recurrent dropout).
    - [Williams & Peng, 1990](https://doi.org/10.1162/neco.1990.2.4.490),
      truncated backpropagation through time.

Example:
    >>> import numpy as np
    >>> import zoo
    >>> model = zoo.build("char_rnn", "tiny", cell="gru")
    >>> tuple(model({"token_ids": np.array([[5, 6, 7, 0]], "int32")}).shape)
    (1, 4, 64)
    >>> model.generate({"token_ids": np.array([[5, 6]], "int32")}, 6).shape
    (1, 6)
"""

import keras
from keras import ops

from keras_seq.data.truncated_bptt import truncated_bptt_batches  # noqa: F401
from zoo.base import (
    RECURRENT_LAYERS,
    ZooModel,
    check_choice,
    check_positive_int,
    check_rate,
)
from zoo.generation import GenerationMixin

PRESETS = {
    "tiny": {
        "vocabulary_size": 64,
        "cell": "lstm",
        "num_layers": 2,
        "embedding_dim": 32,
        "hidden_dim": 64,
        "dropout": 0.0,
        "stateful": False,
        "batch_size": None,
        "recurrent_dropout": 0.0,
    },
    "small": {
        "vocabulary_size": 256,
        "cell": "lstm",
        "num_layers": 2,
        "embedding_dim": 64,
        "hidden_dim": 128,
        "dropout": 0.3,
        "stateful": False,
        "batch_size": None,
        "recurrent_dropout": 0.0,
    },
    "large": {
        "vocabulary_size": 256,
        "cell": "lstm",
        "num_layers": 3,
        "embedding_dim": 128,
        "hidden_dim": 512,
        "dropout": 0.5,
        "stateful": False,
        "batch_size": None,
        "recurrent_dropout": 0.0,
    },
}

# What the family trains on and how it answers text (zoo.family.Family).
FACTS = dict(
    tasks={"language_model": "causal_lm", "tagging": "tagging"},
    default_sequence_length=100,
    text_interface="language_model",
    # The train tool's settings for `small`, measured on a 35 KB English text
    # (docs/training_on_your_own_data.md): more, smaller updates on windows
    # of 50 characters (Karpathy's char-rnn uses batches of 50 x 50) learn
    # faster than 128 x 100; a constant learning rate, so that more --steps
    # only continue the same run (the best model kept never gets worse).
    training_defaults={
        "small": {
            "steps": 1000,
            "batch_size": 32,
            "learning_rate": 6e-3,
            "schedule": "constant",
            "sequence_length": 50,
        },
    },
)


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class CharRNN(GenerationMixin, ZooModel):
    """A stacked recurrent language model over characters or bytes.

    See the module docstring (the model card) for the architecture, the inputs,
    the outputs and stateful training.

    Args:
        vocabulary_size: int, number of token ids (pad id 0 included).
        cell: `"rnn"`, `"lstm"` or `"gru"`.
        num_layers: int, number of stacked recurrent layers.
        embedding_dim: int, size of the token embeddings.
        hidden_dim: int, units of each recurrent layer.
        dropout: float in [0, 1), dropout after the embedding and after each
            recurrent layer.
        stateful: bool, carry the final states of a batch into the next
            (truncated BPTT). Needs `batch_size`.
        batch_size: int, the fixed batch size of a stateful model; `None`
            when `stateful=False`.
        recurrent_dropout: float in [0, 1), dropout on `h_(t-1)` inside each
            recurrent layer (the same mask at every step).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    >>> import numpy as np
    >>> model = CharRNN(vocabulary_size=20, cell="gru", num_layers=1,
    ...                 embedding_dim=8, hidden_dim=16)
    >>> tuple(model({"token_ids": np.ones((2, 7), "int32")}).shape)
    (2, 7, 20)
    """

    generation_prompt_key = "token_ids"

    def check_hyperparameters(self, hyperparameters):
        _check_hparams(hyperparameters)

    def __init__(
        self,
        vocabulary_size,
        cell="lstm",
        num_layers=2,
        embedding_dim=64,
        hidden_dim=128,
        dropout=0.0,
        stateful=False,
        batch_size=None,
        recurrent_dropout=0.0,
        **kwargs,
    ):
        # === Layers ===
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="token_embedding"
        )
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.recurrent_layers = [
            RECURRENT_LAYERS[cell](
                hidden_dim,
                return_sequences=True,
                return_state=True,
                stateful=stateful,
                recurrent_dropout=recurrent_dropout,
                name=f"{cell}_{i}",
            )
            for i in range(num_layers)
        ]
        self.recurrent_dropouts = [
            keras.layers.Dropout(dropout, name=f"{cell}_{i}_dropout")
            for i in range(num_layers)
        ]
        self.logits_dense = keras.layers.Dense(vocabulary_size, name="logits")

        # === Functional model ===
        token_ids = keras.Input(
            shape=(None,),
            batch_size=batch_size if stateful else None,
            dtype="int32",
            name="token_ids",
        )
        # x_t = E[w_t]; the padding mask token_ids != 0 rides along.
        x = self.embedding_dropout(self.token_embedding(token_ids))
        for layer, drop in zip(self.recurrent_layers, self.recurrent_dropouts):
            # h^l_t = RNN^l(h^(l-1)_t, h^l_(t-1)); the states are not needed here.
            x = drop(layer(x)[0])
        logits = self.logits_dense(x)
        super().__init__(inputs={"token_ids": token_ids}, outputs=logits, **kwargs)

    # === Stateful training ===

    def reset_state(self):
        """Zeroes the carried states of a stateful model (no-op otherwise)."""
        for layer in self.recurrent_layers:
            layer.reset_state()

    def stateless_copy(self):
        """A `stateful=False` copy with the same weights (for `generate`)."""
        config = {**self.get_config(), "stateful": False, "batch_size": None}
        config.pop("name")
        copy = type(self).from_config(config)
        pairs = [(self.token_embedding, copy.token_embedding)]
        pairs += list(zip(self.recurrent_layers, copy.recurrent_layers))
        pairs += [(self.logits_dense, copy.logits_dense)]
        for source, target in pairs:
            # A stateful layer also holds its state variables: copy weights only.
            for s, t in zip(source.trainable_weights, target.trainable_weights):
                t.assign(s)
        return copy

    # === Generation contract (zoo.generation) ===

    def generate(self, inputs, max_length, **kwargs):
        if self.stateful:
            raise ValueError(
                f"{type(self).__name__}.generate: a stateful model (batch_size="
                f"{self.batch_size}) cannot generate; use "
                "`model.stateless_copy().generate(...)`."
            )
        return super().generate(inputs, max_length, **kwargs)

    generate.__doc__ = GenerationMixin.generate.__doc__

    def build_cache(self, inputs):
        """The zero state of every layer: a tuple of per-layer state tuples."""
        batch_size = ops.shape(inputs["token_ids"])[0]
        dtype = self.recurrent_layers[0].compute_dtype
        num_states = 2 if self.cell == "lstm" else 1
        return tuple(
            tuple(
                ops.zeros((batch_size, self.hidden_dim), dtype=dtype)
                for _ in range(num_states)
            )
            for _ in self.recurrent_layers
        )

    def call_with_cache(self, token_ids, cache, index):
        """Feeds `token_ids` `(B, n)` from the states in `cache`."""
        x = self.token_embedding(token_ids)
        new_cache = []
        for layer, states in zip(self.recurrent_layers, cache):
            x, *states = layer(x, initial_state=list(states), training=False)
            new_cache.append(tuple(states))
        return self.logits_dense(x), tuple(new_cache)


def _check_hparams(hp):
    name = "CharRNN"
    positive = ("vocabulary_size", "num_layers", "embedding_dim", "hidden_dim")
    check_positive_int(name, **{key: hp[key] for key in positive})
    check_choice(name, cell=(hp["cell"], RECURRENT_LAYERS))
    check_rate(name, dropout=hp["dropout"], recurrent_dropout=hp["recurrent_dropout"])
    batch_size = hp["batch_size"]
    if hp["stateful"]:
        if (
            not isinstance(batch_size, int)
            or isinstance(batch_size, bool)
            or batch_size <= 0
        ):
            raise ValueError(
                f"{name}: stateful=True needs a fixed positive int batch_size, "
                f"got batch_size={batch_size!r}."
            )
    elif batch_size is not None:
        raise ValueError(
            f"{name}: batch_size is only for stateful=True; got "
            f"batch_size={batch_size!r} with stateful=False."
        )


def build_model(**hparams):
    """Builds a `CharRNN` from plain hyperparameters (see `PRESETS`)."""
    return CharRNN(**hparams)
