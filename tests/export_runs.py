"""Tiny model directories for the export tests, written without training.

`make_model_dir(root, family, **overrides)` writes what `keras-seq-train`
leaves in a model directory (`config.json`, `model.keras`, `tokenizer/`) for
a tiny zoo model with random weights, on a small local dataset (a text file,
a pairs TSV or a labeled TSV, by the family's task), so that an export test
spends its time on the export.
"""

import json
import os
import random

import numpy as np

import zoo
from keras_seq import data as seq_data

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "and",
    "cat",
    "sat",
    "on",
    "mat",
]
TASKS = {
    "char_rnn": "text",
    "gpt": "text",
    "seq2seq_attention": "pairs",
    "transformer": "pairs",
    "t5": "pairs",
    "rnn_classifier": "labeled",
    "bert": "labeled",
}
SMALL = {
    "char_rnn": {"embedding_dim": 8, "hidden_dim": 16},
    "gpt": {"d_model": 16, "num_heads": 2, "dff": 32, "max_sequence_length": 24},
    "seq2seq_attention": {
        "embedding_dim": 8,
        "encoder_dim": 16,
        "decoder_dim": 16,
        "attention_units": 16,
    },
    "rnn_classifier": {"embedding_dim": 8, "hidden_dim": 8},
}


def _lines(count, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(6)) for _ in range(count)]


def write_dataset(root, kind):
    """Writes a small dataset file; returns its `load_dataset` spec."""
    lines = _lines(60)
    if kind == "text":
        path = os.path.join(root, "corpus.txt")
        body = "\n".join(lines) + "\n"
    elif kind == "pairs":
        path = os.path.join(root, "pairs.tsv")
        body = "".join(f"{t}\t{t[::-1]}\n" for t in lines)
    else:
        path = os.path.join(root, "labeled.tsv")
        body = "".join(f"{t}\t{'pos' if 'fox' in t else 'neg'}\n" for t in lines)
    with open(path, "w", encoding="utf-8") as f:
        f.write(body)
    return f"{kind}:{path}"


def make_model_dir(
    root, family, sequence_length=16, seed=0, tokenizer="char", **overrides
):
    """Writes a model directory for `family` under `root`; returns its path.

    `tokenizer`: `"char"`, or a kind `keras_seq.data.train_tokenizer` trains
    (`"word_piece"`, `"sentence_piece"`: 60 tokens).
    """
    import keras

    keras.utils.set_random_seed(seed)
    os.makedirs(root, exist_ok=True)
    spec = write_dataset(root, TASKS[family])
    dataset = seq_data.load_dataset(spec)
    key = {"language_model": "text", "seq2seq": "source", "classification": "text"}
    texts = [ex[key[dataset.task]].numpy().decode() for ex in dataset.split("train")]
    if dataset.task == "seq2seq":
        texts += [ex["target"].numpy().decode() for ex in dataset.split("train")]
    if tokenizer == "char":
        tokenizer = seq_data.CharTokenizer.from_texts(texts)
    else:
        tokenizer = seq_data.train_tokenizer(tokenizer, dataset, 60)
    hparams = zoo.preset_config(family, "tiny")
    hparams["vocabulary_size"] = tokenizer.vocabulary_size
    specials = tokenizer.special_ids
    for name, special in (("start_token_id", "bos"), ("end_token_id", "eos")):
        if name in hparams:
            hparams[name] = specials[special]
    if "num_classes" in hparams:
        hparams["num_classes"] = len(dataset.label_names)
    hparams.update(SMALL.get(family, {}))
    hparams.update(overrides)
    model = zoo.build(family, "tiny", **hparams)
    model_dir = os.path.join(root, f"{family}_run")
    os.makedirs(model_dir)
    model.save(os.path.join(model_dir, "model.keras"))
    seq_data.save_tokenizer(tokenizer, os.path.join(model_dir, "tokenizer"))
    config = {
        "model": family,
        "preset": "tiny",
        "dataset": spec,
        "data_dir": None,
        "sequence_length": sequence_length,
        "seed": seed,
        "model_hyperparameters": hparams,
    }
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(config, f)
    return model_dir


def texts_of(outputs, key="text"):
    return [t.decode("utf-8") if isinstance(t, bytes) else t for t in outputs[key]]


def as_str_array(texts):
    return np.asarray(texts)
