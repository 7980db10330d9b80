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
# # 03. Attention
#
# Course section 03 (注意力机制): additive attention (Bahdanau),
# multiplicative attention (Luong: dot, general, concat), self-attention and
# the scaled dot-product attention the Transformer is built on. We compute
# `scaled_dot_product_attention` step by step with its shapes, look at
# self-attention, then train the same seq2seq model with each of the four
# scores on the date-normalization task and compare them.
#
# `KERAS_SEQ_QUICK=1` runs everything small (CI does that); figures go to
# `KERAS_SEQ_OUTPUT_DIR` (default `examples/outputs/03_attention`).

# %%
import os
import pathlib
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from keras_seq import data  # noqa: E402
from keras_seq.layers import (  # noqa: E402
    BahdanauAttention,
    LuongAttention,
    MultiHeadAttention,
    scaled_dot_product_attention,
)

QUICK = os.environ.get("KERAS_SEQ_QUICK", "0") == "1"
OUT = pathlib.Path(
    os.environ.get("KERAS_SEQ_OUTPUT_DIR", "examples/outputs/03_attention")
)
OUT.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)
print("quick mode:", QUICK, "| figures in", OUT)

# %% [markdown]
# ## Scaled dot-product attention, step by step
#
# $$\text{Attention}(Q, K, V) = \text{softmax}\left(\frac{QK^T}{\sqrt{d_k}}\right)V$$
#
# Queries $Q$ `(batch, T, d_k)`, keys $K$ `(batch, S, d_k)`, values $V$
# `(batch, S, d_v)`. Each query scores every key, the softmax over the keys
# turns the scores into weights that sum to 1, and the output is the
# weighted average of the values. Dividing by $\sqrt{d_k}$ keeps the scores'
# variance near 1 when the entries of $q$ and $k$ have variance 1, so the
# softmax does not saturate.

# %%
rng = np.random.default_rng(0)
B, T, S, d_k, d_v = 2, 3, 5, 8, 4
Q = rng.normal(size=(B, T, d_k)).astype("float32")
K = rng.normal(size=(B, S, d_k)).astype("float32")
V = rng.normal(size=(B, S, d_v)).astype("float32")

scores = Q @ K.transpose(0, 2, 1) / np.sqrt(d_k)
print("Q K^T / sqrt(d_k):", scores.shape, "  variance", scores.var().round(2))
print(
    "unscaled Q K^T variance:",
    (Q @ K.transpose(0, 2, 1)).var().round(2),
    f"(≈ d_k = {d_k})",
)
weights = np.exp(scores - scores.max(-1, keepdims=True))
weights /= weights.sum(-1, keepdims=True)
print("softmax weights:", weights.shape, "  rows sum to", weights.sum(-1)[0])
output = weights @ V
print("output = weights V:", output.shape)

ours, ours_weights = scaled_dot_product_attention(Q, K, V)
np.testing.assert_allclose(ours, output, atol=1e-5)
np.testing.assert_allclose(ours_weights, weights, atol=1e-6)
print(
    "keras_seq.layers.scaled_dot_product_attention agrees:",
    ours.shape,
    ours_weights.shape,
)

# %% [markdown]
# A mask says which keys each query may see (true = may attend, the Keras
# convention). Padding masks hide padded source positions; a causal mask
# hides the future.

# %%
padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)[
    :, np.newaxis, :
]  # (B, 1, S)
_, masked = scaled_dot_product_attention(Q, K, V, mask=padding)
print("weights on padded keys of example 0:", np.asarray(masked)[0, :, 3:].ravel())

# %% [markdown]
# ## Additive and multiplicative scores
#
# | score | formula | layer |
# |:--|:--|:--|
# | Bahdanau (additive) | $e_{ts} = v^\top \tanh(W_1 q_t + W_2 k_s)$ | `BahdanauAttention(units)` |
# | Luong dot | $e_{ts} = h_t^\top h_s$ | `LuongAttention(score="dot")` |
# | Luong general | $e_{ts} = h_t^\top W_a h_s$ | `LuongAttention(score="general")` |
# | Luong concat | $e_{ts} = v_a^\top \tanh(W_a[h_t; h_s])$ | `LuongAttention(units, score="concat")` |
#
# All four end the same way: $a_{ts} = \text{softmax}_s(e_{ts})$,
# $c_t = \sum_s a_{ts} h_s$. We check Bahdanau's formula against the layer's
# own weights.

