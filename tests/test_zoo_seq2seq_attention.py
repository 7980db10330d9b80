"""Tests of the `seq2seq_attention` zoo family (zoo/seq2seq_attention.py)."""

import keras
import numpy as np
import pytest
import zoo_checks

import zoo
from zoo.seq2seq_attention import AttentionDecoderCell, Seq2SeqAttention

ATTENTIONS = ("bahdanau", "luong_dot", "luong_general", "luong_concat")


def _batch(**overrides):
    hp = zoo.preset_config("seq2seq_attention", "tiny", **overrides)
    return zoo_checks.seq2seq_batch(
        hp["vocabulary_size"], hp["start_token_id"], hp["end_token_id"]
    )


def test_tiny_preset_all_checks():
    x, y = _batch()
    zoo_checks.check_zoo_model(
        "seq2seq_attention",
        x,
        y,
        generate_inputs={"encoder_token_ids": x["encoder_token_ids"]},
        max_length=8,
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"attention": "luong_dot", "bidirectional": False, "decoder_dim": 64},
        {"attention": "luong_general", "cell": "lstm", "num_decoder_layers": 2},
        {"attention": "luong_concat", "num_encoder_layers": 2},
    ],
    ids=lambda o: "-".join(str(v) for v in o.values()),
)
def test_variants_train_and_decode(overrides):
    model = zoo.build("seq2seq_attention", "tiny", **overrides)
    x, y = _batch(**overrides)
    zoo_checks.check_fit(model, x, y, steps=12)
    source = {"encoder_token_ids": x["encoder_token_ids"]}
    for sampler in ("greedy", "beam"):
        cached, uncached = (
            model.generate(
                source, 7, sampler=sampler, num_beams=2, use_cache=c, jit_compile=False
            )
            for c in (True, False)
        )
        np.testing.assert_array_equal(cached, uncached, err_msg=sampler)
    assert (cached[:, 0] == model.start_token_id).all()


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_step_attention_equals_the_attention_layer(attention, rng):
    """The cell's per-step attention (keys projected once) is the layer's."""
    cell = AttentionDecoderCell("gru", 8, 1, attention, 5, memory_dim=8)
    cell.build((None, 3))
    query = rng.normal(size=(3, 8)).astype("float32")
    memory = rng.normal(size=(3, 6, 8)).astype("float32")
    mask = np.ones((3, 6), "float32")
    mask[1, 4:] = 0
    context, weights = cell.attend(query, memory, cell.project_keys(memory), mask)
    expected = cell.attention_layer(query, memory, mask=mask.astype(bool))
    np.testing.assert_allclose(context, expected[0], atol=1e-6)
    np.testing.assert_allclose(weights, expected[1], atol=1e-6)
    assert np.all(np.asarray(weights)[1, 4:] == 0)
    clone = AttentionDecoderCell.from_config(cell.get_config())
    assert clone.get_config() == cell.get_config()


@pytest.mark.parametrize("attention", ["bahdanau", "luong_general"])
def test_teacher_forcing_is_causal_and_source_padding_is_ignored(attention, rng):
    model = zoo.build("seq2seq_attention", "tiny", attention=attention)
    x, _ = _batch()
    logits = np.asarray(model(x))
    # Changing decoder inputs after step t leaves the logits up to t alone.
    changed = dict(x, decoder_token_ids=x["decoder_token_ids"].copy())
    changed["decoder_token_ids"][:, 4:] = rng.integers(4, 64, size=(4, 4))
    np.testing.assert_allclose(np.asarray(model(changed))[:, :4], logits[:, :4])
    assert not np.allclose(np.asarray(model(changed))[:, 5:], logits[:, 5:])
    # Extra source padding changes nothing.
    padded = dict(x, encoder_token_ids=np.pad(x["encoder_token_ids"], ((0, 0), (0, 3))))
    np.testing.assert_allclose(np.asarray(model(padded)), logits, atol=1e-5)


def test_jit_compiled_training_step():
    """The training tool compiles with XLA (and Keras does by default on GPUs)."""
    model = zoo.build("seq2seq_attention", "tiny", attention="luong_concat")
    x, y = _batch()
    zoo_checks.check_fit(model, x, y, steps=12, jit_compile=True)


def test_mixed_precision_forward_and_generate():
    keras.config.set_dtype_policy("mixed_float16")
    model = zoo.build("seq2seq_attention", "tiny", cell="lstm")
    x, _ = _batch()
    logits = model(x)
    assert keras.backend.standardize_dtype(logits.dtype) == "float16"
    assert np.all(np.isfinite(np.asarray(logits, "float32")))
    source = {"encoder_token_ids": x["encoder_token_ids"]}
    tokens = model.generate(source, 6, jit_compile=False)
    assert tokens.shape == (4, 6) and tokens.min() >= 1


def test_bad_hyperparameters():
    hp = zoo.preset_config("seq2seq_attention", "tiny")
    cases = [
        ({"attention": "luong_dot"}, "decoder_dim \\(128\\) must equal"),
        ({"attention": "multiplicative"}, "attention must be one of"),
        ({"cell": "rnn"}, "cell must be one of"),
        ({"start_token_id": 64}, "start_token_id must be an id in"),
        ({"num_decoder_layers": 0}, "num_decoder_layers must be a positive int"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            Seq2SeqAttention(**{**hp, **overrides, "encoder_dim": 32})
