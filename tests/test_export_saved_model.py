"""SavedModel export (TF Serving layout) reloaded in a process without keras_seq.

Each test exports a tiny zoo model (random weights, see `export_runs`) and
runs the SavedModel's signatures with TensorFlow alone; the references are
built here from the Keras model directly (`model(...)`, `model.generate(...)`)
and the tokenizer, not from the export code.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from export_runs import make_model_dir, texts_of

from keras_seq.export import load_run
from keras_seq.export.saved_model import export_saved_model, read_metadata
from keras_seq.testing.saved_model_check import run_signatures_in_clean_process

PROMPTS = ["the fox ", "a lazy dog jumps", ""]


def _prompt_buffer(tokenizer, prompts, length):
    """Right-padded prompt ids; `<s>` for an empty prompt (as documented)."""
    rows = []
    for text in prompts:
        ids = list(np.asarray(tokenizer.tokenize(text)))[-(length - 1) :]
        rows.append((ids or [tokenizer.special_ids["bos"]]) + [0] * length)
    return np.asarray([r[:length] for r in rows], "int32")


def _continuations(tokenizer, tokens, prompt):
    out = []
    for row, mask in zip(tokens, prompt != 0):
        text = tokenizer.detokenize(row[~mask]).numpy().decode("utf-8")
        out.append(text)
    return out


def test_char_rnn_saved_model_serves_ids_and_text(tmp_path):
    run = load_run(make_model_dir(tmp_path, "char_rnn", cell="gru"))
    output = tmp_path / "serving"
    report = export_saved_model(run, output, version=3, max_length=12)
    export_dir = output / "3"
    assert (export_dir / "saved_model.pb").is_file()
    assert not [p for p in os.listdir(output) if p != "3"], os.listdir(output)
    assert report["signatures"] == ["serving_default", "serve_text"]
    assert report["size_bytes"] > 0 and report["latency_ms"] > 0
    assert read_metadata(export_dir)["kind"] == "language_model"

    model, tokenizer = run.model, run.tokenizer
    ids = np.asarray([[5, 6, 7, 8, 0], [9, 10, 0, 0, 0]], "int32")
    prompt = _prompt_buffer(tokenizer, PROMPTS, 12)
    (logits, _), (text_out, _) = run_signatures_in_clean_process(
        export_dir,
        [("serving_default", {"token_ids": ids}), ("serve_text", {"text": PROMPTS})],
    )
    np.testing.assert_allclose(logits["logits"], model({"token_ids": ids}), atol=1e-5)
    # Greedy continuation, as model.generate gives it (stopping at </s>).
    eos = tokenizer.special_ids["eos"]
    tokens = model.generate(prompt, 12, stop_token_ids=[eos], jit_compile=False)
    np.testing.assert_array_equal(text_out["token_ids"], tokens)
    assert texts_of(text_out) == _continuations(tokenizer, tokens, prompt)

    # saved_model_cli (TF1 session loading, as TF Serving) runs serve_text.
    cli = shutil.which("saved_model_cli", path=os.path.dirname(sys.executable))
    result = subprocess.run(
        [
            cli,
            "run",
            f"--dir={export_dir}",
            "--tag_set=serve",
            "--signature_def=serve_text",
            f"--input_exprs=text={json.dumps(PROMPTS[:2])}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert repr(texts_of(text_out)[0].encode())[2:-1] in result.stdout


def test_gpt_generate_signature_equals_keras_sampling_with_the_seed(tmp_path):
    run = load_run(make_model_dir(tmp_path, "gpt"))
    output = tmp_path / "serving"
    # The test checks what verification would, so it is skipped here.
    report = export_saved_model(
        run,
        output,
        sampler="top_k",
        top_k=4,
        temperature=0.7,
        max_length=14,
        verify_export=False,
    )
    assert report["signatures"] == ["serving_default", "serve_text", "generate"]
    model, tokenizer = run.model, run.tokenizer
    prompts = PROMPTS[:2]
    prompt = _prompt_buffer(tokenizer, prompts, 14)
    eos = tokenizer.special_ids["eos"]
    calls = [("generate", {"text": prompts, "seed": np.int32(s)}) for s in (3, 4, 3)]
    calls.append(("serve_text", {"text": prompts}))
    results = run_signatures_in_clean_process(output / "1", calls)
    for seed, (got, _) in zip((3, 4, 3), results):
        tokens = model.generate(
            prompt,
            14,
            sampler="top_k",
            k=4,
            temperature=0.7,
            stop_token_ids=[eos],
            seed=seed,
            jit_compile=False,
        )
        np.testing.assert_array_equal(got["token_ids"], tokens, err_msg=f"seed {seed}")
        assert texts_of(got) == _continuations(tokenizer, tokens, prompt)
    greedy = model.generate(prompt, 14, stop_token_ids=[eos], jit_compile=False)
    np.testing.assert_array_equal(results[3][0]["token_ids"], greedy)


def test_seq2seq_attention_serve_text_decodes_the_source(tmp_path):
    run = load_run(make_model_dir(tmp_path, "seq2seq_attention"))
    output = tmp_path / "serving"
    # Verified too: a clean process against `TextModel.keras_outputs`.
    report = export_saved_model(run, output, max_length=10)
    assert report["serving_default_max_diff"] <= 1e-4
    model, tokenizer = run.model, run.tokenizer
    sources = ["the cat", "over a lazy dog"]
    eos = tokenizer.special_ids["eos"]
    ids = [list(np.asarray(tokenizer.tokenize(s))) + [eos] for s in sources]
    width = max(map(len, ids))
    encoder = np.asarray([r + [0] * (width - len(r)) for r in ids], "int32")
    (got, _), (logits, _) = run_signatures_in_clean_process(
        output / "1",
        [
            ("serve_text", {"text": sources}),
            (
                "serving_default",
                {"encoder_token_ids": encoder, "decoder_token_ids": encoder[:, :4]},
            ),
        ],
    )
    tokens = model.generate(
        {"encoder_token_ids": encoder}, 10, stop_token_ids=[eos], jit_compile=False
    )
    np.testing.assert_array_equal(got["token_ids"], tokens)
    expected = [t.decode() for t in tokenizer.detokenize(tokens[:, 1:]).numpy()]
    assert texts_of(got) == expected
    keras_logits = model(
        {"encoder_token_ids": encoder, "decoder_token_ids": encoder[:, :4]}
    )
    np.testing.assert_allclose(logits["logits"], keras_logits, atol=1e-5)


def test_bert_classifier_serve_text_gives_labels_and_scores(tmp_path):
    """With a WordPiece tokenizer: its tensorflow_text ops in the graph."""
    family = "bert"
    run = load_run(make_model_dir(tmp_path, family, tokenizer="word_piece"))
    assert run.tokenizer.kind == "word_piece"
    output = tmp_path / "serving"
    export_saved_model(run, output, verify_export=False)
    texts = ["the quick fox", "a dog sat on a mat by the fox"]
    ((got, _),) = run_signatures_in_clean_process(
        output / "1", [("serve_text", {"text": texts})], text_ops=True
    )
    tokenizer = run.tokenizer
    # As in training: at most sequence_length (16) tokens, <cls> and <sep> in.
    rows = [list(np.asarray(tokenizer.tokenize(t))) for t in texts]
    if family == "bert":
        ids = tokenizer.special_ids
        rows = [[ids["cls"]] + r[:14] + [ids["sep"]] for r in rows]
    rows = [r[:16] for r in rows]
    width = max(map(len, rows))
    token_ids = np.asarray([r + [0] * (width - len(r)) for r in rows], "int32")
    inputs = {"token_ids": token_ids}
    if family == "bert":
        inputs["segment_ids"] = np.zeros_like(token_ids)
    scores = np.asarray(tf.nn.softmax(run.model(inputs)))
    np.testing.assert_allclose(got["scores"], scores, atol=1e-5)
    np.testing.assert_array_equal(got["label_id"], scores.argmax(-1))
    assert texts_of(got, "label") == [run.label_names[i] for i in scores.argmax(-1)]
    assert sorted(run.label_names) == ["neg", "pos"]


@pytest.mark.parametrize("family", ["transformer", "t5", "rnn_classifier"])
def test_remaining_families_export_verified_saved_models(tmp_path, family):
    """Verified in a clean process against the Keras model (ids and text)."""
    run = load_run(make_model_dir(tmp_path, family))
    report = export_saved_model(run, tmp_path / "serving", max_length=8)
    assert report["serving_default_max_diff"] <= 1e-4
    assert "serve_text" in report["signatures"]
    assert (tmp_path / "serving" / "1" / "saved_model.pb").exists()
