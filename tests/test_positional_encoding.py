"""PositionalEncoding: layer checks, the paper's formula, start_index."""

import math

import numpy as np
import pytest
import tensorflow as tf
from _attention_helpers import run_doctests

from keras_seq.layers import PositionalEncoding
from keras_seq.layers import positional_encoding as module
from keras_seq.testing import run_layer_test


def _paper_formula(max_length, d_model):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    pe = np.zeros((max_length, d_model))
    for pos in range(max_length):
        for j in range(d_model):
            two_i = j - j % 2
            angle = pos / 10000 ** (two_i / d_model)
            pe[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


def test_layer_properties(rng):
    x = rng.normal(size=(2, 5, 6)).astype("float32")
    run_layer_test(
        PositionalEncoding,
        {"max_length": 8, "d_model": 6},
        x,
        expected_output_shape=(2, 5, 6),
        atol=1e-5,
    )


@pytest.mark.parametrize("d_model", [6, 7])
def test_matches_the_formula(rng, d_model):
    x = rng.normal(size=(2, 20, d_model)).astype("float32")
    layer = PositionalEncoding(max_length=50, d_model=d_model)
    want = x + _paper_formula(50, d_model)[:20]
    np.testing.assert_allclose(np.asarray(layer(x)), want, atol=1e-5)


def test_start_index_static_and_tensor(rng):
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    layer = PositionalEncoding(max_length=10, d_model=8)
    want = x + _paper_formula(10, 8)[4:7]
    np.testing.assert_allclose(np.asarray(layer(x, start_index=4)), want, atol=1e-5)
    jitted = tf.function(lambda x, i: layer(x, start_index=i), jit_compile=True)
    np.testing.assert_allclose(np.asarray(jitted(x, tf.constant(4))), want, atol=1e-5)


def test_bad_input():
    layer = PositionalEncoding(max_length=4, d_model=8, name="pe")
    with pytest.raises(ValueError, match=r"'pe'.*last dimension 8.*\(2, 3, 6\)"):
        layer(np.zeros((2, 3, 6), "float32"))
    with pytest.raises(ValueError, match=r"'pe'.*positions \[2, 5\).*max_length=4"):
        layer(np.zeros((2, 3, 8), "float32"), start_index=2)


def test_docstring_example():
    run_doctests(module)