# %%
decoder_state = rng.normal(size=(B, 16)).astype("float32")
encoder_outputs = rng.normal(size=(B, 7, 16)).astype("float32")
bahdanau = BahdanauAttention(units=10)
context, a = bahdanau(decoder_state, encoder_outputs)
w1, b1 = (keras.ops.convert_to_numpy(w) for w in bahdanau.w1.weights)
w2 = keras.ops.convert_to_numpy(bahdanau.w2.kernel)
v = keras.ops.convert_to_numpy(bahdanau.v.kernel)
e = (np.tanh((decoder_state @ w1 + b1)[:, None, :] + encoder_outputs @ w2) @ v)[..., 0]
a_hand = np.exp(e) / np.exp(e).sum(-1, keepdims=True)
np.testing.assert_allclose(a, a_hand, atol=1e-5)
print(
    "Bahdanau: context",
    tuple(context.shape),
    "weights",
    tuple(a.shape),
    "- matches the formula",
)
for score, units in (("dot", None), ("general", None), ("concat", 10)):
    layer = LuongAttention(units=units, score=score)
    c, w = layer(decoder_state, encoder_outputs)
    print(
        f"Luong {score:<8} context {tuple(c.shape)} weights {tuple(w.shape)} params {layer.count_params()}"
    )

# %% [markdown]
# ## Self-attention
#
# In self-attention the queries, keys and values all come from the same
# sequence: $Q = XW^Q$, $K = XW^K$, $V = XW^V$. `MultiHeadAttention` does
# this per head (section 04 opens it up); here one head over a sentence,
# with `return_attention_scores=True`, and the same weights by hand.

# %%
words = ["the", "cat", "sat", "on", "the", "mat", "because", "it", "was", "tired"]
vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
embed = keras.layers.Embedding(len(vocab), 16)
X = embed(np.array([[vocab[w] for w in words]]))
self_attention = MultiHeadAttention(d_model=16, num_heads=1)
Y, A = self_attention(X, X, X, return_attention_scores=True)
print(
    "X",
    tuple(X.shape),
    "-> Y",
    tuple(Y.shape),
    "weights (batch, heads, T, T)",
    tuple(A.shape),
)
q_ = self_attention.wq(X)
k_ = self_attention.wk(X)
_, A_hand = scaled_dot_product_attention(q_, k_, k_)
np.testing.assert_allclose(A[:, 0], A_hand, atol=1e-5)

# %% [markdown]
# ## Bahdanau vs Luong on the date task
#
# `date_normalization` maps human-written dates (`"3rd May 1999"`,
# `"05/03/99"`, ...) to `1999-05-03`: a classic attention demo, where each
# output digit should look at the source characters that hold it. We train
# `zoo.build("seq2seq_attention")` with each of the four scores (Bahdanau's
# model: bidirectional GRU encoder, GRU decoder) with the same budget and
# decode the test set greedily.

# %%
dates = data.load_dataset(
    "date_normalization",
    data_dir=str(OUT / "tfds"),
    train_size=3000 if QUICK else 30000,
    validation_size=200,
    test_size=200 if QUICK else 2000,
)
vocab_size = len(dates.vocabulary)
train = data.make_batches(
    "seq2seq_attention", dates, "train", batch_size=64 if QUICK else 128
)
test_x, test_y, _ = next(
    iter(
        data.make_batches(
            "seq2seq_attention", dates, "test", batch_size=200, shuffle=False
        )
    )
)
test_x = {k: v.numpy() for k, v in test_x.items()}
print("batch:", {k: v.shape for k, v in test_x.items()}, "targets", tuple(test_y.shape))


