"""Seq2seq with attention: an RNN encoder-decoder that attends to the source.

Model card
----------
What it is: the attention encoder-decoder of Bahdanau et al. (2015) and Luong
et al. (2015). The encoder embeds the source ids (pad id 0 masked) and runs
`num_encoder_layers` recurrent layers (keras_seq `GRU` or `LSTM`, in
`keras.layers.Bidirectional` when `bidirectional=True`); its top layer's
outputs `h_1 .. h_S` are the memory the decoder attends to. Each decoder
layer starts from `tanh(W_b [final encoder states])` (an LSTM's cell state
from the linear `W'_b [final encoder cell states]`).

The decoder is `keras.layers.RNN(AttentionDecoderCell(...))`: each step runs
the keras_seq `GRUCell`/`LSTMCell` stack and one attention over the memory,
with `y_(t-1)` the embedded previous target token:

- `attention="bahdanau"` (additive, `e_ts = v^T tanh(W_1 s_(t-1) + W_2 h_s)`):
  the previous top state `s_(t-1)` attends first, and the context joins the
  input: `c_t = attend(s_(t-1))`, `s_t = RNN([y_(t-1); c_t], s_(t-1))`,
  `logits_t = W_o [s_t; c_t; y_(t-1)] + b_o` (the paper's deep output
  `g(y_(t-1), s_t, c_t)`, linear instead of maxout).
- `attention="luong_dot" | "luong_general" | "luong_concat"` (Luong's three
  scores, `h_t^T h_s`, `h_t^T W_a h_s`, `v_a^T tanh(W_a [h_t; h_s])`) with
  input feeding: `h_t = RNN([y_(t-1); h~_(t-1)], h_(t-1))`,
  `c_t = attend(h_t)`, `h~_t = tanh(W_c [c_t; h_t])`,
  `logits_t = W_s h~_t + b_s`.

The scores are those of keras_seq's `BahdanauAttention` and `LuongAttention`,
whose weights the cell holds; the key projection (`W_2 h_s`, `W_a h_s`) is
computed once per source, before the time loop (a test checks the step's
context and weights against the layers' own outputs).

Training uses teacher forcing: `decoder_token_ids` are the targets shifted
right behind `start_token_id`, and the logits at step `t` predict target `t`.
Dropout (`dropout`) applies to the embeddings, between encoder layers and to
the decoder outputs before the readout.

Inputs: `{"encoder_token_ids": (B, S) int32, "decoder_token_ids": (B, T)
int32}`, one shared vocabulary, pad id 0 (padding after the end of a target is
ignored by a loss with `ignore_class=0` or zero sample weights). Output: logits
`(B, T, vocabulary_size)`.

Generation (`generate`, `zoo.generation.GenerationMixin`): greedy, top-k,
top-p and beam search; the encoder runs once, and the cache holds the decoder
states with the memory, fed one token at a time. Without a decoder prompt it
starts from `start_token_id`; pass `stop_token_ids=[end_token_id]`.

Presets: `tiny` (tests and the default training job: date normalization
reaches >= 0.99 exact match in minutes on two CPU cores), `bahdanau`
(RNNsearch: bidirectional GRU encoder of 1000 units per direction, 620-dim
embeddings, a 1000-unit GRU decoder, 1000 attention units, 30k vocabulary) and
`luong` (4-layer LSTMs of 1000 units, 1000-dim embeddings, general score with
input feeding, dropout 0.2, 50k vocabulary).

References:
    - [Bahdanau et al., 2015](https://arxiv.org/abs/1409.0473), "Neural
      Machine Translation by Jointly Learning to Align and Translate".
    - [Luong et al., 2015](https://arxiv.org/abs/1508.04025), "Effective
      Approaches to Attention-based Neural Machine Translation".
    - [Sutskever et al., 2014](https://arxiv.org/abs/1409.3215), "Sequence to
      Sequence Learning with Neural Networks".

Example:
    >>> import numpy as np
    >>> import zoo
    >>> model = zoo.build("seq2seq_attention", "tiny", attention="luong_general")
    >>> inputs = {
    ...     "encoder_token_ids": np.array([[7, 8, 9, 0]], "int32"),
    ...     "decoder_token_ids": np.array([[2, 9, 8]], "int32"),
    ... }
    >>> tuple(model(inputs).shape)
    (1, 3, 64)
    >>> model.generate({"encoder_token_ids": inputs["encoder_token_ids"]},
    ...                max_length=5, stop_token_ids=[3]).shape
    (1, 5)
"""

