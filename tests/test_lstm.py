"""LSTMCell and LSTM: standard layer checks, parity with Keras, bad input."""

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

from keras_seq.layers import LSTM, LSTMCell
from keras_seq.testing.layer_test import run_layer_test

X = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")


def test_lstm_layer_sequences_and_states():
    run_layer_test(
        LSTM,
        {"units": 3, "return_sequences": True, "return_state": True},
        X,
        expected_output_shape=[(2, 5, 3), (2, 3), (2, 3)],
    )


def test_lstm_layer_dropout_backwards():
    run_layer_test(
        LSTM,
        {
            "units": 3,
            "dropout": 0.2,
            "recurrent_dropout": 0.2,
            "go_backwards": True,
            "unit_forget_bias": False,
            "seed": 7,
        },
        X,
        expected_output_shape=(2, 3),
    )


def test_lstm_cell_in_rnn():
    run_layer_test(
        CellRNN,
        {
            "cell_class": "LSTMCell",
            "cell_config": {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.1},
            "return_sequences": True,
            "return_state": True,
        },
        X,
        expected_output_shape=[(2, 5, 3), (2, 3), (2, 3)],
    )


@pytest.mark.parametrize("path", ["layer", "cell"])
@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_parity_with_keras(path, case):
    assert_parity("lstm", path, case)


@pytest.mark.parametrize("path", ["layer", "cell"])
def test_parity_without_unit_forget_bias(path):
    assert_parity(
        "lstm",
        path,
        {"return_sequences": True, "unit_forget_bias": False, "masked": True},
    )


@pytest.mark.parametrize("unit_forget_bias", [True, False])
def test_initial_bias_matches_keras(unit_forget_bias):
    init = keras.initializers.Constant(0.3)
    ours = LSTMCell(2, bias_initializer=init, unit_forget_bias=unit_forget_bias)
    ref = keras.layers.LSTMCell(
        2, bias_initializer=init, unit_forget_bias=unit_forget_bias
    )
    ours.build((None, 3))
    ref.build((None, 3))
    forget = 1.0 if unit_forget_bias else 0.3
    expected = np.array([0.3, 0.3, forget, forget, 0.3, 0.3, 0.3, 0.3])
    np.testing.assert_allclose(ours.bias.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(ours.bias.numpy(), ref.bias.numpy(), rtol=0)


def test_regularizer_losses_match_keras():
    assert_regularizer_losses("lstm")


def test_mask_carries_state():
    assert_mask_carries_state("lstm")


def test_stateful_keeps_state():
    assert_stateful("lstm")


@pytest.mark.parametrize("path", ["layer", "cell"])
def test_dropout_only_in_training(path):
    drop = {"dropout": 0.3, "recurrent_dropout": 0.3, "seed": 1}
    if path == "layer":
        layer, reference = LSTM(4, **drop), LSTM(4)
    else:
        layer = keras.layers.RNN(LSTMCell(4, **drop))
        reference = keras.layers.RNN(LSTMCell(4))
    assert_dropout_only_in_training(layer, reference)


@pytest.mark.parametrize("cls", [LSTM, LSTMCell])
def test_bad_units(cls):
    for units in [0, -2, 2.5]:
        message = (
            f"{cls.__name__}: `units` must be a positive integer, got units={units}"
        )
        with pytest.raises(ValueError, match=re.escape(message)):
            cls(units)


@pytest.mark.parametrize("cls", [LSTM, LSTMCell])
def test_bad_dropout(cls):
    with pytest.raises(ValueError, match=r"LSTM(Cell)?: `dropout` must be .*1.5"):
        cls(3, dropout=1.5)


def test_layer_wrong_rank():
    with pytest.raises(ValueError, match=r"LSTM 'lstm\w*' expects .*rank 3.*\(2, 4\)"):
        LSTM(3)(np.ones((2, 4), "float32"))


def test_cell_wrong_rank():
    cell = LSTMCell(3)
    states = [np.zeros((2, 3), "float32")] * 2
    with pytest.raises(
        ValueError, match=r"LSTMCell '\w+' expects .*rank 2.*\(2, 5, 4\)"
    ):
        cell(np.ones((2, 5, 4), "float32"), states)


def test_layer_feature_size_changed():
    layer = LSTM(3)
    layer(np.ones((2, 5, 4), "float32"))
    with pytest.raises(
        ValueError, match=r"LSTM '\w+' was built for .*4 feat.*\(2, 5, 6\)"
    ):
        layer(np.ones((2, 5, 6), "float32"))


def test_cell_feature_size_changed_in_rnn():
    rnn = keras.layers.RNN(LSTMCell(3))
    rnn(np.ones((2, 5, 4), "float32"))
    with pytest.raises(
        ValueError, match=r"LSTMCell '\w+' was built for .*4 feat.*\(2, 6\)"
    ):
        rnn(np.ones((2, 5, 6), "float32"))
