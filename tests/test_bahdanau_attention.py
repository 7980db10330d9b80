"""BahdanauAttention: layer checks, the formula, Keras parity, masks."""

import keras
import numpy as np
import pytest
from _attention_helpers import run_doctests

from keras_seq.layers import BahdanauAttention
from keras_seq.layers import bahdanau_attention as module
from keras_seq.testing import run_layer_test

B, S = 2, 5


def _padding(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def test_layer_properties_one_query_step(rng):
    query = rng.normal(size=(B, 6)).astype("float32")
    values = rng.normal(size=(B, S, 4)).astype("float32")
    context, weights = run_layer_test(
        BahdanauAttention,
        {"units": 3},
        {"query": query, "values": values, "mask": _padding([5, 3], S)},
        expected_output_shape=[(B, 4), (B, S)],
    )
    np.testing.assert_array_equal(weights[1, 3:], 0.0)


def test_formula(rng):
    query = rng.normal(size=(B, 3, 6)).astype("float32")
    values = rng.normal(size=(B, S, 4)).astype("float32")
    layer = BahdanauAttention(units=7)
    layer(query, values)
    w1, b1, w2, v = (rng.normal(size=w.shape) for w in layer.weights)
    layer.set_weights([w1, b1, w2, v])
    context, weights = layer(query, values)
    # e_ts = v^T tanh(W_1 q_t + b + W_2 k_s); a = softmax_s(e); c_t = sum a_ts k_s
    hidden = (query @ w1 + b1)[:, :, None, :] + (values @ w2)[:, None, :, :]
    scores = (np.tanh(hidden) @ v)[..., 0]
    a = np.exp(scores - scores.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(weights), a, atol=1e-5)
    np.testing.assert_allclose(np.asarray(context), a @ values, atol=1e-5)


def test_parity_with_keras_additive_attention(rng):
    """With W_1 = W_2 = I, no bias and v = scale, ours is AdditiveAttention."""
    d = 4
    query = rng.normal(size=(B, 3, d)).astype("float32")
    values = rng.normal(size=(B, S, d)).astype("float32")
    mask = _padding([5, 2], S)
    theirs = keras.layers.AdditiveAttention(use_scale=True)
    theirs([query, values])
    scale = rng.normal(size=(d,)).astype("float32")
    theirs.set_weights([scale])
    ours = BahdanauAttention(units=d)
    ours(query, values)
    ours.set_weights([np.eye(d), np.zeros(d), np.eye(d), scale[:, None]])
    want = theirs([query, values], mask=[None, mask], return_attention_scores=True)
    got = ours(query, values, mask=mask)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_padded_keys_change_nothing_and_keras_mask_is_used(rng):
    query = rng.normal(size=(B, 6)).astype("float32")
    values = rng.normal(size=(B, S, 4)).astype("float32")
    keep = _padding([2, 4], S)
    values[~keep] = 0.0
    layer = BahdanauAttention(units=3)
    a = layer(query, values, mask=keep)
    noisy = np.where(keep[..., None], values, 5.0).astype("float32")
    b = layer(query, noisy, mask=keep)
    c = layer(query, keras.layers.Masking(0.0)(values))
    for x, y, z in zip(a, b, c):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)
        np.testing.assert_allclose(np.asarray(x), np.asarray(z), atol=1e-6)
    assert not np.allclose(np.asarray(a[0]), np.asarray(layer(query, noisy)[0]))


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("mask", r"`mask` has shape \(2, 4\), which does not broadcast to \(2, 5\)"),
        ("last_dim", r"built for .*\(6, 4\).*values.shape=\(2, 5, 3\)"),
        ("batch", r"batch sizes differ.*query.shape=\(3, 6\)"),
    ],
)
def test_bad_input(rng, case, pattern):
    query = rng.normal(size=(B, 6)).astype("float32")
    values = rng.normal(size=(B, S, 4)).astype("float32")
    layer = BahdanauAttention(units=3, name="att")
    layer(query, values)
    calls = {
        "mask": lambda: layer(query, values, mask=np.ones((B, 4), bool)),
        "last_dim": lambda: layer(query, values[..., :3]),
        "batch": lambda: layer(np.ones((3, 6), "float32"), values),
    }
    with pytest.raises(ValueError, match="BahdanauAttention 'att'.*" + pattern):
        calls[case]()


def test_docstring_example():
    run_doctests(module)