import keras
from keras import ops

from keras_seq.layers import (
    GRU,
    LSTM,
    BahdanauAttention,
    GRUCell,
    LSTMCell,
    LuongAttention,
)
from zoo.base import (
    ZooModel,
    check_choice,
    check_positive_int,
    check_rate,
    check_token_id,
    id_inputs,
)
from zoo.generation import GenerationMixin

# Bahdanau et al., 2015 (RNNsearch, appendix A): 30000-token vocabularies,
# 620-wide embeddings, a bidirectional GRU encoder and a GRU decoder of 1000
# units, 1000 alignment units.
_BAHDANAU = {
    "vocabulary_size": 30000,
    "start_token_id": 2,
    "end_token_id": 3,
    "cell": "gru",
    "attention": "bahdanau",
    "bidirectional": True,
    "num_encoder_layers": 1,
    "num_decoder_layers": 1,
    "embedding_dim": 620,
    "encoder_dim": 1000,
    "decoder_dim": 1000,
    "attention_units": 1000,
    "dropout": 0.0,
}
PRESETS = {
    # The test size: RNNsearch shrunk.
    "tiny": dict(
        _BAHDANAU,
        vocabulary_size=64,
        embedding_dim=32,
        encoder_dim=64,
        decoder_dim=128,
        attention_units=64,
    ),
    "bahdanau": _BAHDANAU,
    # Luong et al., 2015: 4-layer unidirectional LSTMs of 1000 cells,
    # 1000-wide embeddings, 50000-token vocabularies, dropout 0.2, "general"
    # score.
    "luong": dict(
        _BAHDANAU,
        vocabulary_size=50000,
        cell="lstm",
        attention="luong_general",
        bidirectional=False,
        num_encoder_layers=4,
        num_decoder_layers=4,
        embedding_dim=1000,
        dropout=0.2,
    ),
}

# What the family trains on and how it answers text (zoo.family.Family).
FACTS = dict(
    tasks={"seq2seq": "seq2seq"},
    default_sequence_length=None,
    text_interface="seq2seq",
)

