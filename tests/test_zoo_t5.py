"""Tests of the `t5` zoo family (zoo/t5.py)."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import zoo_checks

import zoo
from zoo.t5 import T5


def _tiny_batch():
    hp = zoo.preset_config("t5", "tiny")
    return zoo_checks.seq2seq_batch(
        hp["vocabulary_size"], hp["start_token_id"], hp["end_token_id"]
    )


def test_tiny_t5_trains_saves_exports_and_generates():
    x, y = _tiny_batch()
    zoo_checks.check_zoo_model(
        "t5",
        x,
        y,
        # No decoder prompt: every row starts from start_token_id.
        generate_inputs={"encoder_token_ids": x["encoder_token_ids"][:3]},
        max_length=8,
    )


# --------------------------------------------------------------------------
# Parity with keras-hub's T5 (v1.0 layout: ReLU, no gating, tied embeddings).


def _keras_hub_t5(hp):
    backbone = keras_hub.models.T5Backbone(
        vocabulary_size=hp["vocabulary_size"],
        num_layers=hp["num_layers"],
        num_heads=hp["num_heads"],
        hidden_dim=hp["d_model"],
        intermediate_dim=hp["dff"],
        dropout=0.0,
        activation="relu",
        use_gated_activation=False,
        layer_norm_epsilon=hp["layer_norm_epsilon"],
        tie_embedding_weights=True,
    )
    return keras_hub.models.T5Seq2SeqLM(backbone=backbone, preprocessor=None)


def _attention_pairs(theirs, ours, depth):
    """(their variable, our variable, factor): ours = theirs * factor.

    T5 does not divide the logits by sqrt(depth); our attention does, so our
    W^Q is T5's times sqrt(depth).
    """
    return [
        (theirs.query_projector.kernel, ours.wq.kernel, np.sqrt(depth)),
        (theirs.key_projector.kernel, ours.wk.kernel, 1.0),
        (theirs.value_projector.kernel, ours.wv.kernel, 1.0),
        (theirs.output_projector.kernel, ours.dense.kernel, 1.0),
    ]


def _weight_pairs(reference, model):
    backbone = reference.backbone
    depth = model.d_model // model.num_heads
    pairs = [(backbone.token_embedding.embeddings, model.token_embedding.embeddings, 1)]
    stacks = [
        (backbone.encoder_transformer_layers, model.encoder_layers),
        (backbone.decoder_transformer_layers, model.decoder_layers),
    ]
    for their_layers, our_layers in stacks:
        for theirs, ours in zip(their_layers, our_layers):
            pairs += _attention_pairs(theirs.self_attention, ours.self_attention, depth)
            pairs.append(
                (
                    theirs.self_attention_layer_norm.weight,
                    ours.self_attention_layer_norm.scale,
                    1,
                )
            )
            if getattr(ours, "cross_attention", None) is not None:
                pairs += _attention_pairs(
                    theirs.cross_attention, ours.cross_attention, depth
                )
                pairs.append(
                    (
                        theirs.cross_attention_layer_norm.weight,
                        ours.cross_attention_layer_norm.scale,
                        1,
                    )
                )
            pairs += [
                (theirs.layer_norm.weight, ours.feedforward_layer_norm.scale, 1),
                (
                    theirs.input_projector.kernel,
                    ours.feed_forward.intermediate_dense.kernel,
                    1,
                ),
                (
                    theirs.output_projector.kernel,
                    ours.feed_forward.output_dense.kernel,
                    1,
                ),
            ]
    encoder_bias = backbone.encoder_transformer_layers[0].self_attention
    decoder_bias = backbone.decoder_transformer_layers[0].self_attention
    pairs += [
        (
            encoder_bias.relative_attention_bias,
            model.encoder_position_bias.embeddings,
            1,
        ),
        (
            decoder_bias.relative_attention_bias,
            model.decoder_position_bias.embeddings,
            1,
        ),
        (backbone.encoder_layer_norm.weight, model.encoder_output_layer_norm.scale, 1),
        (backbone.decoder_layer_norm.weight, model.decoder_output_layer_norm.scale, 1),
    ]
    return pairs


# keras-hub's T5 attention warns about the Keras mask of its inputs.
@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_matches_keras_hub_t5_with_copied_weights():
    """Logits and gradients equal keras-hub's T5Seq2SeqLM with our weights."""
    # The default 32 buckets / distance 128 (keras-hub's fixed values).
    overrides = {
        "dropout": 0.0,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
    }
    hp = zoo.preset_config("t5", "tiny", **overrides)
    model = zoo.build("t5", "tiny", **overrides)
    reference = _keras_hub_t5(hp)
    x, _ = _tiny_batch()
    ref_inputs = {
        **x,
        "encoder_padding_mask": x["encoder_token_ids"] != 0,
        "decoder_padding_mask": x["decoder_token_ids"] != 0,
    }
    reference(ref_inputs)  # builds keras-hub's lazily built sublayers
    pairs = _weight_pairs(reference, model)
    assert len(pairs) == len(model.weights) == len(reference.weights)
    assert {id(ours) for _, ours, _ in pairs} == {id(w) for w in model.weights}
    # Random norms too (they start at 1), so every weight matters.
    rng = np.random.default_rng(3)
    for theirs, ours, factor in pairs:
        value = rng.normal(scale=0.1, size=theirs.shape).astype("float32")
        if "norm" in ours.path:
            value += 1.0
        theirs.assign(value)
        ours.assign(value * factor)

    probe = rng.normal(size=(*x["decoder_token_ids"].shape, hp["vocabulary_size"]))
    with tf.GradientTape(persistent=True) as tape:
        ours = model(x)
        theirs = reference(ref_inputs)
        our_loss = tf.reduce_sum(ours * probe)
        their_loss = tf.reduce_sum(theirs * probe)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)
    our_grads = tape.gradient(our_loss, [p[1] for p in pairs])
    their_grads = tape.gradient(their_loss, [p[0] for p in pairs])
    for (theirs_var, _, factor), a, b in zip(pairs, our_grads, their_grads):
        # d/d(ours) = d/d(theirs) / factor, as ours = theirs * factor.
        np.testing.assert_allclose(
            tf.convert_to_tensor(a).numpy() * factor,
            tf.convert_to_tensor(b).numpy(),
            atol=1e-5,
            rtol=1e-4,
            err_msg=theirs_var.path,
        )


