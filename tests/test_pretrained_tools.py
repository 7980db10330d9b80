"""Fine-tuning, generating from and exporting pretrained checkpoints (offline).

Tiny random keras-hub presets (`save_to_preset` of a `GPT2Backbone`,
`BertBackbone`, `T5Backbone` with their tokenizers) stand in for the real
checkpoints: `keras-seq-train --init_from=SOURCE` fine-tunes them, the run
directory keeps the checkpoint's tokenizer, and the exports (SavedModel
checked in a process without keras_seq, TFLite in the LiteRT interpreter)
answer as the Keras model does. A GPT-2 vocabulary's id 0 is the real token
"!": the tests check that it is never taken for padding.
"""

import json
import os

import keras_hub
import numpy as np
import pytest
from tiny_checkpoints import (
    bert_backbone,
    gpt2_backbone,
    t5_backbone,
    write_bert_vocab,
    write_gpt2_tokenizer,
    write_spiece,
)

from keras_seq import data as seq_data
from keras_seq.export import export_saved_model, export_tflite, load_run
from keras_seq.export.preset_run import load_preset
from keras_seq.export.text import TextModel
from keras_seq.training import run_dir
from keras_seq.training.trainer import TrainConfig, TrainError, is_checkpoint, train

FAST = dict(steps=2, batch_size=4, validate_every=0, export=False, jit_compile=False)


def _gpt2_preset(root):
    tokens = root / "gpt2_files"
    tokens.mkdir()
    size = write_gpt2_tokenizer(tokens)
    tokenizer = keras_hub.tokenizers.GPT2Tokenizer(
        vocabulary=str(tokens / "vocab.json"), merges=str(tokens / "merges.txt")
    )
    backbone = gpt2_backbone(size, 1, intermediate_dim=32, max_sequence_length=32)
    preset = root / "gpt2_preset"
    backbone.save_to_preset(str(preset))
    tokenizer.save_to_preset(str(preset))
    return preset


@pytest.fixture(scope="module")
def gpt2_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpt2_finetune")
    preset = _gpt2_preset(root)
    corpus = root / "corpus.txt"
    # "!" is GPT-2's id 0: a real token that must be trained on.
    corpus.write_text(
        "".join(f"cafe {i}! costs 12 dollars! cool cold cod\n" for i in range(30)),
        encoding="utf-8",
    )
    model_dir = root / "run"
    metrics = train(
        TrainConfig(
            model=None,
            init_from=str(preset),
            dataset=f"text:{corpus}",
            model_dir=str(model_dir),
            sequence_length=16,
            learning_rate=1e-3,
            **FAST,
        ),
        log=lambda line: None,
    )
    return preset, corpus, model_dir, metrics


