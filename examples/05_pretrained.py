# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05. Pretrained models: BERT, GPT, T5
#
# Course section 05 (预训练模型): the three ways to use a Transformer.
#
# | model | type | parameters (course) | trained to |
# |:--|:--|:--:|:--|
# | BERT | encoder | 110M-340M | fill in masked tokens (双向编码, bidirectional) |
# | GPT | decoder | 117M-175B | predict the next token (自回归生成, autoregressive) |
# | T5 | encoder-decoder | 220M-11B | map text to text (文本到文本) |
#
# We compute the course's parameter counts from the architectures, then run
# each family end to end at a size a laptop trains in seconds: fine-tune a
# BERT classifier on a `labeled:` file and serve it from a SavedModel (the
# TF Serving layout), generate with a GPT, and train a T5 on text-to-text
# tasks.
#
# `KERAS_SEQ_QUICK=1` runs everything small (CI does that); figures go to
# `KERAS_SEQ_OUTPUT_DIR` (default `examples/outputs/05_pretrained`).

# %%
import os
import pathlib
import shutil
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from keras_seq import export  # noqa: E402
from keras_seq.training.trainer import TrainConfig, train  # noqa: E402

QUICK = os.environ.get("KERAS_SEQ_QUICK", "0") == "1"
OUT = pathlib.Path(
    os.environ.get("KERAS_SEQ_OUTPUT_DIR", "examples/outputs/05_pretrained")
)
OUT.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)
print("quick mode:", QUICK, "| figures in", OUT)

# %% [markdown]
# ## Where the parameters are
#
# A Transformer block of width $d$ with a feed-forward width $d_{ff}$ has
# $4d^2 + 4d$ attention weights ($W^Q, W^K, W^V, W^O$ and biases),
# $2 d\, d_{ff} + d_{ff} + d$ in the FFN and $4d$ in two LayerNorms. The
# embeddings add $V d$ (vocabulary) plus positions. T5 drops the biases,
# uses RMSNorm (scale only) and a relative position bias instead of position
# embeddings; its decoder blocks have a second (cross-) attention.


# %%
def block(d, dff, bias=True):
    return (
        4 * d * d
        + (4 * d if bias else 0)
        + 2 * d * dff
        + (dff + d if bias else 0)
        + 4 * d
    )


def count_bert(h, head="mlm"):
    d, v = h["d_model"], h["vocabulary_size"]
    # token, position and segment embeddings, then their LayerNorm
    n = (v + h["max_sequence_length"] + h["num_segments"]) * d + 2 * d
    n += h["num_layers"] * block(d, h["dff"])
    if head == "mlm":  # the zoo's pretraining model: MLM transform, LayerNorm, bias
        return n + d * d + d + 2 * d + v
    return n + d * d + d  # the published checkpoints: encoder + [CLS] pooler


def count_gpt(h):
    d = h["d_model"]
    n = (h["vocabulary_size"] + h["max_sequence_length"]) * d  # tied output embedding
    n += h["num_layers"] * block(d, h["dff"])
    return n + (2 * d if h["normalize_first"] else 0)  # GPT-2's final LayerNorm


def count_t5(h):
    d, dff, L = h["d_model"], h["dff"], h["num_layers"]
    encoder = L * (4 * d * d + 2 * d * dff + 2 * d)
    decoder = L * (8 * d * d + 2 * d * dff + 3 * d)
    bias = 2 * h["relative_attention_num_buckets"] * h["num_heads"]
    return h["vocabulary_size"] * d + encoder + decoder + bias + 2 * d


counters = {"bert": count_bert, "gpt": count_gpt, "t5": count_t5}
# The formulas against the zoo's models (built at the tiny size here; every
# preset with KERAS_SEQ_QUICK=0, which allocates ~3 GB).
for family, count in counters.items():
    for preset in ["tiny"] if QUICK else list(zoo.presets(family)):
        built = zoo.build(family, preset).count_params()
        assert built == count(zoo.preset_config(family, preset)), (family, preset)
        print(f"{family}/{preset}: {built:,} parameters = the formula")

