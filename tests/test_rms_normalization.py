"""RMSNormalization: standard layer checks, and parity with T5's layer norm."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.src.models.t5.t5_layer_norm import T5LayerNorm

from keras_seq.layers import RMSNormalization
from keras_seq.testing import run_layer_test


def test_layer_properties(rng):
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    run_layer_test(
        RMSNormalization,
        {"axis": -1, "epsilon": 1e-5},
        x,
        expected_output_shape=(2, 3, 8),
    )


def test_formula_on_inner_axis(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    layer = RMSNormalization(axis=1, epsilon=1e-3)
    layer.build(x.shape)
    g = rng.normal(size=(5,)).astype("float32")
    layer.set_weights([g])
    # y = g * x / sqrt(mean(x^2) + eps), the mean over axis 1.
    rms = np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-3)
    want = g[None, :, None] * x / rms
    np.testing.assert_allclose(np.asarray(layer(x)), want, atol=1e-5)


def _grads(layer, x, w):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * w)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    return y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("reference", ["t5", "keras"])
def test_parity_with_references(rng, reference):
    x = rng.normal(size=(2, 4, 6)).astype("float32") * 3.0
    w = rng.normal(size=x.shape).astype("float32")
    g = rng.normal(size=(6,)).astype("float32")
    ours = RMSNormalization(epsilon=1e-6)
    if reference == "t5":
        ref = T5LayerNorm(epsilon=1e-6)
    else:
        ref = keras.layers.RMSNormalization(epsilon=1e-6)
    ours.build(x.shape)
    ref.build(x.shape)
    ours.set_weights([g])
    ref.set_weights([g])
    y, grads = _grads(ours, x, w)
    y_ref, grads_ref = _grads(ref, x, w)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    for a, b in zip(grads, grads_ref):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_mask_passes_through():
    tokens = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    inputs = keras.Input((4,), dtype="int32")
    x = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
    y = RMSNormalization()(x)
    assert y._keras_mask is not None
    out = RMSNormalization()(keras.layers.Embedding(10, 8, mask_zero=True)(tokens))
    np.testing.assert_array_equal(np.asarray(out._keras_mask), tokens != 0)


def test_mixed_precision_statistics_in_float32():
    # 300^2 overflows float16 (max 65504): the mean square must be float32.
    x = np.full((1, 2, 4), 300.0, dtype="float32")
    layer = RMSNormalization(dtype="mixed_float16")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    np.testing.assert_allclose(np.asarray(y, "float32"), np.ones((1, 2, 4)), atol=1e-3)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="RMSNormalization.*epsilon=-1"):
        RMSNormalization(epsilon=-1.0)
    with pytest.raises(ValueError, match="RMSNormalization.*axis"):
        RMSNormalization(axis=(1, 2))
    with pytest.raises(ValueError, match=r"RMSNormalization.*axis=3.*\(2, 4\)"):
        RMSNormalization(axis=3)(np.zeros((2, 4), "float32"))
    layer = RMSNormalization()
    layer(np.zeros((2, 3, 8), "float32"))
    with pytest.raises(ValueError, match=r"RMSNormalization.*8 features.*\(2, 3, 5\)"):
        layer(np.zeros((2, 3, 5), "float32"))
