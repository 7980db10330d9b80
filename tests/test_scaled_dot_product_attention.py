"""scaled_dot_product_attention: the formula, masks, bias and bad input."""

import importlib

import numpy as np
import pytest
from _attention_helpers import run_doctests

from keras_seq.layers import scaled_dot_product_attention

# The package attribute is the function; the module it lives in:
sdpa_module = importlib.import_module("keras_seq.layers.scaled_dot_product_attention")


def _numpy_attention(q, k, v, mask=None, bias=0.0):
    """softmax(Q K^T / sqrt(d_k) + bias) V, masked keys dropped, in float64."""
    logits = q.astype("float64") @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    logits = logits + bias
    if mask is not None:
        logits = np.where(mask, logits, -np.inf)
    logits = logits - logits.max(-1, keepdims=True)
    e = np.exp(logits)
    w = e / e.sum(-1, keepdims=True)
    return w @ v, w


def test_formula_with_mask_and_bias(rng):
    q = rng.normal(size=(2, 3, 4, 8)).astype("float32")
    k = rng.normal(size=(2, 3, 6, 8)).astype("float32")
    v = rng.normal(size=(2, 3, 6, 5)).astype("float32")
    mask = rng.random(size=(2, 1, 4, 6)) > 0.4
    mask[..., 0] = True
    bias = rng.normal(size=(1, 3, 4, 6)).astype("float32")
    out, w = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    want_out, want_w = _numpy_attention(q, k, v, mask, bias)
    np.testing.assert_allclose(np.asarray(w), want_w, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), want_out, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(w)[~np.broadcast_to(mask, w.shape)], 0)


def test_integer_mask_true_means_attend(rng):
    q = rng.normal(size=(1, 2, 4)).astype("float32")
    kv = rng.normal(size=(1, 3, 4)).astype("float32")
    mask = np.array([[[1, 0, 1]]], "int32")
    _, w = scaled_dot_product_attention(q, kv, kv, mask=mask)
    np.testing.assert_array_equal(np.asarray(w)[..., 1], 0.0)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, atol=1e-6)


def test_fully_masked_row_gives_zeros(rng):
    q = rng.normal(size=(1, 2, 4)).astype("float32")
    kv = rng.normal(size=(1, 3, 4)).astype("float32")
    mask = np.array([[[True, True, False], [False, False, False]]])
    out, w = scaled_dot_product_attention(q, kv, kv, mask=mask)
    np.testing.assert_array_equal(np.asarray(w)[0, 1], 0.0)
    np.testing.assert_array_equal(np.asarray(out)[0, 1], 0.0)


def test_weights_dropout_is_applied_after_the_returned_weights(rng):
    q = rng.normal(size=(1, 2, 4)).astype("float32")
    kv = rng.normal(size=(1, 3, 4)).astype("float32")
    out, w = scaled_dot_product_attention(q, kv, kv, weights_dropout=lambda w: w * 0)
    np.testing.assert_array_equal(np.asarray(out), 0.0)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "shapes, pattern",
    [
        (
            ((2, 4, 8), (2, 5, 8), (2, 6, 8), None),
            r"same length.*\(2, 5, 8\).*\(2, 6, 8\)",
        ),
        (((2, 4, 8), (2, 5, 7), (2, 5, 8), None), r"same last dimension.*\(2, 5, 7\)"),
        (((2, 4, 8), (2, 5, 8), (2, 5, 8), (2, 4, 4)), r"`mask` has shape \(2, 4, 4\)"),
    ],
)
def test_bad_input(shapes, pattern):
    q, k, v, mask = (None if s is None else np.ones(s, "float32") for s in shapes)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: .*" + pattern):
        scaled_dot_product_attention(q, k, v, mask=mask)


def test_docstring_example():
    run_doctests(sdpa_module)