CELLS = {"gru": (GRU, GRUCell), "lstm": (LSTM, LSTMCell)}
ATTENTIONS = ("bahdanau", "luong_dot", "luong_general", "luong_concat")


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class AttentionDecoderCell(keras.layers.Layer):
    """One decoder step with attention, for `keras.layers.RNN`.

    See the module docstring for the equations of each `attention`. The cell
    holds `num_layers` keras_seq `GRUCell`s or `LSTMCell`s (`rnn_cells`) and a
    `BahdanauAttention` or `LuongAttention` (`attention_layer`), plus for
    Luong's attention the Dense `attentional_dense` (`W_c`, tanh).

    The states are, in order: the recurrent states of each layer (`[h]` for a
    GRU, `[h, c]` for an LSTM), Luong's fed-back `h~_(t-1)` (Luong only), then
    three states that pass through unchanged: the memory `(B, S, memory_dim)`,
    its key projection `project_keys(memory)` and the memory padding mask
    `(B, S)` as 0/1 floats. `state_size` lists their last dimensions.

    Args:
        cell: `"gru"` or `"lstm"`.
        units: int, units of each recurrent layer.
        num_layers: int, number of stacked recurrent layers.
        attention: one of `"bahdanau"`, `"luong_dot"`, `"luong_general"`,
            `"luong_concat"`.
        attention_units: int, hidden size of the additive scores
            ("bahdanau", "luong_concat").
        memory_dim: int, last dimension of the memory (encoder outputs).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(B, features)`, the embedded previous token `y_(t-1)`.
        states: the list of states above.

    Returns:
        `(output, new_states)`: the output is `[s_t; c_t]` (Bahdanau) or
        `h~_t` (Luong).

    Example:

    >>> import numpy as np, keras
    >>> cell = AttentionDecoderCell("gru", 8, 1, "bahdanau", 4, memory_dim=6)
    >>> memory = np.random.rand(2, 5, 6).astype("float32")
    >>> cell.build((None, 3))
    >>> states = [np.zeros((2, 8), "float32"), memory,
    ...           cell.project_keys(memory), np.ones((2, 5), "float32")]
    >>> outputs = keras.layers.RNN(cell, return_sequences=True)(
    ...     np.ones((2, 4, 3), "float32"), initial_state=states)
    >>> tuple(outputs.shape)
    (2, 4, 14)
    """

    def __init__(
        self,
        cell,
        units,
        num_layers,
        attention,
        attention_units,
        memory_dim,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.attention = attention
        self.attention_units = attention_units
        self.memory_dim = memory_dim
        self.rnn_cells = [
            CELLS[cell][1](units, dtype=self.dtype_policy, name=f"{cell}_cell_{i}")
            for i in range(num_layers)
        ]
        self.is_luong = attention != "bahdanau"
        if self.is_luong:
            score = attention[len("luong_") :]
            self.attention_layer = LuongAttention(
                units=attention_units if score == "concat" else None,
                score=score,
                dtype=self.dtype_policy,
                name="attention",
            )
            # h~_t = tanh(W_c [c_t; h_t])
            self.attentional_dense = keras.layers.Dense(
                units,
                activation="tanh",
                use_bias=False,
                dtype=self.dtype_policy,
                name="attentional_dense",
            )
        else:
            self.attention_layer = BahdanauAttention(
                attention_units, dtype=self.dtype_policy, name="attention"
            )
        self.states_per_layer = 2 if cell == "lstm" else 1
        recurrent = [units] * (self.states_per_layer * num_layers)
        feed = [units] if self.is_luong else []
        self.state_size = recurrent + feed + [memory_dim, self.key_dim(), 1]
        self.output_size = units if self.is_luong else units + memory_dim

    def key_dim(self):
        """Last dimension of `project_keys(memory)`."""
        if self.attention in ("bahdanau", "luong_concat"):
            return self.attention_units
        if self.attention == "luong_general":
            return self.units
        return self.memory_dim

    def build(self, inputs_shape):
        fed = self.memory_dim if not self.is_luong else self.units
        input_dim = inputs_shape[-1] + fed
        for cell in self.rnn_cells:
            cell.build((None, input_dim))
            input_dim = self.units
        self.attention_layer.build((None, self.units), (None, None, self.memory_dim))
        if self.is_luong:
            self.attentional_dense.build((None, self.memory_dim + self.units))

    def project_keys(self, memory):
        """The query-independent half of the score, once per source.

        `W_2 h_s` (Bahdanau), `W_a h_s` (general), `W_a^s h_s` (concat), or
        the memory itself (dot): `(B, S, key_dim())`.
        """
        layer = self.attention_layer
        if self.attention == "bahdanau":
            return layer.w2(memory)
        if self.attention == "luong_general":
            return layer.w_a(memory)
        if self.attention == "luong_concat":
            return layer.w_a_key(memory)
        return memory

    def attend(self, query, memory, keys, memory_mask):
        """`(c, a)`: context `(B, memory_dim)` and weights `(B, S)` for `query`."""
        layer = self.attention_layer
        if self.attention == "bahdanau":
            # e_s = v^T tanh(W_1 q + W_2 h_s)
            hidden = ops.tanh(keys + ops.expand_dims(layer.w1(query), 1))
            scores = ops.einsum("bsu,u->bs", hidden, layer.v.kernel[:, 0])
        elif self.attention == "luong_concat":
            # e_s = v_a^T tanh(W_a^t h_t + W_a^s h_s)
            hidden = ops.tanh(keys + ops.expand_dims(layer.w_a_query(query), 1))
            scores = ops.einsum("bsu,u->bs", hidden, layer.v_a.kernel[:, 0])
        else:
            # e_s = h_t^T h_s (dot) or h_t^T (W_a h_s) (general)
            scores = ops.einsum("bd,bsd->bs", query, keys)
        # a_s = softmax_s(e_s) over the real source tokens (float32 softmax).
        mask = ops.cast(memory_mask, "bool")
        scores = ops.where(mask, ops.cast(scores, "float32"), -1e9)
        weights = ops.where(mask, ops.softmax(scores, axis=-1), 0.0)
        weights = ops.cast(weights, memory.dtype)
        # c = sum_s a_s h_s
        return ops.einsum("bs,bsd->bd", weights, memory), weights

    def _run_layers(self, x, states):
        """Runs the stacked cells on `x`; returns (top h, new states)."""
        new_states = []
        k = self.states_per_layer
        for i, cell in enumerate(self.rnn_cells):
            x, layer_states = cell(x, list(states[i * k : (i + 1) * k]))
            new_states.extend(layer_states)
        return x, new_states

    def call(self, inputs, states, training=False):
        output, new_states, _ = self.step(inputs, states, training=training)
        return output, new_states

    def step(self, inputs, states, training=False):
        """One step, with its attention: `(output, new_states, weights)`.

        `weights` `(B, S)` are the `a_ts` this step attended with (over the
        source, 0 at padding); `call` is this step without them.
        """
        states = list(states)
        memory, keys, memory_mask = states[-3:]
        num_recurrent = self.states_per_layer * self.num_layers
        recurrent = states[:num_recurrent]
        if self.is_luong:
            h_tilde = states[num_recurrent]
            # h_t = RNN([y_(t-1); h~_(t-1)], h_(t-1))   (input feeding)
            x = ops.concatenate([inputs, h_tilde], axis=-1)
            h, recurrent = self._run_layers(x, recurrent)
            c, a = self.attend(h, memory, keys, memory_mask)
            # h~_t = tanh(W_c [c_t; h_t])
            h_tilde = self.attentional_dense(ops.concatenate([c, h], axis=-1))
            return h_tilde, [*recurrent, h_tilde, memory, keys, memory_mask], a
        # c_t = attend(s_(t-1)), the top layer's previous output.
        s_prev = recurrent[(self.num_layers - 1) * self.states_per_layer]
        c, a = self.attend(s_prev, memory, keys, memory_mask)
        # s_t = RNN([y_(t-1); c_t], s_(t-1))
        s, recurrent = self._run_layers(ops.concatenate([inputs, c], -1), recurrent)
        new_states = [*recurrent, memory, keys, memory_mask]
        return ops.concatenate([s, c], -1), new_states, a

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "cell": self.cell,
                "units": self.units,
                "num_layers": self.num_layers,
                "attention": self.attention,
                "attention_units": self.attention_units,
                "memory_dim": self.memory_dim,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
class Seq2SeqAttention(GenerationMixin, ZooModel):
    """An RNN encoder-decoder with Bahdanau or Luong attention.

    See the module docstring (the model card) for the architecture, the
    inputs, the outputs and generation.

    Args:
        vocabulary_size: int, number of token ids (pad id 0 included), shared
            by source and target.
        start_token_id: int, the first decoder input (the start of every
            target).
        end_token_id: int, the id that ends a target (a stop token for
            `generate`).
        cell: `"gru"` or `"lstm"`, for encoder and decoder.
        attention: `"bahdanau"`, `"luong_dot"`, `"luong_general"` or
            `"luong_concat"`.
        bidirectional: bool, a bidirectional encoder.
        num_encoder_layers: int, stacked encoder layers.
        num_decoder_layers: int, stacked decoder layers.
        embedding_dim: int, size of the source and target embeddings.
        encoder_dim: int, units of each encoder layer (per direction).
        decoder_dim: int, units of each decoder layer. `"luong_dot"` needs it
            equal to the memory width, `encoder_dim * (2 if bidirectional
            else 1)`.
        attention_units: int, hidden size of the additive scores
            ("bahdanau", "luong_concat").
        dropout: float in [0, 1), see the model card.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    >>> import numpy as np
    >>> model = Seq2SeqAttention(vocabulary_size=20, cell="lstm",
    ...                          attention="luong_dot", embedding_dim=8,
    ...                          encoder_dim=8, decoder_dim=16)
    >>> inputs = {"encoder_token_ids": np.ones((2, 6), "int32"),
    ...           "decoder_token_ids": np.ones((2, 4), "int32")}
    >>> tuple(model(inputs).shape)
    (2, 4, 20)
    """

    generation_prompt_key = "decoder_token_ids"

    def check_hyperparameters(self, hyperparameters):
        _check_hparams(hyperparameters)

    def __init__(
        self,
        vocabulary_size,
        start_token_id=2,
        end_token_id=3,
        cell="gru",
        attention="bahdanau",
        bidirectional=True,
        num_encoder_layers=1,
        num_decoder_layers=1,
        embedding_dim=64,
        encoder_dim=128,
        decoder_dim=256,
        attention_units=128,
        dropout=0.0,
        **kwargs,
    ):
        memory_dim = encoder_dim * (2 if bidirectional else 1)
        states_per_layer = 2 if cell == "lstm" else 1

        # === Layers ===
        self.encoder_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="encoder_embedding"
        )
        self.decoder_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, name="decoder_embedding"
        )
        self.embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        self.encoder_layers = []
        self.encoder_dropouts = []
        for i in range(num_encoder_layers):
            layer = CELLS[cell][0](
                encoder_dim,
                return_sequences=True,
                return_state=i == num_encoder_layers - 1,
                name=f"encoder_{cell}_{i}",
            )
            if bidirectional:
                layer = keras.layers.Bidirectional(layer, name=f"encoder_{i}")
            self.encoder_layers.append(layer)
            self.encoder_dropouts.append(
                keras.layers.Dropout(dropout, name=f"encoder_{i}_dropout")
            )
        # One bridge per decoder state: tanh(W_b [final h]) or W'_b [final c].
        self.bridge_dense = [
            keras.layers.Dense(
                decoder_dim,
                activation="tanh" if j == 0 else None,
                name=f"bridge_{i}_{j}",
            )
            for i in range(num_decoder_layers)
            for j in range(states_per_layer)
        ]
        self.decoder_cell = AttentionDecoderCell(
            cell,
            decoder_dim,
            num_decoder_layers,
            attention,
            attention_units,
            memory_dim,
            name="decoder_cell",
        )
        self.decoder_cell.build((None, embedding_dim))
        self.decoder_rnn = keras.layers.RNN(
            self.decoder_cell, return_sequences=True, name="decoder"
        )
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.logits_dense = keras.layers.Dense(vocabulary_size, name="logits")

        # === Functional model ===
        inputs = id_inputs("encoder_token_ids", "decoder_token_ids")
        encoder_token_ids, decoder_token_ids = inputs.values()
        states = self._initial_decoder_states(encoder_token_ids)
        y = self.embedding_dropout(self.decoder_embedding(decoder_token_ids))
        logits = self._readout(self.decoder_rnn(y, initial_state=states), y)
        super().__init__(
            inputs=inputs,
            outputs=logits,
            **kwargs,
        )

    def _initial_decoder_states(self, encoder_token_ids, training=None):
        """Runs the encoder; returns the decoder's initial states (see the cell)."""
        x = self.encoder_embedding(encoder_token_ids)
        x = self.embedding_dropout(x, training=training)
        for layer, drop in zip(self.encoder_layers, self.encoder_dropouts):
            outputs = layer(x, training=training)
            x = drop(outputs[0] if isinstance(outputs, (list, tuple)) else outputs)
        memory = x  # h_1 .. h_S: (B, S, memory_dim)
        finals = list(outputs[1:])  # [h(, c)] per direction
        k = 2 if self.decoder_cell.cell == "lstm" else 1
        # Concatenate the directions' final h (and c): [->h_S; <-h_1].
        finals = [ops.concatenate(finals[j::k], axis=-1) for j in range(k)]
        states = [bridge(finals[j % k]) for j, bridge in enumerate(self.bridge_dense)]
        if self.decoder_cell.is_luong:
            states.append(ops.zeros_like(states[0]))  # h~_0 = 0
        memory_mask = ops.cast(ops.not_equal(encoder_token_ids, 0), memory.dtype)
        keys = self.decoder_cell.project_keys(memory)
        return [*states, memory, keys, memory_mask]

    def _readout(self, decoder_outputs, y):
        """Logits: `W_o [s_t; c_t; y_(t-1)]` (Bahdanau) or `W_s h~_t` (Luong)."""
        if not self.decoder_cell.is_luong:
            decoder_outputs = ops.concatenate([decoder_outputs, y], axis=-1)
        return self.logits_dense(self.output_dropout(decoder_outputs))

    def attention_weights(self, inputs):
        """The decoder's attention weights `a_ts` under teacher forcing.

        Args:
            inputs: the model's inputs, `{"encoder_token_ids": (B, S),
                "decoder_token_ids": (B, T)}`.

        Returns:
            `(B, T, S)`: row `t` is the attention the step predicting target
            token `t` used (0 at source padding), as in Bahdanau et al.
            (2015), fig. 3.
        """
        states = self._initial_decoder_states(
            ops.convert_to_tensor(inputs["encoder_token_ids"]), training=False
        )
        y = self.decoder_embedding(ops.convert_to_tensor(inputs["decoder_token_ids"]))
        weights = []
        for t in range(y.shape[1]):
            _, states, a = self.decoder_cell.step(y[:, t], states)
            weights.append(a)
        return ops.stack(weights, axis=1)

    # === Generation contract (zoo.generation) ===

    def build_cache(self, inputs):
        """Encodes the source once: the decoder's initial states."""
        states = self._initial_decoder_states(
            inputs["encoder_token_ids"], training=False
        )
        dtype = self.decoder_cell.compute_dtype
        return tuple(ops.cast(s, dtype) for s in states)

    def call_with_cache(self, token_ids, cache, index):
        """Feeds `token_ids` `(B, n)` (static `n`) one step at a time."""
        y = self.decoder_embedding(token_ids)
        states = list(cache)
        outputs = []
        for t in range(token_ids.shape[1]):
            output, states = self.decoder_cell(y[:, t], states, training=False)
            outputs.append(output)
        logits = self._readout(ops.stack(outputs, axis=1), y)
        return logits, tuple(states)