# --------------------------------------------------------------------------
# Cache, masks and causality.


def test_cached_steps_equal_the_full_forward_pass():
    model = zoo.build("t5", "tiny")
    x, _ = _tiny_batch()
    full = np.asarray(model(x))
    decoder = x["decoder_token_ids"]
    cache = model.build_cache(x)
    # Prefill 3 positions at once, then one token at a time.
    logits, cache = model.call_with_cache(decoder[:, :3], cache, 0)
    steps = [np.asarray(logits)]
    for t in range(3, decoder.shape[1]):
        logits, cache = model.call_with_cache(decoder[:, t : t + 1], cache, t)
        steps.append(np.asarray(logits))
    cached = np.concatenate(steps, axis=1)
    real = decoder != 0
    np.testing.assert_allclose(cached[real], full[real], atol=1e-5, rtol=0)


def test_causal_decoder_and_encoder_padding():
    model = zoo.build("t5", "tiny")
    x, _ = _tiny_batch()
    before = np.asarray(model(x))
    # Later decoder tokens do not change earlier logits.
    changed = x["decoder_token_ids"].copy()
    changed[:, 4:] = np.where(changed[:, 4:] > 0, 7, 0)
    after = np.asarray(model({**x, "decoder_token_ids": changed}))
    np.testing.assert_allclose(after[:, :4], before[:, :4], atol=1e-5, rtol=0)
    assert not np.allclose(after[:, 4:], before[:, 4:], atol=1e-3)
    # More encoder padding changes nothing.
    padded = np.pad(x["encoder_token_ids"], ((0, 0), (0, 5)))
    more = np.asarray(model({**x, "encoder_token_ids": padded}))
    np.testing.assert_allclose(more, before, atol=1e-5, rtol=0)
    # The encoder is read: another source changes the logits.
    other = np.asarray(model({**x, "encoder_token_ids": padded[::-1]}))
    assert not np.allclose(other, before, atol=1e-3)


def test_generation_continues_a_decoder_prompt():
    model = zoo.build("t5", "tiny")
    x, _ = _tiny_batch()
    inputs = {
        "encoder_token_ids": x["encoder_token_ids"][:2],
        "decoder_token_ids": np.array([[1, 9, 4], [1, 5, 0]], "int32"),
    }
    cached = model.generate(inputs, 7, jit_compile=False)
    uncached = model.generate(inputs, 7, use_cache=False, jit_compile=False)
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[0, :3], [1, 9, 4])
    np.testing.assert_array_equal(cached[1, :2], [1, 5])
    assert cached[1, 2:].min() > 0


def test_mixed_precision_forward_and_cached_generation():
    keras.config.set_dtype_policy("mixed_float16")
    model = zoo.build("t5", "tiny")
    x, _ = _tiny_batch()
    logits = model(x)
    # Layers compute in float16; the tied output projection returns float32
    # logits (ReversibleEmbedding's default), which keeps the softmax stable.
    assert model.get_layer("decoder_layer_0").self_attention.compute_dtype == "float16"
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(logits, "float32")))
    assert all(w.dtype == "float32" for w in model.weights)
    inputs = {"encoder_token_ids": x["encoder_token_ids"][:2]}
    cached = model.generate(inputs, 6, jit_compile=False)
    uncached = model.generate(inputs, 6, use_cache=False, jit_compile=False)
    np.testing.assert_array_equal(cached, uncached)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="T5: d_model=30 is not divisible"):
        zoo.build("t5", "tiny", d_model=30)
    # T5 checkpoints start decoding from the pad id 0; the end id may not be 0.
    with pytest.raises(ValueError, match=r"T5: start_token_id must be an id in \[0,"):
        zoo.build("t5", "tiny", start_token_id=128)
    with pytest.raises(ValueError, match=r"T5: end_token_id must be an id in \[1,"):
        zoo.build("t5", "tiny", end_token_id=0)
    with pytest.raises(ValueError, match="T5: activation must be one of"):
        zoo.t5.build_model(**zoo.preset_config("t5"), activation="tanh")
    with pytest.raises(ValueError, match="T5: num_layers must be a positive int"):
        zoo.build("t5", "tiny", num_layers=0)
    with pytest.raises(ValueError, match=r"RelativePositionBias.*max_distance=2"):
        zoo.build("t5", "tiny", relative_attention_max_distance=2)
    with pytest.raises(ValueError, match=r"Unknown override\(s\) \['hidden_dim'\]"):
        zoo.build("t5", "tiny", hidden_dim=32)


# Slower: builds the 60M and 223M models. Weights are created without random
# initialization (a stateless scope) to keep it to seconds; shapes are real.
@pytest.mark.parametrize(
    "preset, published", [("small", 60_000_000), ("base", 220_000_000)]
)
def test_published_parameter_counts(preset, published):
    with keras.StatelessScope(initialize_variables=False):
        model = zoo.build("t5", preset)
    assert isinstance(model, T5)
    count = model.count_params()
    assert abs(count - published) <= 0.03 * published, (preset, count)
    keras.utils.clear_session()
