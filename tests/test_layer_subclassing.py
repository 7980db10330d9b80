"""Sublayers exist after construction, and a subclass may replace them."""

import os

import keras
import numpy as np
import pytest

from keras_seq.layers import (
    BahdanauAttention,
    FeedForward,
    LuongAttention,
    MultiHeadAttention,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from keras_seq.testing import run_layer_test


def test_multi_head_attention_projections_exist_after_construction():
    mha = MultiHeadAttention(64, 8)
    for name in ("wq", "wk", "wv", "dense"):
        layer = getattr(mha, name)
        assert isinstance(layer, keras.layers.Dense), name
        assert layer.units == 64 and not layer.built
    assert not mha.weights


@pytest.mark.parametrize(
    "layer, names",
    [
        (FeedForward(8, 32), ("intermediate_dense", "output_dense")),
        (BahdanauAttention(10), ("w1", "w2", "v")),
        (LuongAttention(7, score="concat"), ("w_a_query", "w_a_key", "v_a")),
        (
            TransformerEncoderBlock(16, 4, 32),
            ("self_attention", "feed_forward", "feedforward_layer_norm"),
        ),
        (TransformerDecoderBlock(16, 4, 32), ("self_attention", "feed_forward")),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, keras.layers.Layer) else "",
)
def test_sublayers_exist_after_construction(layer, names):
    for name in names:
        assert isinstance(getattr(layer, name), keras.layers.Layer), name


@keras.saving.register_keras_serializable(package="keras_seq_tests")
class UnbiasedQueryAttention(MultiHeadAttention):
    """The course's way to customise the class: replace `wq` in `__init__`."""

    def __init__(self, d_model, num_heads, **kwargs):
        super().__init__(d_model, num_heads, **kwargs)
        self.wq = keras.layers.Dense(
            d_model, use_bias=False, dtype=self.dtype_policy, name="wq"
        )


def test_replaced_projection_is_kept_through_build_call_and_save(tmp_path):
    mha = UnbiasedQueryAttention(16, 4)
    replaced = mha.wq
    x = np.random.default_rng(0).normal(size=(2, 5, 16)).astype("float32")
    out = mha(x, x, x)
    assert mha.wq is replaced and not mha.wq.use_bias
    # 4 kernels, 3 biases (wk, wv, dense): no orphan `wq` and its bias.
    assert len(mha.weights) == 7
    tracked = mha._flatten_layers(include_self=False, recursive=False)
    assert sum(layer.name == "wq" for layer in tracked) == 1
    assert replaced in tracked

    inputs = keras.Input((5, 16))
    model = keras.Model(inputs, mha(inputs, inputs, inputs))
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    layer = reloaded.layers[-1]
    assert type(layer) is UnbiasedQueryAttention and not layer.wq.use_bias
    np.testing.assert_allclose(reloaded(x), out, atol=1e-6)


def test_replaced_projection_passes_the_layer_test():
    # Config, .keras, jit fit step, mixed_float16, SavedModel without keras_seq.
    x = np.random.default_rng(1).normal(size=(2, 5, 16)).astype("float32")
    run_layer_test(
        UnbiasedQueryAttention,
        {"d_model": 16, "num_heads": 4},
        (x, x, x),
        expected_output_shape=(2, 5, 16),
    )