# %%
gpt3 = dict(
    zoo.preset_config("gpt", "gpt2"),
    num_layers=96,
    d_model=12288,
    dff=4 * 12288,
    max_sequence_length=2048,
)
t5_large = dict(
    zoo.preset_config("t5", "base"),
    num_layers=24,
    d_model=1024,
    dff=4096,
    num_heads=16,
)
rows = [
    (
        "BERT-base",
        "110M",
        count_bert(zoo.preset_config("bert", "base"), head="pooler"),
    ),
    (
        "BERT-large",
        "340M",
        count_bert(zoo.preset_config("bert", "large"), head="pooler"),
    ),
    ("GPT (2018)", "117M", count_gpt(zoo.preset_config("gpt", "gpt"))),
    ("GPT-2 small", "124M", count_gpt(zoo.preset_config("gpt", "gpt2"))),
    ("GPT-3 175B", "175B", count_gpt(gpt3)),
    ("T5-small", "60M", count_t5(zoo.preset_config("t5", "small"))),
    ("T5-base", "220M", count_t5(zoo.preset_config("t5", "base"))),
    ("T5-large", "770M", count_t5(t5_large)),
]
print(f"{'model':<12} {'published':>10} {'computed':>18}")
for name, published, n in rows:
    print(f"{name:<12} {published:>10} {n:>18,}")

fig, ax = plt.subplots(figsize=(9, 4), constrained_layout=True)
colors = [
    "C0" if n.startswith("BERT") else "C1" if n.startswith("GPT") else "C2"
    for n, _, _ in rows
]
ax.bar([r[0] for r in rows], [r[2] for r in rows], color=colors)
ax.set_yscale("log")
ax.set_ylabel("parameters")
ax.set_title("encoder (BERT), decoder (GPT), encoder-decoder (T5): computed sizes")
for i, (_, published, n) in enumerate(rows):
    ax.text(i, n * 1.3, published, ha="center", fontsize=8)
plt.setp(ax.get_xticklabels(), rotation=30)
fig.savefig(OUT / "parameter_counts.png", dpi=100)
plt.close(fig)

# %% [markdown]
# `zoo.count_params(name, preset)` computes the same counts from the
# hyperparameters without allocating a weight, so it also answers for the
# published sizes the zoo has presets for, up to GPT-3 175B:

# %%
print(f"{'preset':<16} {'zoo.count_params':>18} {'formula':>18}")
for family, preset, formula in (
    ("bert", "base", count_bert(zoo.preset_config("bert", "base"))),
    ("bert", "large", count_bert(zoo.preset_config("bert", "large"))),
    ("gpt", "gpt", count_gpt(zoo.preset_config("gpt", "gpt"))),
    ("gpt", "gpt2", count_gpt(zoo.preset_config("gpt", "gpt2"))),
    ("gpt", "gpt3_175b", count_gpt(gpt3)),
    ("t5", "small", count_t5(zoo.preset_config("t5", "small"))),
    ("t5", "base", count_t5(zoo.preset_config("t5", "base"))),
    ("t5", "large", count_t5(t5_large)),
):
    counted = zoo.count_params(family, preset)
    print(f"{family + '/' + preset:<16} {counted:>18,} {formula:>18,}")
    assert counted == formula, (family, preset)

# %% [markdown]
# (The zoo's BERT pretraining model counts its masked-LM head; the
# published 110M/340M are the encoder and the `[CLS]` pooler, hence
# `head="pooler"` in the table: 109.5M and 335.1M. T5-3B and 11B widen the
# attention beyond $d$ and are left out.)

# %% [markdown]
# ## Loading a checkpoint
#
# `zoo.from_preset(source)` builds the zoo model a checkpoint describes and
# fills it with the checkpoint's weights; `zoo.tokenizer_from_preset(source)`
# returns its tokenizer. A source is a keras-hub preset name
# (`"gpt2_base_en"`), `hf://owner/name`, or a local keras-hub or Hugging
# Face directory. Set `KERAS_SEQ_PRESET` to one of the first two where the
# network is available; without it (CI has no network) we write a small
# GPT-2 checkpoint here with keras-hub itself and load that, and check our
# model's logits against keras-hub's own `GPT2Backbone` from the same files.