def exact_match(model, x, y):
    out = model.generate(
        {"encoder_token_ids": x["encoder_token_ids"]},
        max_length=y.shape[1] + 1,
        jit_compile=not QUICK,
    )
    predicted = out[:, 1:]  # drop <s>
    y = np.asarray(y)
    keep = y != 0
    return float(np.mean(np.all((predicted == y) | ~keep, axis=1)))


steps = 30 if QUICK else 1500
units = 64 if QUICK else 128
results = []
models = {}
for attention in ("bahdanau", "luong_dot", "luong_general", "luong_concat"):
    keras.utils.set_random_seed(0)
    dot = attention == "luong_dot"
    model = zoo.build(
        "seq2seq_attention",
        "tiny",
        attention=attention,
        vocabulary_size=vocab_size,
        bidirectional=not dot,
        embedding_dim=16 if QUICK else 32,
        encoder_dim=units if dot else units // 2,
        decoder_dim=units,
        attention_units=units // 2,
    )
    # Batches are padded to their longest example, so shapes vary: no XLA
    # (it would compile once per shape).
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,
    )
    start = time.perf_counter()
    hist = model.fit(train.repeat(), steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    em = exact_match(model, test_x, test_y)
    results.append(
        (attention, model.count_params(), hist.history["loss"][-1], em, seconds)
    )
    models[attention] = model

print(f"{steps} steps each; exact match on {len(test_y)} test dates (greedy decoding)")
print(
    f"{'attention':<14} {'params':>8} {'train loss':>11} {'exact match':>12} {'train s':>8}"
)
for attention, params, loss, em, seconds in results:
    print(f"{attention:<14} {params:>8,} {loss:>11.3f} {em:>12.3f} {seconds:>8.1f}")

# %% [markdown]
# (Luong's dot score needs the decoder state and the encoder outputs to have
# the same size, so that model uses a unidirectional encoder as wide as its
# decoder; the others keep Bahdanau's bidirectional encoder, each direction
# half the decoder's width.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
im = axes[0].imshow(np.asarray(A)[0, 0], cmap="viridis")
axes[0].set_xticks(range(len(words)), words, rotation=45)
axes[0].set_yticks(range(len(words)), words)
axes[0].set_title("self-attention weights (one untrained head)")
fig.colorbar(im, ax=axes[0])
names = [r[0] for r in results]
axes[1].bar(names, [r[3] for r in results], color=["C0", "C1", "C2", "C3"])
axes[1].set_ylim(0, 1)
axes[1].set_ylabel("exact match (test)")
axes[1].set_title(f"date normalization after {steps} steps")
fig.savefig(OUT / "attention_overview.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## Where each score looks
#
# `model.attention_weights(inputs)` runs the decoder under teacher forcing
# and returns its $a_{ts}$: row $t$ is the attention the step predicting
# target character $t$ used over the source characters (Bahdanau et al.,
# 2015, fig. 3). A trained model reads the year digits when it writes the
# year, the month name when it writes the month.

# %%
example = {k: v[:1] for k, v in test_x.items()}
vocabulary = list(dates.vocabulary)
source_ids = example["encoder_token_ids"][0]
source_chars = [vocabulary[i] for i in source_ids if i != 0]
target_chars = [
    vocabulary[i] if i > 3 else ("</s>" if i == 3 else "")
    for i in np.asarray(test_y)[0]
    if i != 0
]
fig, axes = plt.subplots(1, 4, figsize=(16, 4.5), constrained_layout=True)
for ax, (attention, model) in zip(axes, models.items()):
    a = keras.ops.convert_to_numpy(model.attention_weights(example))[0]
    a = a[: len(target_chars), : len(source_chars)]
    ax.imshow(a, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(source_chars)), source_chars, fontsize=7)
    ax.set_yticks(range(len(target_chars)), target_chars, fontsize=7)
    ax.set_title(attention)
fig.suptitle("attention weights a_ts: target characters (rows) over source characters")
fig.savefig(OUT / "date_attention.png", dpi=100)
plt.close(fig)
