"""SimpleRNNCell and SimpleRNN: standard layer checks, parity with Keras, bad input."""

import re

import keras
import numpy as np
import pytest
from rnn_parity import (
    PARITY_CASES,
    CellRNN,
    assert_dropout_only_in_training,
    assert_mask_carries_state,
    assert_parity,
    assert_regularizer_losses,
    assert_stateful,
)

from keras_seq.layers import SimpleRNN, SimpleRNNCell
from keras_seq.testing.layer_test import run_layer_test

X = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")


def test_simple_rnn_layer_sequences_and_state():
    run_layer_test(
        SimpleRNN,
        {"units": 3, "return_sequences": True, "return_state": True},
        X,
        expected_output_shape=[(2, 5, 3), (2, 3)],
    )


def test_simple_rnn_layer_dropout_backwards():
    run_layer_test(
        SimpleRNN,
        {
            "units": 3,
            "dropout": 0.2,
            "recurrent_dropout": 0.2,
            "go_backwards": True,
            "use_bias": False,
            "seed": 7,
        },
        X,
        expected_output_shape=(2, 3),
    )


def test_simple_rnn_cell_in_rnn():
    run_layer_test(
        CellRNN,
        {
            "cell_class": "SimpleRNNCell",
            "cell_config": {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.1},
            "return_state": True,
        },
        X,
        expected_output_shape=[(2, 3), (2, 3)],
    )


@pytest.mark.parametrize("path", ["layer", "cell"])
@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_parity_with_keras(path, case):
    assert_parity("simple_rnn", path, case)


def test_regularizer_losses_match_keras():
    assert_regularizer_losses("simple_rnn")


def test_mask_carries_state():
    assert_mask_carries_state("simple_rnn")


def test_stateful_keeps_state():
    assert_stateful("simple_rnn")


@pytest.mark.parametrize("path", ["layer", "cell"])
def test_dropout_only_in_training(path):
    drop = {"dropout": 0.3, "recurrent_dropout": 0.3, "seed": 1}
    if path == "layer":
        layer, reference = SimpleRNN(4, **drop), SimpleRNN(4)
    else:
        layer = keras.layers.RNN(SimpleRNNCell(4, **drop))
        reference = keras.layers.RNN(SimpleRNNCell(4))
    assert_dropout_only_in_training(layer, reference)


@pytest.mark.parametrize("path", ["layer", "cell"])
def test_input_dropout_mask_is_shared_across_steps(path):
    # With W_hh = 0, no bias and a linear activation, h_t = (x_t * m_t) W_xh.
    # The same x at every step gives the same h at every step iff m_t = m.
    args = {"activation": None, "use_bias": False, "dropout": 0.5, "seed": 3}
    args["recurrent_initializer"] = "zeros"
    if path == "layer":
        layer = SimpleRNN(6, return_sequences=True, **args)
    else:
        layer = keras.layers.RNN(SimpleRNNCell(6, **args), return_sequences=True)
    x = np.tile(np.arange(1, 9, dtype="float32"), (3, 4, 1))  # (3, 4, 8)
    h = np.asarray(layer(x, training=True))
    assert not np.allclose(h, np.asarray(layer(x))), "no dropout in training"
    for t in range(1, 4):
        np.testing.assert_allclose(h[:, t], h[:, 0], rtol=1e-6)


@pytest.mark.parametrize("cls", [SimpleRNN, SimpleRNNCell])
def test_bad_units(cls):
    for units in [0, -2, 2.5, True]:
        message = (
            f"{cls.__name__}: `units` must be a positive integer, got units={units}"
        )
        with pytest.raises(ValueError, match=re.escape(message)):
            cls(units)


def test_layer_wrong_rank():
    with pytest.raises(
        ValueError, match=r"SimpleRNN 'simple_rnn\w*' expects .*rank 3.*\(2, 5, 4, 1\)"
    ):
        SimpleRNN(3)(np.ones((2, 5, 4, 1), "float32"))


def test_cell_wrong_rank():
    states = [np.zeros((2, 3), "float32")]
    with pytest.raises(
        ValueError, match=r"SimpleRNNCell '\w+' expects .*rank 2.*\(2,\)"
    ):
        SimpleRNNCell(3)(np.ones((2,), "float32"), states)


def test_layer_feature_size_changed():
    layer = SimpleRNN(3)
    layer(np.ones((2, 5, 4), "float32"))
    with pytest.raises(
        ValueError, match=r"SimpleRNN '\w+' was built for .*4 feat.*\(2, 5, 2\)"
    ):
        layer(np.ones((2, 5, 2), "float32"))


def test_layer_feature_size_changed_in_functional_model():
    layer = SimpleRNN(3)
    layer(keras.Input((5, 4)))
    with pytest.raises(
        ValueError, match=r"SimpleRNN '\w+' was built for .*4 feat.*\(None, 5, 2\)"
    ):
        layer(keras.Input((5, 2)))


def test_cell_feature_size_changed():
    cell = SimpleRNNCell(3)
    states = [np.zeros((2, 3), "float32")]
    cell(np.ones((2, 4), "float32"), states)
    with pytest.raises(
        ValueError, match=r"SimpleRNNCell '\w+' was built for .*4 feat.*\(2, 2\)"
    ):
        cell(np.ones((2, 2), "float32"), states)
