"""Tests of the `rnn_classifier` zoo family (zoo/rnn_classifier.py)."""

import keras
import numpy as np
import pytest
import zoo_checks

import zoo
from zoo.rnn_classifier import RNNClassifier

KERAS_LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def _batch(vocabulary_size):
    """Token ids (the last row partly padding) and a label from the first token."""
    x, _ = zoo_checks.lm_batch(vocabulary_size, batch_size=6, length=9, pad=4)
    return x, (x["token_ids"][:, 0] % 2).astype("int32")


def test_tiny_preset_all_checks():
    x, y = _batch(zoo.preset_config("rnn_classifier", "tiny")["vocabulary_size"])
    model = zoo_checks.check_zoo_model("rnn_classifier", x, y)
    assert tuple(model(x).shape) == (6, 2)


def _reference_pooled(model, ids):
    """The top layer's outputs from Keras's own layers with our weights, pooled
    in numpy by the model card's formulas."""
    hp = model.get_config()
    token_ids = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(
        hp["vocabulary_size"], hp["embedding_dim"], mask_zero=True
    )(token_ids)
    for i in range(hp["num_layers"]):
        sequences = hp["pooling"] != "last" or i < hp["num_layers"] - 1
        layer = KERAS_LAYERS[hp["cell"]](hp["hidden_dim"], return_sequences=sequences)
        h = keras.layers.Bidirectional(layer)(h) if hp["bidirectional"] else layer(h)
    encoder = keras.Model(token_ids, h)
    ours = [model.token_embedding, *model.recurrent_layers]
    encoder.set_weights([w for layer in ours for w in layer.get_weights()])
    h = np.asarray(encoder(ids), dtype="float64")
    if hp["pooling"] == "last":
        return h
    m = (ids != 0)[..., None]
    if hp["pooling"] == "mean":
        return (h * m).sum(1) / m.sum(1)
    if hp["pooling"] == "max":
        return np.where(m, h, -np.inf).max(1)
    attention = model.attention_pooling
    w1, b1 = (np.asarray(w) for w in attention.w1.weights)
    w2, v = np.asarray(attention.w2.kernel), np.asarray(attention.v.kernel)
    # u_t = tanh(W h_t + b) with W = W_2, b = W_1 1 + b_1; e_t = u_w^T u_t
    e = (np.tanh(h @ w2 + (w1.sum(0) + b1)) @ v)[..., 0]
    e = np.where(m[..., 0], e, -np.inf)
    a = np.exp(e - e.max(1, keepdims=True))
    a /= a.sum(1, keepdims=True)
    return (a[..., None] * h).sum(1)


@pytest.mark.parametrize(
    "pooling, cell, bidirectional",
    [
        ("last", "lstm", True),
        ("mean", "gru", True),
        ("max", "lstm", False),
        ("attention", "gru", True),
    ],
)
def test_pooling_matches_reference_and_ignores_padding(pooling, cell, bidirectional):
    model = zoo.build(
        "rnn_classifier",
        "tiny",
        pooling=pooling,
        cell=cell,
        bidirectional=bidirectional,
        num_layers=2,
    )
    x, _ = _batch(model.vocabulary_size)
    ids = x["token_ids"]
    logits = np.asarray(model(x))
    dense = model.logits_dense
    expected = _reference_pooled(model, ids) @ np.asarray(dense.kernel) + np.asarray(
        dense.bias
    )
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    # Padding changes nothing: more pad ids, or the unpadded row alone.
    padded = np.pad(ids, ((0, 0), (0, 5)))
    np.testing.assert_allclose(model({"token_ids": padded}), logits, atol=1e-5)
    last = ids[-1:][:, ids[-1] != 0]
    np.testing.assert_allclose(model({"token_ids": last}), logits[-1:], atol=1e-5)


def test_unidirectional_rnn_cell_trains():
    model = zoo.build("rnn_classifier", "tiny", cell="rnn", bidirectional=False)
    x, y = _batch(model.vocabulary_size)
    zoo_checks.check_fit(model, x, y, steps=15)


def test_bad_hyperparameters():
    hp = zoo.preset_config("rnn_classifier", "tiny")
    cases = [
        ({"pooling": "sum"}, "pooling must be one of"),
        ({"cell": "transformer"}, "cell must be one of"),
        ({"num_classes": 0}, "num_classes must be a positive int"),
        ({"dropout": -0.1}, "dropout must be in"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            RNNClassifier(**{**hp, **overrides})


def test_regression_on_real_valued_features_learns_the_adding_problem():
    """`input_features` > 0 reads (B, T, F) floats; one output is a regression."""
    rng = np.random.default_rng(0)
    n, steps = 256, 12
    values = rng.uniform(size=(n, steps)).astype("float32")
    marks = np.zeros((n, steps), "float32")
    for row in marks:
        row[rng.choice(steps, 2, replace=False)] = 1.0
    features = np.stack([values, marks], axis=-1)
    target = (values * marks).sum(axis=1)
    model = zoo.build("rnn_classifier", "tiny", num_classes=1, input_features=2)
    assert list(model.input) == ["features"]
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    before = model.evaluate({"features": features}, target, verbose=0)
    model.fit({"features": features}, target, epochs=15, batch_size=64, verbose=0)
    after = model.evaluate({"features": features}, target, verbose=0)
    assert model.predict({"features": features[:2]}, verbose=0).shape == (2, 1)
    assert after < 0.5 * before, (before, after)
    with pytest.raises(ValueError, match="input_features must be an int >= 0"):
        zoo.build("rnn_classifier", "tiny", input_features=-1)
