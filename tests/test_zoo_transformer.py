"""Tests of the `transformer` zoo family (zoo/transformer.py)."""

import doctest
import math

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import zoo_checks

import zoo


def _tiny_batch():
    hp = zoo.preset_config("transformer", "tiny")
    return zoo_checks.seq2seq_batch(
        hp["vocabulary_size"], hp["start_token_id"], hp["end_token_id"]
    )


def test_tiny_transformer_trains_saves_exports_and_generates():
    x, y = _tiny_batch()
    source = x["encoder_token_ids"]
    model = zoo_checks.check_zoo_model(
        "transformer",
        x,
        y,
        generate_inputs={"encoder_token_ids": source[:3]},
        max_length=9,
        fit_kwargs=dict(steps=30),
    )
    # The model learned to reverse these 4 sources: greedy decoding from the
    # start id, stopping at the end id, gives back the targets.
    tokens = model.generate(
        {"encoder_token_ids": source},
        max_length=y.shape[1] + 1,
        stop_token_ids=[model.end_token_id],
        jit_compile=False,
    )
    np.testing.assert_array_equal(tokens[:, 1:], y)
    assert (tokens[:, 0] == model.start_token_id).all()


def test_decoder_prompts_of_unequal_length():
    """A forced decoder prefix: cached (parallel prefill) == uncached."""
    model = zoo.build("transformer", "tiny")
    x, _ = _tiny_batch()
    prompts = x["decoder_token_ids"][:, :4].copy()
    prompts[1, 2:] = 0  # lengths 4, 2, 4, 4
    inputs = {"encoder_token_ids": x["encoder_token_ids"], "decoder_token_ids": prompts}
    cached = model.generate(inputs, 10, jit_compile=False)
    uncached = model.generate(inputs, 10, use_cache=False, jit_compile=False)
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[:, :2], prompts[:, :2])
    np.testing.assert_array_equal(cached[[0, 2, 3], :4], prompts[[0, 2, 3]])


def test_pre_ln_untied_variant_generation_cache():
    model = zoo.build("transformer", "tiny", normalize_first=True, tie_embeddings=False)
    assert model.encoder_layer_norm is not None
    x, _ = _tiny_batch()
    inputs = {"encoder_token_ids": x["encoder_token_ids"]}
    cached = model.generate(inputs, 7, sampler="beam", num_beams=2, jit_compile=False)
    uncached = model.generate(
        inputs, 7, sampler="beam", num_beams=2, use_cache=False, jit_compile=False
    )
    np.testing.assert_array_equal(cached, uncached)


def _keras_hub_reference(model):
    """The same architecture from keras-hub layers, with our weights copied."""
    d, heads, dff = model.d_model, model.num_heads, model.dff
    kw = dict(intermediate_dim=dff, num_heads=heads, dropout=0.0)
    kw["layer_norm_epsilon"] = model.layer_norm_epsilon
    encoders = [keras_hub.layers.TransformerEncoder(**kw) for _ in range(2)]
    decoders = [keras_hub.layers.TransformerDecoder(**kw) for _ in range(2)]
    embedding = keras.layers.ReversibleEmbedding(model.vocabulary_size, d)
    position = keras_hub.layers.SinePositionEncoding()

    def reference(source, target):
        source_mask, target_mask = source != 0, target != 0
        x = embedding(source) * math.sqrt(d)
        x = x + position(x)
        for block in encoders:
            x = block(x, padding_mask=source_mask)
        y = embedding(target) * math.sqrt(d)
        y = y + position(y)
        for block in decoders:
            y = block(
                y, x, decoder_padding_mask=target_mask, encoder_padding_mask=source_mask
            )
        return embedding(y, reverse=True)

    x, _ = _tiny_batch()
    reference(x["encoder_token_ids"], x["decoder_token_ids"])  # builds
    theirs = {}
    for prefix, blocks in (("encoder", encoders), ("decoder", decoders)):
        for i, block in enumerate(blocks):
            for w in block.weights:
                path = w.path.split("/", 1)[1]
                path = path.replace("self_attention_layer/", "self_attention/")
                theirs[f"{prefix}_layer_{i}/{path}"] = w
    theirs["token_embedding/embeddings"] = embedding.embeddings
    renames = {
        "/wq/": "/query/",
        "/wk/": "/key/",
        "/wv/": "/value/",
        "/dense/": "/attention_output/",
        "feed_forward/intermediate_dense": "feedforward_intermediate_dense",
        "feed_forward/output_dense": "feedforward_output_dense",
    }
    pairs = []
    for w in model.weights:
        path = w.path
        for old, new in renames.items():
            path = path.replace(old, new)
        target = theirs.pop(path)
        target.assign(np.reshape(w.numpy(), target.shape))
        pairs.append((w, target))
    assert not theirs, f"reference weights left without a copy: {sorted(theirs)}"
    return reference, pairs


