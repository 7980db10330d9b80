"""Tests of the `gpt` zoo family (zoo/gpt.py)."""

import doctest

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import zoo_checks

import zoo


def _tiny_batch():
    hparams = zoo.preset_config("gpt", "tiny")
    return zoo_checks.lm_batch(hparams["vocabulary_size"], batch_size=4, length=12)


def test_tiny_gpt_trains_saves_exports_and_generates():
    x, y = _tiny_batch()
    zoo_checks.check_zoo_model(
        "gpt",
        x,
        y,
        generate_inputs={"token_ids": x["token_ids"][:3, :3]},
        max_length=10,
    )


def test_post_ln_gpt_generation_cache():
    """The original GPT layout (post-LN, no final LayerNorm), untied output."""
    model = zoo.build("gpt", "tiny", normalize_first=False, tie_embeddings=False)
    assert model.layer_norm is None
    prompts = np.array([[5, 6, 7, 8], [9, 10, 0, 0]], "int32")
    cached = model.generate(prompts, 9, jit_compile=False)
    uncached = model.generate(prompts, 9, use_cache=False, jit_compile=False)
    np.testing.assert_array_equal(cached, uncached)


def test_mixed_precision_generation():
    keras.config.set_dtype_policy("mixed_float16")  # conftest restores float32
    model = zoo.build("gpt", "tiny")
    prompts = np.array([[5, 6, 7], [9, 10, 11]], "int32")
    logits = model({"token_ids": prompts})
    assert model.compute_dtype == "float16"
    assert all(w.dtype == "float32" for w in model.weights)
    assert np.all(np.isfinite(np.asarray(logits, "float32")))
    cached = model.generate(prompts, 8, jit_compile=False)
    uncached = model.generate(prompts, 8, use_cache=False, jit_compile=False)
    np.testing.assert_array_equal(cached, uncached)


def _copy_weights_to_keras_hub(model, backbone):
    """Copies our weights into a `GPT2Backbone`: same order, reshaped heads."""
    ours, theirs = model.weights, backbone.weights
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.path.split("/")[-1] in (b.path.split("/")[-1], "embeddings")
        b.assign(np.reshape(a.numpy(), b.shape))


def test_matches_keras_hub_gpt2_backbone():
    """Logits and gradients equal keras-hub's GPT-2 with the same weights."""
    hp = zoo.preset_config("gpt", "tiny")
    model = zoo.build("gpt", "tiny")
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=hp["vocabulary_size"],
        num_layers=hp["num_layers"],
        num_heads=hp["num_heads"],
        hidden_dim=hp["d_model"],
        intermediate_dim=hp["dff"],
        dropout=0.0,
        max_sequence_length=hp["max_sequence_length"],
    )
    # Perturb biases and norms away from their 0/1 initial values first.
    rng = np.random.default_rng(1)
    for w in model.weights:
        w.assign(w.numpy() + 0.05 * rng.standard_normal(w.shape))
    _copy_weights_to_keras_hub(model, backbone)
    x, _ = _tiny_batch()
    token_ids = x["token_ids"]
    padding_mask = token_ids != 0
    probe = rng.standard_normal((*token_ids.shape, hp["vocabulary_size"]))

    with tf.GradientTape() as tape:
        ours = model({"token_ids": token_ids})
        our_loss = tf.reduce_sum(ours * probe)
    our_grads = tape.gradient(our_loss, model.trainable_weights)
    with tf.GradientTape() as tape:
        hidden = backbone({"token_ids": token_ids, "padding_mask": padding_mask})
        theirs = backbone.token_embedding(hidden, reverse=True)
        their_loss = tf.reduce_sum(theirs * probe)
    their_grads = tape.gradient(their_loss, backbone.trainable_weights)

    # Compare where the padding mask lets both see the same tokens.
    real = padding_mask
    np.testing.assert_allclose(
        np.asarray(ours)[real], np.asarray(theirs)[real], atol=1e-5, rtol=0
    )
    for a, b, w in zip(our_grads, their_grads, backbone.trainable_weights):
        np.testing.assert_allclose(
            np.asarray(a).reshape(b.shape), b, atol=1e-4, rtol=1e-4, err_msg=w.path
        )


def test_causal_and_right_padding():
    """Changing later tokens leaves earlier logits unchanged."""
    model = zoo.build("gpt", "tiny")
    x, _ = _tiny_batch()
    tokens = x["token_ids"].copy()
    before = np.asarray(model({"token_ids": tokens}))
    tokens[:, 6:] = np.where(tokens[:, 6:] > 0, 1, 0)
    after = np.asarray(model({"token_ids": tokens}))
    np.testing.assert_allclose(after[:, :6], before[:, :6], atol=1e-5)
    assert not np.allclose(after[:, 6:], before[:, 6:], atol=1e-3)


def test_bad_hyperparameters_and_lengths():
    with pytest.raises(ValueError, match="GPT: d_model=30 is not divisible"):
        zoo.build("gpt", "tiny", d_model=30)
    with pytest.raises(ValueError, match=r"Unknown override\(s\) \['hidden_dim'\]"):
        zoo.build("gpt", "tiny", hidden_dim=30)
    model = zoo.build("gpt", "tiny")
    with pytest.raises(ValueError, match="exceeds the model's max_sequence_length"):
        model.generate({"token_ids": [[3, 4]]}, max_length=33)


# Slower (~2 s each): builds the 117M / 124M models (weights left uninitialized).
@pytest.mark.parametrize(
    "preset, published, exact",
    [("gpt", 117_000_000, 116_534_784), ("gpt2", 124_000_000, 124_439_808)],
)
def test_published_parameter_counts(preset, published, exact):
    count = zoo_checks.count_parameters("gpt", preset)
    assert abs(count - published) <= 0.03 * published, (preset, count)
    # GPT-2 124M is exactly keras-hub's / Hugging Face's "gpt2" count.
    assert count == exact


def test_docstring_examples():
    import zoo.gpt

    result = doctest.testmod(zoo.gpt, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
