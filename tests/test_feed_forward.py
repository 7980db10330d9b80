"""FeedForward: layer checks, the formula, bad input."""

import math

import numpy as np
import pytest
from _attention_helpers import run_doctests

from keras_seq.layers import FeedForward
from keras_seq.layers import feed_forward as module
from keras_seq.testing import run_layer_test


def test_layer_properties(rng):
    x = rng.normal(size=(2, 3, 6)).astype("float32")
    run_layer_test(
        FeedForward,
        {"d_model": 4, "dff": 8, "activation": "gelu", "dropout": 0.1},
        x,
        expected_output_shape=(2, 3, 4),
    )


def test_formula(rng):
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    layer = FeedForward(4, 8, dropout=0.5)
    layer.build(x.shape)
    w1, b1, w2, b2 = (rng.normal(size=w.shape) for w in layer.weights)
    layer.set_weights([w1, b1, w2, b2])
    # FFN(x) = max(0, x W_1 + b_1) W_2 + b_2 (dropout off at inference).
    want = np.maximum(0, x @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(np.asarray(layer(x)), want, atol=1e-5)
    assert not np.allclose(np.asarray(layer(x, training=True)), want, atol=1e-3)


def test_gated_formula_without_biases(rng):
    # T5 v1.1: FFN(x) = (gelu(x W_1) * x W_g) W_2, no biases, dropout inside.
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    layer = FeedForward(
        4,
        8,
        activation="gelu",
        use_bias=False,
        use_gated_activation=True,
        activation_dropout=0.5,
    )
    layer.build(x.shape)
    assert [w.path.split("/")[-2] for w in layer.weights] == [
        "intermediate_dense",
        "gate_dense",
        "output_dense",
    ]
    w1, wg, w2 = (rng.normal(size=w.shape) for w in layer.weights)
    layer.set_weights([w1, wg, w2])
    h = x @ w1
    gelu = 0.5 * h * (1 + np.vectorize(math.erf)(h / np.sqrt(2)))
    want = (gelu * (x @ wg)) @ w2
    np.testing.assert_allclose(np.asarray(layer(x)), want, atol=1e-4)
    assert not np.allclose(np.asarray(layer(x, training=True)), want, atol=1e-3)
    assert FeedForward.from_config(layer.get_config()).use_gated_activation


def test_wrong_last_dimension(rng):
    layer = FeedForward(4, 8, name="ffn")
    layer(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"'ffn'.*value 4.*\(2, 3, 5\)"):
        layer(np.zeros((2, 3, 5), "float32"))


def test_docstring_example():
    run_doctests(module)
