"""FeedForward: layer checks, the formula, bad input."""

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


def test_wrong_last_dimension(rng):
    layer = FeedForward(4, 8, name="ffn")
    layer(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"'ffn'.*value 4.*\(2, 3, 5\)"):
        layer(np.zeros((2, 3, 5), "float32"))


def test_docstring_example():
    run_doctests(module)
