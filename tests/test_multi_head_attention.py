"""MultiHeadAttention: layer checks, parity with Keras's, masks and the cache."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from _attention_helpers import (
    copy_keras_mha_weights,
    outputs_and_grads,
    random_keras_mha_weights,
    run_doctests,
)

from keras_seq.layers import MultiHeadAttention
from keras_seq.layers import multi_head_attention as mha_module
from keras_seq.testing import run_layer_test

B, T, S, D, H = 2, 4, 5, 8, 2


def _padding(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def _built(rng, d_in=D, seq=T, **kwargs):
    layer = MultiHeadAttention(D, H, **kwargs)
    x = rng.normal(size=(B, seq, d_in)).astype("float32")
    layer(x, x, x)
    return layer


def test_layer_properties_cross_attention_with_mask(rng):
    q = rng.normal(size=(B, T, D)).astype("float32")
    kv = rng.normal(size=(B, S, 6)).astype("float32")
    mask = np.broadcast_to(_padding([5, 3], S)[:, None, :], (B, T, S)).copy()
    out, scores = run_layer_test(
        MultiHeadAttention,
        {"d_model": D, "num_heads": H, "dropout": 0.1},
        {"q": q, "k": kv, "v": kv, "mask": mask},
        call_kwargs={"return_attention_scores": True, "use_causal_mask": True},
        expected_output_shape=[(B, T, D), (B, H, T, S)],
    )
    # Causal and padding masks: query 0 sees key 0 only; row 1 has 3 keys.
    np.testing.assert_allclose(scores[:, :, 0, 0], 1.0, atol=1e-6)
    np.testing.assert_array_equal(scores[1, :, :, 3:], 0.0)


def test_layer_properties_with_cache(rng):
    x = rng.normal(size=(B, 1, D)).astype("float32")
    cache = rng.normal(size=(B, 2, S, H, D // H)).astype("float32")
    out, new_cache = run_layer_test(
        MultiHeadAttention,
        {"d_model": D, "num_heads": H},
        {"q": x, "k": x, "v": x, "cache": cache},
        call_kwargs={"cache_update_index": 2, "use_causal_mask": True},
        expected_output_shape=[(B, 1, D), (B, 2, S, H, D // H)],
        # The cache is for inference: TF has no gradient for the
        # XlaDynamicUpdateSlice that writes it. The fit step runs above.
        run_training_check=False,
    )
    # Only slot 2 changed.
    untouched = [0, 1, 3, 4]
    np.testing.assert_array_equal(new_cache[:, :, untouched], cache[:, :, untouched])
    assert not np.allclose(new_cache[:, :, 2], cache[:, :, 2])


def _keras_pair(rng, d_kv=D, depth=None):
    theirs = keras.layers.MultiHeadAttention(H, key_dim=depth or D // H)
    q = rng.normal(size=(B, T, D)).astype("float32")
    kv = rng.normal(size=(B, S, d_kv)).astype("float32")
    theirs(q, kv, kv)
    random_keras_mha_weights(theirs, rng)
    ours = MultiHeadAttention(D, H, depth=depth)
    ours(q, kv, kv)
    variables = copy_keras_mha_weights(theirs, ours)
    return theirs, ours, q, kv, variables


@pytest.mark.parametrize(
    "masking, depth",
    # depth 3 with 2 heads: attention 6 wide in an 8-wide layer (T5 3B/11B).
    [("padding", None), ("causal", None), ("causal", 3)],
)
def test_parity_with_keras_multi_head_attention(rng, masking, depth):
    theirs, ours, q, kv, (their_vars, our_vars) = _keras_pair(rng, d_kv=6, depth=depth)
    if masking == "padding":
        mask = np.broadcast_to(_padding([5, 2], S)[:, None, :], (B, T, S))
        ours_kw = {"mask": tf.constant(mask)}
        theirs_kw = {"attention_mask": tf.constant(mask)}
    else:
        ours_kw = theirs_kw = {"use_causal_mask": True}
    cot = [rng.normal(size=(B, T, D)), rng.normal(size=(B, H, T, S))]
    cot = [c.astype("float32") for c in cot]

    def run_ours(q, k, v):
        return ours(q, k, v, return_attention_scores=True, **ours_kw)

    def run_theirs(q, k, v):
        return theirs(q, v, k, return_attention_scores=True, **theirs_kw)

    got, got_grads = outputs_and_grads(run_ours, [q, kv, kv], our_vars, cot)
    want, want_grads = outputs_and_grads(run_theirs, [q, kv, kv], their_vars, cot)
    for name, a, b in zip(["output", "scores"], got, want):
        np.testing.assert_allclose(a, b, atol=1e-5, err_msg=name)
    # Input gradients, then weight gradients (ours are theirs reshaped).
    for a, b in zip(got_grads, want_grads):
        np.testing.assert_allclose(a, b.reshape(a.shape), atol=1e-5)


def test_depth_other_than_d_model_over_num_heads(rng):
    layer = _built(rng, depth=3)
    assert layer.wq.kernel.shape == (D, H * 3)
    assert layer.dense.kernel.shape == (H * 3, D)
    again = MultiHeadAttention.from_config(layer.get_config())
    assert again.depth == 3
    # Cached decoding, one token at a time, gives the full causal pass.
    x = rng.normal(size=(B, T, D)).astype("float32")
    full = layer(x, x, x, use_causal_mask=True)
    cache = layer.initial_cache(B, T)
    assert tuple(cache.shape) == (B, 2, T, H, 3)
    for t in range(T):
        step, cache = layer(
            x[:, t : t + 1],
            x[:, t : t + 1],
            x[:, t : t + 1],
            use_causal_mask=True,
            cache=cache,
            cache_update_index=t,
        )
        np.testing.assert_allclose(step[:, 0], full[:, t], atol=1e-5)
    with pytest.raises(ValueError, match="depth must be positive"):
        MultiHeadAttention(D, H, depth=0)
    # With depth given, num_heads need not divide d_model.
    assert MultiHeadAttention(D, 3, depth=4).depth == 4


def test_keras_implicit_masks_match_keras(rng):
    theirs, ours, q, kv, _ = _keras_pair(rng)
    q[1, 3:] = 0.0
    kv[0, 2:] = 0.0
    masking = keras.layers.Masking(0.0)
    qm, kvm = masking(q), masking(kv)
    got = ours(qm, kvm, kvm, return_attention_scores=True)
    want = theirs(qm, kvm, return_attention_scores=True)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    # Padded queries get all-zero weights, padded keys none.
    np.testing.assert_array_equal(np.asarray(got[1])[1, :, 3:], 0.0)
    np.testing.assert_array_equal(np.asarray(got[1])[0, :, :, 2:], 0.0)


def test_padded_keys_change_nothing(rng):
    layer = _built(rng)
    q = rng.normal(size=(B, T, D)).astype("float32")
    kv = rng.normal(size=(B, S, D)).astype("float32")
    keep = _padding([3, 5], S)
    mask = np.broadcast_to(keep[:, None, :], (B, T, S))
    noisy = np.where(keep[..., None], kv, rng.normal(size=kv.shape) * 10)
    a = layer(q, kv, kv, mask=mask)
    b = layer(q, noisy.astype("float32"), noisy.astype("float32"), mask=mask)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    # Without the mask the padding matters (so the check can fail).
    c = layer(q, noisy.astype("float32"), noisy.astype("float32"))
    assert not np.allclose(np.asarray(a), np.asarray(c), atol=1e-3)


def test_causal_output_ignores_the_future(rng):
    layer = _built(rng, seq=6)
    x = rng.normal(size=(B, 6, D)).astype("float32")
    t = 2
    changed = x.copy()
    changed[:, t + 1 :] = rng.normal(size=changed[:, t + 1 :].shape)
    a = np.asarray(layer(x, x, x, use_causal_mask=True))
    b = np.asarray(layer(changed, changed, changed, use_causal_mask=True))
    np.testing.assert_allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-6)
    assert not np.allclose(a[:, t + 1 :], b[:, t + 1 :], atol=1e-3)


def test_cached_decoding_equals_full_forward(rng):
    length = 6
    layer = _built(rng, seq=length)
    x = rng.normal(size=(B, length, D)).astype("float32")
    full = np.asarray(layer(x, x, x, use_causal_mask=True))

    @tf.function(jit_compile=True)
    def step(token, cache, index):
        return layer(
            token, token, token, use_causal_mask=True, cache=cache,
            cache_update_index=index,
        )  # fmt: skip

    # Prefill two tokens at once, then one token per step under XLA.
    cache = layer.initial_cache(B, length)
    out, cache = layer(
        x[:, :2], x[:, :2], x[:, :2], use_causal_mask=True, cache=cache,
        cache_update_index=0,
    )  # fmt: skip
    outputs = [np.asarray(out)]
    for t in range(2, length):
        out, cache = step(x[:, t : t + 1], cache, tf.constant(t))
        outputs.append(np.asarray(out))
    np.testing.assert_allclose(np.concatenate(outputs, 1), full, atol=1e-5)


def test_static_cache_ignores_key_and_value(rng):
    layer = _built(rng)
    q = rng.normal(size=(B, T, D)).astype("float32")
    kv = rng.normal(size=(B, S, D)).astype("float32")
    full = np.asarray(layer(q, kv, kv))
    _, cache = layer(q, kv, kv, cache=layer.initial_cache(B, S), cache_update_index=0)
    out, same = layer(q, q[:, :1], q[:, :1], cache=cache)
    np.testing.assert_allclose(np.asarray(out), full, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(same), np.asarray(cache))


def test_attention_bias_is_added_to_logits(rng):
    layer = _built(rng)
    x = rng.normal(size=(B, T, D)).astype("float32")
    keep = rng.random(size=(B, T, T)) > 0.3
    keep[:, :, 0] = True
    bias = np.where(keep, 0.0, -1e9).astype("float32")[:, None]  # (B, 1, T, T)
    a = layer(x, x, x, attention_bias=bias, return_attention_scores=True)
    b = layer(x, x, x, mask=keep, return_attention_scores=True)
    for u, v in zip(a, b):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=1e-6)


def test_dropout_only_in_training(rng):
    layer = _built(rng, dropout=0.5)
    x = rng.normal(size=(B, T, D)).astype("float32")
    plain = MultiHeadAttention(D, H)
    plain(x, x, x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        np.asarray(layer(x, x, x, training=False)), np.asarray(plain(x, x, x)), atol=0
    )
    out, w = layer(x, x, x, training=True, return_attention_scores=True)
    assert not np.allclose(np.asarray(out), np.asarray(plain(x, x, x)), atol=1e-3)
    # The returned weights are taken before dropout: rows still sum to 1.
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, atol=1e-5)


def test_interface_of_the_course_class(rng):
    layer = _built(rng)
    assert (layer.d_model, layer.num_heads, layer.depth) == (D, H, D // H)
    for dense in (layer.wq, layer.wk, layer.wv, layer.dense):
        assert tuple(dense.kernel.shape) == (D, D)


def test_d_model_not_divisible_by_heads():
    with pytest.raises(ValueError, match="d_model=10 is not divisible by num_heads=3"):
        MultiHeadAttention(10, 3)


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("kv_lengths", r"k and v must have the same length.*\(2, 5, 8\).*\(2, 4, 8\)"),
        ("mask_shape", r"`mask` has shape \(2, 4, 3\).*\(2, 4, 5\)"),
        ("last_dim", r"built for last dimensions.*\(8, 8, 8\).*\(2, 4, 6\)"),
        ("cache_shape", r"`cache` must have shape.*\(2, 2, 5, 3, 4\)"),
        ("rank", r"`q` must have rank 3, got shape \(2, 8\)"),
    ],
)
def test_bad_input_names_layer_and_shapes(rng, case, pattern):
    layer = _built(rng)
    q = rng.normal(size=(B, T, D)).astype("float32")
    kv = rng.normal(size=(B, S, D)).astype("float32")
    calls = {
        "kv_lengths": lambda: layer(q, kv, kv[:, :4]),
        "mask_shape": lambda: layer(q, kv, kv, mask=np.ones((B, T, 3), bool)),
        "last_dim": lambda: layer(q[..., :6], kv, kv),
        "cache_shape": lambda: layer(
            q, q, q, cache=np.zeros((B, 2, S, 3, 4), "float32"), cache_update_index=0
        ),
        "rank": lambda: layer(q[:, 0], kv, kv),
    }
    with pytest.raises(ValueError, match="MultiHeadAttention 'multi_head_attention"):
        calls[case]()
    with pytest.raises(ValueError, match=pattern):
        calls[case]()


def test_docstring_example():
    run_doctests(mha_module)
