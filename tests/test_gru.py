"""GRUCell and GRU: standard layer checks, parity with Keras, bad input."""

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

from keras_seq.layers import GRU, GRUCell
from keras_seq.testing.layer_test import run_layer_test

X = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")


def test_gru_layer_sequences_and_state():
    run_layer_test(
        GRU,
        {"units": 3, "return_sequences": True, "return_state": True},
        X,
        expected_output_shape=[(2, 5, 3), (2, 3)],
    )


def test_gru_layer_reset_before_dropout_backwards():
    run_layer_test(
        GRU,
        {
            "units": 3,
            "reset_after": False,
            "dropout": 0.2,
            "recurrent_dropout": 0.2,
            "go_backwards": True,
            "seed": 7,
        },
        X,
        expected_output_shape=(2, 3),
    )


def test_gru_cell_in_rnn():
    run_layer_test(
        CellRNN,
        {
            "cell_class": "GRUCell",
            "cell_config": {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.1},
            "return_sequences": True,
        },
        X,
        expected_output_shape=(2, 5, 3),
    )


# reset_after changes `recurrent_step` and the bias layout, which both paths
# share: both values on the layer path, the default on the cell path.
@pytest.mark.parametrize(
    "path, reset_after", [("layer", True), ("layer", False), ("cell", True)]
)
@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_parity_with_keras(path, case, reset_after):
    assert_parity("gru", path, {**PARITY_CASES[case], "reset_after": reset_after})


def test_parity_with_keras_cell_reset_before():
    case = {**PARITY_CASES["backwards_masked"], "reset_after": False}
    assert_parity("gru", "cell", case)


@pytest.mark.parametrize("reset_after", [True, False])
def test_bias_layout_matches_keras(reset_after):
    ours = GRUCell(2, reset_after=reset_after)
    ref = keras.layers.GRUCell(2, reset_after=reset_after)
    ours.build((None, 3))
    ref.build((None, 3))
    assert ours.bias.shape == ((2, 6) if reset_after else (6,))
    assert [w.shape for w in ours.weights] == [w.shape for w in ref.weights]


def test_regularizer_losses_match_keras():
    assert_regularizer_losses("gru")


def test_mask_carries_state():
    assert_mask_carries_state("gru")


def test_stateful_keeps_state():
    assert_stateful("gru")


@pytest.mark.parametrize("path", ["layer", "cell"])
def test_dropout_only_in_training(path):
    drop = {"dropout": 0.3, "recurrent_dropout": 0.3, "seed": 1}
    if path == "layer":
        layer, reference = GRU(4, **drop), GRU(4)
    else:
        layer = keras.layers.RNN(GRUCell(4, reset_after=False, **drop))
        reference = keras.layers.RNN(GRUCell(4, reset_after=False))
    assert_dropout_only_in_training(layer, reference)


@pytest.mark.parametrize("cls", [GRU, GRUCell])
def test_bad_units(cls):
    for units in [0, -2, 2.5]:
        message = (
            f"{cls.__name__}: `units` must be a positive integer, got units={units}"
        )
        with pytest.raises(ValueError, match=re.escape(message)):
            cls(units)


def test_layer_wrong_rank():
    with pytest.raises(ValueError, match=r"GRU 'gru\w*' expects .*rank 3.*\(2, 4\)"):
        GRU(3)(np.ones((2, 4), "float32"))


def test_cell_wrong_rank_in_rnn():
    # keras.layers.RNN builds the cell for one step of a rank-4 input: (2, 4, 1).
    with pytest.raises(
        ValueError, match=r"GRUCell '\w+' expects .*rank 2.*\(2, 4, 1\)"
    ):
        keras.layers.RNN(GRUCell(3))(np.ones((2, 5, 4, 1), "float32"))


def test_layer_feature_size_changed():
    layer = GRU(3)
    layer(np.ones((2, 5, 4), "float32"))
    with pytest.raises(
        ValueError, match=r"GRU '\w+' was built for .*4 feat.*\(2, 5, 6\)"
    ):
        layer(np.ones((2, 5, 6), "float32"))


def test_cell_feature_size_changed_in_rnn():
    rnn = keras.layers.RNN(GRUCell(3))
    rnn(np.ones((2, 5, 4), "float32"))
    with pytest.raises(
        ValueError, match=r"GRUCell '\w+' was built for .*4 feat.*\(2, 6\)"
    ):
        rnn(np.ones((2, 5, 6), "float32"))
