"""LuongAttention: layer checks, Keras parity for "dot", the formulas, masks."""

import keras
import numpy as np
import pytest
from _attention_helpers import run_doctests

from keras_seq.layers import LuongAttention
from keras_seq.layers import luong_attention as module
from keras_seq.testing import run_layer_test

B, T, S = 2, 3, 5


def _padding(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("score, units", [("general", None), ("concat", 3)])
def test_layer_properties(rng, score, units):
    query = rng.normal(size=(B, T, 4)).astype("float32")
    values = rng.normal(size=(B, S, 6)).astype("float32")
    run_layer_test(
        LuongAttention,
        {"units": units, "score": score},
        {"query": query, "values": values, "mask": _padding([5, 3], S)},
        expected_output_shape=[(B, T, 6), (B, T, S)],
    )


def test_layer_properties_dot_one_query_step(rng):
    query = rng.normal(size=(B, 4)).astype("float32")
    values = rng.normal(size=(B, S, 4)).astype("float32")
    run_layer_test(
        LuongAttention,
        {"score": "dot"},
        (query, values),
        expected_output_shape=[(B, 4), (B, S)],
    )


@pytest.mark.parametrize("query_rank", [2, 3])
def test_dot_parity_with_keras_attention(rng, query_rank):
    query = rng.normal(size=(B, T, 4)).astype("float32")
    values = rng.normal(size=(B, S, 4)).astype("float32")
    mask = _padding([5, 2], S)
    want = keras.layers.Attention()(
        [query, values], mask=[None, mask], return_attention_scores=True
    )
    want = [np.asarray(w) for w in want]
    if query_rank == 2:
        query, want = query[:, 0], [w[:, 0] for w in want]
    got = LuongAttention(score="dot")(query, values, mask=mask)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), b, atol=1e-5)


def test_general_and_concat_formulas(rng):
    h_t = rng.normal(size=(B, T, 4)).astype("float32")
    h_s = rng.normal(size=(B, S, 6)).astype("float32")
    general = LuongAttention(score="general")
    general(h_t, h_s)
    w_a = rng.normal(size=(6, 4))
    general.set_weights([w_a])
    # score = h_t^T W_a h_s (our kernel maps h_s to the query space)
    scores = np.einsum("btq,bsq->bts", h_t, h_s @ w_a)
    got_c, got_w = general(h_t, h_s)
    np.testing.assert_allclose(np.asarray(got_w), _softmax(scores), atol=1e-5)
    np.testing.assert_allclose(np.asarray(got_c), _softmax(scores) @ h_s, atol=1e-5)

    concat = LuongAttention(units=3, score="concat")
    concat(h_t, h_s)
    w_a = rng.normal(size=(4 + 6, 3))
    v_a = rng.normal(size=(3, 1))
    concat.set_weights([w_a[:4], w_a[4:], v_a])
    # score = v_a^T tanh(W_a [h_t; h_s]), built literally with the concatenation
    pairs = np.concatenate(
        [
            np.broadcast_to(h_t[:, :, None], (B, T, S, 4)),
            np.broadcast_to(h_s[:, None], (B, T, S, 6)),
        ],
        -1,
    )
    scores = (np.tanh(pairs @ w_a) @ v_a)[..., 0]
    np.testing.assert_allclose(
        np.asarray(concat(h_t, h_s)[1]), _softmax(scores), atol=1e-5
    )


def test_padded_keys_change_nothing(rng):
    query = rng.normal(size=(B, T, 4)).astype("float32")
    values = rng.normal(size=(B, S, 4)).astype("float32")
    keep = _padding([2, 4], S)
    layer = LuongAttention(score="general")
    a = layer(query, values, mask=keep)
    noisy = np.where(keep[..., None], values, 7.0).astype("float32")
    b = layer(query, noisy, mask=keep)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)
    assert not np.allclose(np.asarray(a[0]), np.asarray(layer(query, noisy)[0]))


def test_bad_arguments_and_input(rng):
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention(score="cosine")
    with pytest.raises(ValueError, match="score='concat' needs `units`"):
        LuongAttention(score="concat")
    query = rng.normal(size=(B, T, 4)).astype("float32")
    values = rng.normal(size=(B, S, 6)).astype("float32")
    with pytest.raises(
        ValueError, match=r"LuongAttention 'dot'.*same last dimension.*\(2, 5, 6\)"
    ):
        LuongAttention(score="dot", name="dot")(query, values)
    layer = LuongAttention(score="general", name="gen")
    with pytest.raises(
        ValueError, match=r"LuongAttention 'gen'.*`mask` has shape \(2, 3, 4\)"
    ):
        layer(query, values, mask=np.ones((B, T, 4), bool))


def test_docstring_example():
    run_doctests(module)
