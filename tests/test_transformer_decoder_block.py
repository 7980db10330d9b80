"""TransformerDecoderBlock: layer checks, keras-hub parity, causality, cache,
and TFLite conversion of small encoder and decoder models."""

import tempfile

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from _attention_helpers import outputs_and_grads, run_doctests
from test_transformer_encoder_block import copy_keras_hub_block_weights

from keras_seq.layers import (
    PositionalEncoding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from keras_seq.layers import transformer_decoder_block as module
from keras_seq.testing import run_layer_test

B, T, S, D, H, F = 2, 4, 5, 8, 2, 12


def _padding(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def _inputs(rng, length=T):
    y = rng.normal(size=(B, length, D)).astype("float32")
    e = rng.normal(size=(B, S, D)).astype("float32")
    return y, e


def test_layer_properties_with_cross_attention_and_masks(rng):
    y, e = _inputs(rng)
    run_layer_test(
        TransformerDecoderBlock,
        {"d_model": D, "num_heads": H, "dff": F, "normalize_first": True},
        {
            "decoder_sequence": y,
            "encoder_sequence": e,
            "decoder_padding_mask": _padding([4, 3], T),
            "encoder_padding_mask": _padding([5, 2], S),
        },
        expected_output_shape=(B, T, D),
    )


@pytest.mark.parametrize("normalize_first", [False, True])
def test_parity_with_keras_hub_transformer_decoder(rng, normalize_first):
    y, e = _inputs(rng)
    dec_mask, enc_mask = _padding([4, 3], T), _padding([5, 2], S)
    theirs = keras_hub.layers.TransformerDecoder(F, H, normalize_first=normalize_first)
    ours = TransformerDecoderBlock(D, H, F, normalize_first=normalize_first)
    theirs(y, e)
    ours(y, e)
    their_vars, our_vars = copy_keras_hub_block_weights(theirs, ours, rng)
    assert len(our_vars) == len(ours.weights) == len(theirs.weights)
    cot = [rng.normal(size=(B, T, D)).astype("float32")]

    def run(layer):
        def fn(y, e, dm, em):
            return layer(y, e, decoder_padding_mask=dm, encoder_padding_mask=em)

        return fn

    args = [y, e, dec_mask, enc_mask]
    got, got_grads = outputs_and_grads(run(ours), args, our_vars, cot)
    want, want_grads = outputs_and_grads(run(theirs), args, their_vars, cot)
    np.testing.assert_allclose(got[0], want[0], atol=1e-5)
    for a, b in zip(got_grads, want_grads):
        np.testing.assert_allclose(a, b.reshape(a.shape), atol=1e-5)


def test_causal_output_ignores_the_future(rng):
    y, e = _inputs(rng, length=6)
    block = TransformerDecoderBlock(D, H, F)
    t = 2
    changed = y.copy()
    changed[:, t + 1 :] = rng.normal(size=changed[:, t + 1 :].shape)
    a, b = np.asarray(block(y, e)), np.asarray(block(changed, e))
    np.testing.assert_allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-5)
    assert not np.allclose(a[:, t + 1 :], b[:, t + 1 :], atol=1e-3)
    # Without the causal mask the future leaks in.
    a = np.asarray(block(y, e, use_causal_mask=False))
    b = np.asarray(block(changed, e, use_causal_mask=False))
    assert not np.allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-3)


def test_padded_encoder_positions_change_nothing(rng):
    y, e = _inputs(rng)
    keep = _padding([2, 5], S)
    block = TransformerDecoderBlock(D, H, F)
    noisy = np.where(keep[..., None], e, 9.0).astype("float32")
    a = block(y, e, encoder_padding_mask=keep)
    b = block(y, noisy, encoder_padding_mask=keep)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_cached_decoding_equals_full_forward(rng, normalize_first):
    length = 5
    y, e = _inputs(rng, length=length)
    enc_mask = _padding([5, 3], S)
    block = TransformerDecoderBlock(D, H, F, normalize_first=normalize_first)
    full = np.asarray(block(y, e, encoder_padding_mask=enc_mask))

    @tf.function(jit_compile=True)
    def step(token, self_cache, cross_cache, index):
        return block(
            token,
            e,
            encoder_padding_mask=enc_mask,
            self_attention_cache=self_cache,
            self_attention_cache_update_index=index,
            cross_attention_cache=cross_cache,
        )

    # Step 0 fills the cross-attention cache; later steps reuse it under XLA.
    out, self_cache, cross_cache = block(
        y[:, :1],
        e,
        encoder_padding_mask=enc_mask,
        self_attention_cache=block.initial_cache(B, length),
        self_attention_cache_update_index=0,
        cross_attention_cache=block.cross_attention.initial_cache(B, S),
        cross_attention_cache_update_index=0,
    )
    outputs = [np.asarray(out)]
    for t in range(1, length):
        out, self_cache, cross_cache = step(
            y[:, t : t + 1], self_cache, cross_cache, tf.constant(t)
        )
        outputs.append(np.asarray(out))
    np.testing.assert_allclose(np.concatenate(outputs, 1), full, atol=1e-5)