def test_matches_keras_hub_layers():
    """Logits and gradients equal a keras-hub TransformerEncoder/Decoder stack
    with the paper's sinusoids (keras-hub's SinePositionEncoding)."""
    model = zoo.build("transformer", "tiny")
    rng = np.random.default_rng(2)
    for w in model.weights:  # move biases and norms off 0 / 1
        w.assign(w.numpy() + 0.05 * rng.standard_normal(w.shape))
    reference, pairs = _keras_hub_reference(model)
    x, _ = _tiny_batch()
    source, target = x["encoder_token_ids"], x["decoder_token_ids"]
    probe = rng.standard_normal((*target.shape, model.vocabulary_size))

    with tf.GradientTape(persistent=True) as tape:
        ours = model(x)
        theirs = reference(source, target)
        our_loss = tf.reduce_sum(ours * probe)
        their_loss = tf.reduce_sum(theirs * probe)
    real = target != 0
    np.testing.assert_allclose(
        np.asarray(ours)[real], np.asarray(theirs)[real], atol=1e-5, rtol=0
    )
    our_grads = tape.gradient(our_loss, [a for a, _ in pairs])
    their_grads = tape.gradient(their_loss, [b for _, b in pairs])
    for (a, _), ga, gb in zip(pairs, our_grads, their_grads):
        np.testing.assert_allclose(
            np.reshape(ga, gb.shape), gb, atol=1e-4, rtol=1e-4, err_msg=a.path
        )


def test_padding_and_causality():
    model = zoo.build("transformer", "tiny")
    x, _ = _tiny_batch()
    base = np.asarray(model(x))
    # More encoder padding changes nothing.
    padded = dict(x)
    padded["encoder_token_ids"] = np.pad(x["encoder_token_ids"], ((0, 0), (0, 3)))
    np.testing.assert_allclose(np.asarray(model(padded)), base, atol=1e-5)
    # Later decoder tokens do not change earlier logits; source tokens do.
    changed = dict(x)
    changed["decoder_token_ids"] = x["decoder_token_ids"].copy()
    changed["decoder_token_ids"][:3, 5:] = 3
    out = np.asarray(model(changed))
    np.testing.assert_allclose(out[:, :5], base[:, :5], atol=1e-5)
    changed = dict(x, encoder_token_ids=x["encoder_token_ids"][:, ::-1].copy())
    assert not np.allclose(np.asarray(model(changed))[:3], base[:3], atol=1e-3)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="Transformer: d_model=30 is not divisible"):
        zoo.build("transformer", "tiny", d_model=30)
    with pytest.raises(ValueError, match=r"Transformer: start_token_id must be an id"):
        zoo.build("transformer", "tiny", start_token_id=64)
    with pytest.raises(ValueError, match=r"Known presets: \['base', 'big', 'tiny'\]"):
        zoo.build("transformer", "huge")


# Slower (~2 s each): builds the 63M / 214M models (weights left uninitialized).
@pytest.mark.parametrize(
    "preset, published, exact",
    [("base", 65_000_000, 63_082_496), ("big", 213_000_000, 214_245_376)],
)
def test_published_parameter_counts(preset, published, exact):
    count = zoo_checks.count_parameters("transformer", preset)
    assert abs(count - published) <= 0.03 * published, (preset, count)
    assert count == exact


def test_docstring_examples():
    import zoo.transformer

    result = doctest.testmod(zoo.transformer, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
