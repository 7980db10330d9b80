"""PositionEmbedding: layer checks, the table lookup, start_index."""

import numpy as np
import pytest
from _attention_helpers import run_doctests

from keras_seq.layers import PositionEmbedding
from keras_seq.layers import position_embedding as module
from keras_seq.testing import run_layer_test


def test_layer_properties(rng):
    x = rng.normal(size=(2, 5, 6)).astype("float32")
    run_layer_test(
        PositionEmbedding, {"max_length": 8}, x, expected_output_shape=(2, 5, 6)
    )


def test_adds_the_table_rows_from_start_index(rng):
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    layer = PositionEmbedding(max_length=10)
    layer.build(x.shape)
    table = rng.normal(size=(10, 4)).astype("float32")
    layer.set_weights([table])
    np.testing.assert_allclose(np.asarray(layer(x)), x + table[:3], atol=1e-6)
    got = np.asarray(layer(x, start_index=6))
    np.testing.assert_allclose(got, x + table[6:9], atol=1e-6)


def test_bad_input():
    layer = PositionEmbedding(max_length=4, name="pos")
    with pytest.raises(ValueError, match=r"'pos'.*positions \[0, 5\).*max_length=4"):
        layer(np.zeros((2, 5, 8), "float32"))
    layer(np.zeros((2, 3, 8), "float32"))
    with pytest.raises(ValueError, match=r"'pos'.*value 8.*\(2, 3, 6\)"):
        layer(np.zeros((2, 3, 6), "float32"))


def test_docstring_example():
    run_doctests(module)