# %%
import keras_hub  # noqa: E402

source = os.environ.get("KERAS_SEQ_PRESET")
if source is None:
    source = str(OUT / "gpt2_checkpoint")
    shutil.rmtree(source, ignore_errors=True)
    text = "the film was great the plot was dull"
    vocabulary = {"<|endoftext|>": 0}
    for ch in sorted(set(text.replace(" ", "Ġ"))):  # GPT-2 writes a space as Ġ
        vocabulary[ch] = len(vocabulary)
    merges = ["t h", "th e", "Ġ th", "w a", "wa s", "Ġ wa"]
    for merge in merges:
        vocabulary.setdefault(merge.replace(" ", ""), len(vocabulary))
    hub_tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    hub_backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocabulary),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    hub_backbone.save_to_preset(source)
    hub_tokenizer.save_to_preset(source)
print("checkpoint:", source)

pretrained = zoo.from_preset(source)
pretrained_tokenizer = zoo.tokenizer_from_preset(source)
print(type(pretrained).__name__, f"{pretrained.count_params():,} parameters")
ids = np.asarray(pretrained_tokenizer(["the film was"]))
if ids.ndim == 1:
    ids = ids[np.newaxis]
reference = keras_hub.models.Backbone.from_preset(source)
hidden = reference({"token_ids": ids, "padding_mask": np.ones_like(ids)})
reference_logits = reference.token_embedding(hidden, reverse=True)
np.testing.assert_allclose(pretrained({"token_ids": ids}), reference_logits, atol=1e-4)
print("same logits as keras-hub's backbone from the same checkpoint")
continued = pretrained.generate(ids, max_length=ids.shape[1] + 6, jit_compile=not QUICK)
print("generated:", pretrained_tokenizer.detokenize(continued))

# %% [markdown]
# ## Data for the three models
#
# A tiny review corpus, written here: `labeled:` files are `text<TAB>label`,
# `text:` files are plain text, `pairs:` files `source<TAB>target`.

# %%
rng = np.random.default_rng(0)
good = ["great", "wonderful", "moving", "funny", "brilliant"]
bad = ["boring", "awful", "slow", "dull", "terrible"]
things = ["film", "plot", "cast", "ending", "music"]
reviews = []
for _ in range(400 if QUICK else 3000):
    label = rng.integers(2)
    word = rng.choice(good if label else bad)
    reviews.append(
        (f"the {rng.choice(things)} was {word}", "positive" if label else "negative")
    )
data_dir = OUT / "data"
data_dir.mkdir(exist_ok=True)
(data_dir / "reviews.tsv").write_text(
    "".join(f"{t}\t{y}\n" for t, y in reviews), encoding="utf-8"
)
(data_dir / "reviews.txt").write_text(
    "".join(f"{t}.\n" for t, _ in reviews), encoding="utf-8"
)
words = ["red", "green", "blue", "cat", "dog", "sun", "moon"]
pairs = []
for _ in range(150 if QUICK else 5000):
    phrase = " ".join(rng.choice(words, size=rng.integers(2, 4)))
    pairs.append((f"reverse: {phrase}", " ".join(phrase.split()[::-1])))
    pairs.append((f"upper: {phrase}", phrase.upper()))
(data_dir / "tasks.tsv").write_text(
    "".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8"
)
print(reviews[:2], pairs[:2])


def train_run(name, **kwargs):
    """A keras-seq-train run into OUT/runs/name; returns (metrics, seconds)."""
    model_dir = OUT / "runs" / name
    shutil.rmtree(model_dir, ignore_errors=True)
    config = TrainConfig(
        model_dir=str(model_dir),
        data_dir=str(OUT / "tfds"),
        export=False,
        jit_compile=not QUICK,
        batch_size=32,
        checkpoint_every=10_000,
        **kwargs,
    )
    start = time.perf_counter()
    metrics = train(config, log=lambda *a: None)
    return export.load_run(str(model_dir)), metrics, time.perf_counter() - start


