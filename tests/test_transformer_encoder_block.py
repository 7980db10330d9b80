"""TransformerEncoderBlock: layer checks, keras-hub parity, masks, bad input."""

import keras
import keras_hub
import numpy as np
import pytest
from _attention_helpers import (
    copy_keras_mha_weights,
    copy_weights,
    outputs_and_grads,
    run_doctests,
)

from keras_seq.layers import RMSNormalization, TransformerEncoderBlock
from keras_seq.layers import transformer_encoder_block as module
from keras_seq.testing import run_layer_test

B, S, D, H, F = 2, 5, 8, 2, 12


def _padding(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def copy_keras_hub_block_weights(theirs, ours, rng):
    """Random weights into keras-hub's block, then copied into ours.

    Returns:
        `(their_variables, our_variables)`, aligned lists.
    """
    theirs.set_weights(
        [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in theirs.weights]
    )
    # keras-hub's sublayers and ours: the same computation, our MHA reshaped.
    their_vars, our_vars = copy_keras_mha_weights(
        theirs._self_attention_layer, ours.self_attention
    )
    pairs = [
        (theirs._self_attention_layer_norm, ours.self_attention_layer_norm),
        (theirs._feedforward_intermediate_dense, ours.feed_forward.intermediate_dense),
        (theirs._feedforward_output_dense, ours.feed_forward.output_dense),
        (theirs._feedforward_layer_norm, ours.feedforward_layer_norm),
    ]
    if getattr(theirs, "_cross_attention_layer", None) is not None:
        mha_vars = copy_keras_mha_weights(
            theirs._cross_attention_layer, ours.cross_attention
        )
        their_vars, our_vars = their_vars + mha_vars[0], our_vars + mha_vars[1]
        pairs.append(
            (theirs._cross_attention_layer_norm, ours.cross_attention_layer_norm)
        )
    more = copy_weights(pairs)
    return their_vars + more[0], our_vars + more[1]


def test_layer_properties_with_padding_mask(rng):
    x = rng.normal(size=(B, S, D)).astype("float32")
    run_layer_test(
        TransformerEncoderBlock,
        {"d_model": D, "num_heads": H, "dff": F, "dropout": 0.1},
        {"inputs": x, "padding_mask": _padding([5, 3], S)},
        expected_output_shape=(B, S, D),
    )


def test_layer_properties_with_t5_options(rng):
    # What t5 builds its layers with: pre-RMSNorm, no biases, gated GELU.
    x = rng.normal(size=(B, S, D)).astype("float32")
    options = {
        "normalize_first": True,
        "normalization": "rms_norm",
        "use_bias": False,
        "use_gated_activation": True,
        "activation_dropout": 0.1,
        "activation": "gelu",
    }
    run_layer_test(
        TransformerEncoderBlock,
        {"d_model": D, "num_heads": H, "dff": F, "dropout": 0.1, **options},
        {"inputs": x, "padding_mask": _padding([5, 3], S)},
        expected_output_shape=(B, S, D),
    )
    block = TransformerEncoderBlock(D, H, F, **options)
    block(x)
    assert isinstance(block.self_attention_layer_norm, RMSNormalization)
    assert not [w.path for w in block.weights if w.path.endswith("bias")]
    with pytest.raises(ValueError, match="normalization must be one of"):
        TransformerEncoderBlock(D, H, F, normalization="batch_norm")


@pytest.mark.parametrize("normalize_first", [False, True])
def test_parity_with_keras_hub_transformer_encoder(rng, normalize_first):
    x = rng.normal(size=(B, S, D)).astype("float32")
    mask = _padding([5, 3], S)
    theirs = keras_hub.layers.TransformerEncoder(
        F, H, activation="gelu", normalize_first=normalize_first
    )
    ours = TransformerEncoderBlock(
        D, H, F, activation="gelu", normalize_first=normalize_first
    )
    theirs(x)
    ours(x)
    their_vars, our_vars = copy_keras_hub_block_weights(theirs, ours, rng)
    assert len(our_vars) == len(ours.weights) == len(theirs.weights)
    cot = [rng.normal(size=(B, S, D)).astype("float32")]
    got, got_grads = outputs_and_grads(
        lambda x, m: ours(x, padding_mask=m), [x, mask], our_vars, cot
    )
    want, want_grads = outputs_and_grads(
        lambda x, m: theirs(x, padding_mask=m), [x, mask], their_vars, cot
    )
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    # d/dx, then each weight (ours are theirs reshaped).
    for a, b in zip(got_grads, want_grads):
        np.testing.assert_allclose(a, b.reshape(a.shape), atol=1e-5)


def test_padded_positions_change_nothing_at_real_ones(rng):
    x = rng.normal(size=(B, S, D)).astype("float32")
    keep = _padding([3, 5], S)
    block = TransformerEncoderBlock(D, H, F)
    noisy = np.where(keep[..., None], x, rng.normal(size=x.shape) * 5).astype("float32")
    a = np.asarray(block(x, padding_mask=keep))
    b = np.asarray(block(noisy, padding_mask=keep))
    np.testing.assert_allclose(a[keep], b[keep], atol=1e-5)
    # The Keras mask of the inputs is the padding mask when none is given.
    c = np.asarray(block(keras.layers.Masking(0.0)(np.where(keep[..., None], x, 0))))
    np.testing.assert_allclose(a[keep], c[keep], atol=1e-5)
    d = np.asarray(block(noisy))
    assert not np.allclose(a[keep], d[keep], atol=1e-3)


def test_attention_scores_and_bias(rng):
    x = rng.normal(size=(B, S, D)).astype("float32")
    block = TransformerEncoderBlock(D, H, F)
    keep = np.tril(np.ones((S, S), bool))[None]
    bias = np.where(keep, 0.0, -1e9).astype("float32")[:, None]
    a, scores = block(x, attention_bias=bias, return_attention_scores=True)
    b = block(x, attention_mask=np.broadcast_to(keep, (B, S, S)))
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    assert tuple(scores.shape) == (B, H, S, S)
    np.testing.assert_array_equal(np.asarray(scores)[:, :, 0, 1:], 0.0)


@pytest.mark.parametrize(
    "case, pattern",
    [
        ("last_dim", r"inputs must have last dimension d_model=8.*\(2, 5, 6\)"),
        ("padding", r"`padding_mask` has shape \(2, 4\).*\(2, 5\)"),
        ("attention", r"`attention_mask` has shape \(2, 5, 4\).*\(2, 5, 5\)"),
    ],
)
def test_bad_input(rng, case, pattern):
    x = rng.normal(size=(B, S, D)).astype("float32")
    block = TransformerEncoderBlock(D, H, F, name="enc")
    calls = {
        "last_dim": lambda: block(x[..., :6]),
        "padding": lambda: block(x, padding_mask=np.ones((B, 4), bool)),
        "attention": lambda: block(x, attention_mask=np.ones((B, S, 4), bool)),
    }
    with pytest.raises(ValueError, match="TransformerEncoderBlock 'enc'.*" + pattern):
        calls[case]()
    with pytest.raises(ValueError, match="not divisible"):
        TransformerEncoderBlock(10, 3, F)


def test_docstring_example():
    run_doctests(module)