def test_decoder_only_keras_round_trip(rng, tmp_path):
    y, _ = _inputs(rng)
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, TransformerDecoderBlock(D, H, F)(inputs))
    path = str(tmp_path / "decoder.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert reloaded.layers[-1].cross_attention is None
    np.testing.assert_allclose(np.asarray(reloaded(y)), np.asarray(model(y)), atol=1e-6)


def test_bad_input(rng):
    y, e = _inputs(rng)
    block = TransformerDecoderBlock(D, H, F, name="dec")
    block(y)
    with pytest.raises(ValueError, match="'dec' was built without cross-attention"):
        block(y, e)
    with pytest.raises(ValueError, match=r"'dec'.*d_model=8.*\(2, 4, 6\)"):
        block(y[..., :6])
    with pytest.raises(
        ValueError, match=r"'dec'.*`decoder_padding_mask` has shape \(2, 4\).*\(2, 7\)"
    ):
        block(
            y[:, :1],
            decoder_padding_mask=np.ones((B, T), bool),
            self_attention_cache=block.initial_cache(B, 7),
            self_attention_cache_update_index=0,
        )
    with pytest.raises(ValueError, match="'dec' has no cross-attention"):
        block(y, cross_attention_cache=np.zeros((B, 2, S, H, D // H), "float32"))
    cross = TransformerDecoderBlock(D, H, F, name="cross")
    cross(y, e)
    with pytest.raises(ValueError, match="'cross' was built with cross-attention"):
        cross(y)


def _convert_builtins_only(fn, specs, layers):
    """Converts with TFLITE_BUILTINS only and returns a LiteRT interpreter.

    Goes through a SavedModel written by `keras.export.ExportArchive` (the
    path of Keras's own LiteRT export), which freezes the variables.
    """
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        for layer in layers:
            archive.track(layer)
        archive.add_endpoint("serve", fn, input_signature=specs)
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    ops_used = {op["op_name"] for op in interpreter._get_ops_details()}
    flex = sorted(op for op in ops_used if "flex" in op.lower() or op == "CUSTOM")
    assert not flex, f"non-builtin ops in the TFLite model: {flex}"
    return interpreter


def _run_tflite(interpreter, **inputs):
    """Runs the default signature; outputs in order (`output_0`, ...)."""
    results = interpreter.get_signature_runner()(**inputs)
    return [results[k] for k in sorted(results, key=lambda n: int(n.split("_")[-1]))]


def test_tflite_encoder_and_decoder_step_builtin_ops_only(rng):
    """Both conversions in one test: the TFLite converter leaks memory."""
    y, e = _inputs(rng)
    enc_mask = _padding([5, 3], S)
    positions = PositionalEncoding(16, D)
    encoder = TransformerEncoderBlock(D, H, F, activation="gelu")
    decoder = TransformerDecoderBlock(D, H, F, normalize_first=True)
    positions(e)
    encoder(e)
    decoder(y, e)

    def encode(x, mask):
        return encoder(positions(x), padding_mask=mask)

    def decode_step(token, memory, mask, cache, index):
        x = positions(token, start_index=index)
        return decoder(
            x,
            memory,
            encoder_padding_mask=mask,
            self_attention_cache=cache,
            self_attention_cache_update_index=index,
        )

    layers = [positions, encoder, decoder]
    interpreter = _convert_builtins_only(
        encode, [tf.TensorSpec((B, S, D)), tf.TensorSpec((B, S), tf.bool)], layers
    )
    (got,) = _run_tflite(interpreter, x=e, mask=enc_mask)
    np.testing.assert_allclose(got, np.asarray(encode(e, enc_mask)), atol=1e-4)

    cache_shape = (B, 2, T, H, D // H)
    interpreter = _convert_builtins_only(
        decode_step,
        [
            tf.TensorSpec((B, 1, D)),
            tf.TensorSpec((B, S, D)),
            tf.TensorSpec((B, S), tf.bool),
            tf.TensorSpec(cache_shape),
            tf.TensorSpec((), tf.int32),
        ],
        layers,
    )
    # Decode T steps with each; compare every step's output and cache.
    memory = np.asarray(encode(e, enc_mask))
    lite_cache = keras_cache = np.zeros(cache_shape, "float32")
    steps = []
    for t in range(T):
        args = {"token": y[:, t : t + 1], "memory": memory, "mask": enc_mask}
        lite_out, lite_cache = _run_tflite(
            interpreter, **args, cache=lite_cache, index=np.int32(t)
        )
        keras_out, keras_cache = decode_step(**args, cache=keras_cache, index=t)
        np.testing.assert_allclose(lite_out, np.asarray(keras_out), atol=1e-4)
        np.testing.assert_allclose(lite_cache, np.asarray(keras_cache), atol=1e-4)
        steps.append(lite_out)
    # And the TFLite steps together are the full causal forward pass.
    full = decoder(positions(y), memory, encoder_padding_mask=enc_mask)
    np.testing.assert_allclose(np.concatenate(steps, 1), np.asarray(full), atol=1e-4)


def test_docstring_example():
    run_doctests(module)