def _check_hparams(hp):
    name = "Seq2SeqAttention"
    positive = (
        "vocabulary_size",
        "num_encoder_layers",
        "num_decoder_layers",
        "embedding_dim",
        "encoder_dim",
        "decoder_dim",
        "attention_units",
    )
    check_positive_int(name, **{key: hp[key] for key in positive})
    check_token_id(
        name,
        hp["vocabulary_size"],
        start_token_id=hp["start_token_id"],
        end_token_id=hp["end_token_id"],
    )
    check_choice(
        name, cell=(hp["cell"], CELLS), attention=(hp["attention"], ATTENTIONS)
    )
    memory_dim = hp["encoder_dim"] * (2 if hp["bidirectional"] else 1)
    if hp["attention"] == "luong_dot" and hp["decoder_dim"] != memory_dim:
        raise ValueError(
            f"{name}: attention='luong_dot' scores h_t^T h_s, so decoder_dim "
            f"({hp['decoder_dim']}) must equal the encoder output width "
            f"encoder_dim * {2 if hp['bidirectional'] else 1} = {memory_dim}."
        )
    check_rate(name, dropout=hp["dropout"])


def build_model(**hparams):
    """Builds a `Seq2SeqAttention` from plain hyperparameters (see `PRESETS`)."""
    return Seq2SeqAttention(**hparams)