# %% [markdown]
# ## BERT: fine-tune a classifier, serve it
#
# BERT reads the whole sentence in both directions; for classification the
# final state of the `[CLS]` token goes through a pooler and a `Dense`
# layer ($P(y \mid x) = \text{softmax}(W \tanh(W_p h_{[CLS]}))$). The run
# directory is what `keras-seq-export` reads; the SavedModel's `serve_text`
# signature takes raw strings (tokenizer in the graph) and loads in a
# process that has only TensorFlow, as TF Serving does.

# %%
bert_run, bert_metrics, seconds = train_run(
    "bert",
    model="bert",
    dataset=f"labeled:{data_dir / 'reviews.tsv'}",
    steps=40 if QUICK else 600,
    learning_rate=1e-3,
    overrides={"dropout": 0.0},
)
print(
    f"BERT classifier: {seconds:.0f} s,",
    {k: round(v, 3) for k, v in bert_metrics.items() if isinstance(v, float)},
)
report = export.export_saved_model(
    bert_run, str(OUT / "serving" / "bert"), overwrite=True, verify_export=not QUICK
)
print("SavedModel:", report["path"], "signatures", report["signatures"])

served = tf.saved_model.load(report["path"])
scores = served.signatures["serve_text"](
    text=tf.constant(["the music was brilliant", "the plot was dull"])
)
for text, label in zip(
    ["the music was brilliant", "the plot was dull"], scores["label"].numpy()
):
    print(f"  {text!r:>28} -> {label.decode()}")

# %% [markdown]
# ## GPT: generate
#
# A decoder-only model trained on the reviews as plain text, sampling
# $x_{t+1} \sim P(\cdot \mid x_{\le t})$ one token at a time with its
# key/value cache: greedy, then top-k.

# %%
gpt_run, gpt_metrics, seconds = train_run(
    "gpt",
    model="gpt",
    dataset=f"text:{data_dir / 'reviews.txt'}",
    steps=40 if QUICK else 800,
    learning_rate=3e-3,
    sequence_length=32,
)
print(f"GPT: {seconds:.0f} s, loss {gpt_metrics.get('loss', float('nan')):.3f}")
tok = gpt_run.tokenizer
prompt = tok.tokenize(["the film was"]).to_tensor().numpy()
for sampler in ("greedy", "top_k"):
    out = gpt_run.model.generate(
        prompt, max_length=24, sampler=sampler, seed=1, jit_compile=not QUICK
    )
    print(f"  {sampler:>6}: {tok.detokenize(out).numpy()[0].decode()!r}")

# %% [markdown]
# ## T5: text to text
#
# T5 casts every task as text in, text out, with a task prefix. One model
# learns `reverse:` and `upper:` from the same `pairs:` file.

# %%
t5_run, t5_metrics, seconds = train_run(
    "t5",
    model="t5",
    dataset=f"pairs:{data_dir / 'tasks.tsv'}",
    tokenizer="char",
    steps=40 if QUICK else 1500,
    learning_rate=3e-3,
    overrides={"dropout": 0.0},
)
print(
    f"T5: {seconds:.0f} s,",
    {k: round(v, 3) for k, v in t5_metrics.items() if isinstance(v, float)},
)
tok = t5_run.tokenizer
sources = ["reverse: red cat sun", "upper: blue moon"]
ids = tok.tokenize(sources).to_tensor().numpy()
out = t5_run.model.generate(
    {"encoder_token_ids": ids}, max_length=24, jit_compile=not QUICK
)
for s, t in zip(sources, tok.detokenize(out).numpy()):
    print(f"  {s!r:>24} -> {t.decode()!r}")

# %% [markdown]
# **Reading.** The computed counts land on the course's numbers (BERT
# 109.5M/335M for "110M/340M", GPT 117M, GPT-3 175B, T5 61M/223M/738M for
# "60M/220M/770M"): the sizes come from
# the widths and depths, and most of BERT-base's parameters are in its
# 12 blocks, while a quarter of GPT-2 small's are in the 50k-token
# embedding. The three tiny models above are the same code at those sizes.