def test_gpt2_checkpoint_fine_tunes_with_its_tokenizer_and_mask(gpt2_run):
    preset, corpus, model_dir, metrics = gpt2_run
    assert metrics["steps"] == 2 and np.isfinite(metrics["loss"])
    with open(model_dir / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    assert config["model"] == "gpt" and config["init_from"] == str(preset)
    assert config["model_hyperparameters"]["pad_token_id"] is None
    tokenizer = run_dir.load_tokenizer(model_dir)
    assert isinstance(tokenizer, seq_data.KerasHubTokenizer)
    theirs = keras_hub.tokenizers.Tokenizer.from_preset(str(preset))
    sentence = "cafe 12! cool"
    np.testing.assert_array_equal(
        np.asarray(tokenizer.tokenize(sentence)), np.asarray(theirs(sentence))
    )
    # keras-hub's GPT-2 pads with id 0 ("!"); the end id ends text.
    assert tokenizer.special_ids["pad"] == 0
    assert tokenizer.special_ids["eos"] == theirs.end_token_id
    assert tokenizer.detokenize(theirs(sentence)).numpy().decode() == sentence
    # Batches: id 0 appears as a real target, with weight 1 everywhere.
    dataset = seq_data.load_dataset(f"text:{corpus}")
    x, y, weights = next(
        iter(
            seq_data.make_batches(
                "gpt", dataset, tokenizer=tokenizer, batch_size=4, sequence_length=16
            )
        )
    )
    assert (np.asarray(y) == 0).any()
    assert np.asarray(weights).min() == 1.0


def test_fine_tuned_gpt2_generates_batched_prompts_as_one_at_a_time(gpt2_run):
    _, _, model_dir, _ = gpt2_run
    run = load_run(model_dir)
    text_model = TextModel(run, max_length=12)
    prompts = ["cafe", "cool cold cod"]  # different lengths, padded with "!"
    batched = text_model.keras_outputs(prompts)
    for i, prompt in enumerate(prompts):
        alone = text_model.keras_outputs([prompt])
        assert batched["text"][i] == alone["text"][0]
        length = len(np.asarray(run.tokenizer.tokenize(prompt)))
        np.testing.assert_array_equal(
            batched["token_ids"][i, : length + 1], alone["token_ids"][0, : length + 1]
        )


def test_fine_tuned_gpt2_exports_saved_model_and_tflite(gpt2_run, tmp_path):
    _, _, model_dir, _ = gpt2_run
    run = load_run(model_dir)
    # Verified before it is renamed into place: serve_text on held-out
    # prompts in a process that never imports keras_seq gave the Keras
    # model's tokens and text (prompts of different lengths, padded with "!").
    report = export_saved_model(run, tmp_path / "serving", max_length=12)
    assert report["serving_default_max_diff"] < 1e-4
    assert len(report["serve_text_examples"]) >= 2  # the held-out lines
    assert "serve_text" in report["signatures"]
    (lite,) = export_tflite(run, tmp_path / "lite", batch_size=2, max_length=12)
    assert lite["greedy_token_agreement"] == 1.0
    assert lite["logits_max_diff"] < 1e-4
    with open(tmp_path / "lite" / "tflite" / "metadata.json", encoding="utf-8") as f:
        metadata = json.load(f)
    assert metadata["model_pad_id"] is None and metadata["pad_id"] == 0
    saved = seq_data.load_tokenizer(tmp_path / "lite" / "tflite" / "tokenizer")
    assert saved.special_ids == run.tokenizer.special_ids


@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_bert_checkpoint_fine_tunes_a_classifier_and_serves_labels(tmp_path):
    files = tmp_path / "bert_files"
    files.mkdir()
    size = write_bert_vocab(files)
    backbone = bert_backbone(size, num_layers=1, max_sequence_length=32)
    preset = tmp_path / "bert_preset"
    backbone.save_to_preset(str(preset))
    keras_hub.tokenizers.BertTokenizer(
        vocabulary=str(files / "vocab.txt")
    ).save_to_preset(str(preset))
    rows = ["text,label"] + [
        "cafe costs 12 dollars,pos" if i % 2 else "deja vu resume,neg"
        for i in range(24)
    ]
    data = tmp_path / "reviews.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    model_dir = tmp_path / "run"
    train(
        TrainConfig(
            model="bert",
            init_from=str(preset),
            dataset=f"labeled:{data}",
            model_dir=str(model_dir),
            learning_rate=1e-3,
            **FAST,
        ),
        log=lambda line: None,
    )
    run = load_run(model_dir)
    assert run.kind == "classifier" and run.label_names == ["neg", "pos"]
    # The encoder is the checkpoint's (fine-tuned two steps), the head new.
    assert run.model.get_layer("logits").kernel.shape == (16, 2)
    assert run.tokenizer.special_ids["cls"] == 2  # [CLS] in the vocabulary
    report = export_saved_model(run, tmp_path / "serving")
    assert {e["output"] for e in report["serve_text_examples"]} <= {"neg", "pos"}


def _t5_preset(root):
    files = root / "t5_files"
    files.mkdir()
    write_spiece(files)
    backbone = t5_backbone(gated=False, tied=True, vocabulary_size=320, num_layers=1)
    preset = root / "t5_preset"
    backbone.save_to_preset(str(preset))
    tokenizer = keras_hub.tokenizers.T5Tokenizer(proto=str(files / "spiece.model"))
    tokenizer.save_to_preset(str(preset))
    return preset


@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_t5_checkpoint_exports_straight_from_the_preset(tmp_path):
    preset = _t5_preset(tmp_path)
    run = load_preset(str(preset))
    assert run.family == "t5" and run.kind == "seq2seq"
    # The decoder starts from T5's pad id 0; </s> (1) ends a row.
    assert run.tokenizer.special_ids["bos"] == 0 == run.model.start_token_id
    assert run.tokenizer.special_ids["eos"] == 1
    report = export_saved_model(run, tmp_path / "serving", max_length=8)
    assert len(report["serve_text_examples"]) == 4
    (lite,) = export_tflite(run, tmp_path / "lite", max_length=8)
    assert lite["greedy_token_agreement"] == 1.0


def test_init_from_rules_and_errors(tmp_path):
    weights = tmp_path / "model.weights.h5"
    weights.write_bytes(b"")
    assert not is_checkpoint(str(weights))  # a weights file: the old meaning
    assert is_checkpoint(str(tmp_path)) and is_checkpoint("gpt2_base_en")
    assert is_checkpoint("hf://openai-community/gpt2")
    assert not is_checkpoint("missing/model.keras") and not is_checkpoint(None)
    empty = tmp_path / "empty"
    empty.mkdir()
    base = dict(dataset="date_normalization", model_dir=str(tmp_path / "run"))
    with pytest.raises(TrainError, match=r"--init_from=.*missing file 'config\.json'"):
        train(TrainConfig(model=None, init_from=str(empty), **base))
    config = {"model_type": "gpt2", "vocab_size": 300, "n_layer": 1, "n_embd": 8,
              "n_head": 2}  # fmt: skip
    (empty / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(TrainError, match="a gpt checkpoint.*not --model=bert"):
        train(TrainConfig(model="bert", init_from=str(empty), **base))
    with pytest.raises(TrainError, match="--tokenizer.*brings its own tokenizer"):
        train(TrainConfig(model=None, init_from=str(empty), tokenizer="char", **base))
    with pytest.raises(TrainError, match=r"unknown override\(s\) \['depth'\]"):
        train(
            TrainConfig(
                model=None, init_from=str(empty), overrides={"depth": 2}, **base
            )
        )
    assert not os.path.exists(tmp_path / "run")
