"""Tests of the `char_rnn` zoo family (zoo/char_rnn.py)."""

import keras
import numpy as np
import pytest
import zoo_checks

import zoo
from zoo.char_rnn import CharRNN, truncated_bptt_batches

KERAS_LAYERS = {
    "rnn": keras.layers.SimpleRNN,
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
}


def _tiny(**overrides):
    return zoo.preset_config("char_rnn", "tiny", **overrides)


def test_tiny_preset_all_checks():
    hp = _tiny()
    x, y = zoo_checks.lm_batch(hp["vocabulary_size"])
    zoo_checks.check_zoo_model(
        "char_rnn",
        x,
        y,
        generate_inputs={"token_ids": x["token_ids"][:, :3]},
        max_length=9,
    )


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_other_cells_train_and_generate(cell):
    hp = _tiny(cell=cell, num_layers=1)
    model = zoo.build("char_rnn", "tiny", cell=cell, num_layers=1)
    x, y = zoo_checks.lm_batch(hp["vocabulary_size"])
    zoo_checks.check_fit(model, x, y, steps=15)
    prompt = x["token_ids"][:, :4].copy()
    prompt[1, 2:] = 0  # unequal prompt lengths: fed one token at a time
    cached, uncached = (
        model.generate({"token_ids": prompt}, 9, use_cache=c, jit_compile=False)
        for c in (True, False)
    )
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[1, :2], prompt[1, :2])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_matches_keras_reference_with_copied_weights(cell):
    """Same logits as the same stack built from Keras's own recurrent layers."""
    hp = _tiny(cell=cell)
    model = zoo.build("char_rnn", "tiny", cell=cell)
    token_ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(
        hp["vocabulary_size"], hp["embedding_dim"], mask_zero=True
    )(token_ids)
    for _ in range(hp["num_layers"]):
        x = KERAS_LAYERS[cell](hp["hidden_dim"], return_sequences=True)(x)
    reference = keras.Model(token_ids, keras.layers.Dense(hp["vocabulary_size"])(x))
    reference.set_weights(model.get_weights())
    ids, _ = zoo_checks.lm_batch(hp["vocabulary_size"])
    np.testing.assert_allclose(
        np.asarray(model(ids)), np.asarray(reference(ids["token_ids"])), atol=1e-5
    )


def _stateful_pair(cell="gru", batch_size=2):
    stateful = zoo.build("char_rnn", "tiny", cell=cell, stateful=True, batch_size=2)
    return stateful, stateful.stateless_copy()


def test_stateful_windows_equal_one_long_pass():
    """Truncated BPTT carries the state: windows in turn == the whole sequence."""
    stateful, stateless = _stateful_pair()
    ids = np.random.default_rng(0).integers(1, 64, size=(2, 12)).astype("int32")
    whole = np.asarray(stateless({"token_ids": ids}))
    first = np.asarray(stateful({"token_ids": ids[:, :5]}))
    second = np.asarray(stateful({"token_ids": ids[:, 5:]}))
    np.testing.assert_allclose(np.concatenate([first, second], 1), whole, atol=1e-5)
    # Not resetting carries the state on; reset_state starts over.
    again = np.asarray(stateful({"token_ids": ids[:, :5]}))
    assert not np.allclose(again, whole[:, :5], atol=1e-3)
    stateful.reset_state()
    again = np.asarray(stateful({"token_ids": ids[:, :5]}))
    np.testing.assert_allclose(again, whole[:, :5], atol=1e-5)


def test_stateful_fit_on_truncated_bptt_batches():
    stateful, _ = _stateful_pair(cell="lstm")
    stream = np.tile(np.arange(1, 9), 13)  # a periodic "text"
    x, y = truncated_bptt_batches(stream, batch_size=2, seq_length=6)
    stateful.compile(
        optimizer=keras.optimizers.Adam(3e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = stateful.fit(x, y, batch_size=2, epochs=6, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    copy = stateful.stateless_copy()
    # The copy learned the cycle: greedy continuation of 1 2 3 is 4 5 6 ...
    prompt = {"token_ids": np.array([[1, 2, 3]], "int32")}
    tokens = copy.generate(prompt, 8, jit_compile=False)
    np.testing.assert_array_equal(tokens[0], [1, 2, 3, 4, 5, 6, 7, 8])


def test_truncated_bptt_layout():
    x, y = truncated_bptt_batches(np.arange(1, 22), batch_size=2, seq_length=3)
    ids = x["token_ids"]
    assert ids.shape == (6, 3) and y.shape == (6, 3)
    # Row j of batch k + 1 continues row j of batch k; targets are next tokens.
    np.testing.assert_array_equal(ids[2], ids[0] + 3)
    np.testing.assert_array_equal(ids[3], ids[1] + 3)
    np.testing.assert_array_equal(y, ids + 1)
    with pytest.raises(ValueError, match="too few"):
        truncated_bptt_batches(np.arange(5), batch_size=2, seq_length=3)


def test_stateful_model_refuses_generate():
    stateful, _ = _stateful_pair()
    with pytest.raises(ValueError, match="stateless_copy"):
        stateful.generate({"token_ids": np.ones((2, 2), "int32")}, 5)


def test_bad_hyperparameters():
    cases = [
        ({"cell": "transformer"}, "cell must be one of"),
        ({"num_layers": 0}, "num_layers must be a positive int"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"recurrent_dropout": -0.1}, "recurrent_dropout must be in"),
        ({"stateful": True}, "stateful=True needs a fixed positive int batch_size"),
        ({"batch_size": 4}, "batch_size is only for stateful=True"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            CharRNN(**_tiny(**overrides))


def test_recurrent_dropout_reaches_the_cells_and_round_trips():
    model = CharRNN(**_tiny(recurrent_dropout=0.25))
    assert {layer.cell.recurrent_dropout for layer in model.recurrent_layers} == {0.25}
    again = CharRNN.from_config(model.get_config())
    assert again.recurrent_layers[0].cell.recurrent_dropout == 0.25
    x = {"token_ids": np.arange(1, 9, dtype="int32").reshape(2, 4)}
    # Inference ignores dropout; training draws masks on h_{t-1}.
    np.testing.assert_allclose(model(x), model(x))
    keras.utils.set_random_seed(1)
    assert not np.allclose(model(x, training=True), model(x))
