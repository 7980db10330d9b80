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
# # 04. The Transformer
#
# Course section 04 (Transformer 架构): multi-head attention, positional
# encoding, the feed-forward network and layer normalization. The course
# leaves `MultiHeadAttention.call` as `pass`; we open the completed one, check
# it against `keras.layers.MultiHeadAttention` with the same weights, draw the
# sinusoid table, stack encoder and decoder blocks, train a small Transformer
# to reverse sequences, decode with and without the key/value cache, and run
# the model on LiteRT (TFLite).
#
# `KERAS_SEQ_QUICK=1` runs everything small (CI does that); figures go to
# `KERAS_SEQ_OUTPUT_DIR` (default `examples/outputs/04_transformer`).

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
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from keras_seq import export  # noqa: E402
from keras_seq.layers import (  # noqa: E402
    MultiHeadAttention,
    PositionalEncoding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from keras_seq.training.trainer import TrainConfig, train  # noqa: E402

QUICK = os.environ.get("KERAS_SEQ_QUICK", "0") == "1"
OUT = pathlib.Path(
    os.environ.get("KERAS_SEQ_OUTPUT_DIR", "examples/outputs/04_transformer")
)
OUT.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)
print("quick mode:", QUICK, "| figures in", OUT)

# %% [markdown]
# ## The course's `MultiHeadAttention`, completed
#
# $$\text{MultiHead}(Q, K, V) = \text{Concat}(\text{head}_1, \dots, \text{head}_h)W^O, \qquad \text{head}_i = \text{Attention}(QW_i^Q, KW_i^K, VW_i^V)$$
#
# The course's skeleton has `d_model`, `num_heads`, `depth = d_model //
# num_heads` and the Dense layers `wq`, `wk`, `wv`, `dense`; so does ours.
# `call(q, k, v, mask=None)`: project, split the `d_model` features into
# `num_heads` heads of `depth`, attend per head, concatenate, project with
# `dense`. Below, the same computation in numpy, one head at a time.

# %%
d_model, num_heads, B, T = 32, 4, 2, 6
mha = MultiHeadAttention(d_model=d_model, num_heads=num_heads)
x = np.random.default_rng(0).normal(size=(B, T, d_model)).astype("float32")
out, weights = mha(x, x, x, return_attention_scores=True)
print("d_model", mha.d_model, "num_heads", mha.num_heads, "depth", mha.depth)
print(
    "out",
    tuple(out.shape),
    "attention weights (batch, heads, T, S)",
    tuple(weights.shape),
)


def numpy_weights(dense):
    return [keras.ops.convert_to_numpy(w) for w in dense.weights]


(wq, bq), (wk, bk), (wv, bv), (wo, bo) = (
    numpy_weights(d) for d in (mha.wq, mha.wk, mha.wv, mha.dense)
)
q, k, v = x @ wq + bq, x @ wk + bk, x @ wv + bv
heads = []
for i in range(num_heads):
    cols = slice(i * mha.depth, (i + 1) * mha.depth)  # head i's features
    logits = q[..., cols] @ k[..., cols].transpose(0, 2, 1) / np.sqrt(mha.depth)
    a = np.exp(logits - logits.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    heads.append(a @ v[..., cols])
by_hand = np.concatenate(heads, axis=-1) @ wo + bo
np.testing.assert_allclose(out, by_hand, atol=1e-5)
print("max |ours - numpy| =", np.abs(np.asarray(out) - by_hand).max())

# %% [markdown]
# A reference nobody here wrote: `keras.layers.MultiHeadAttention(num_heads,
# key_dim=depth)` keeps its kernels as `(d_model, heads, depth)`; reshaped,
# they are our `(d_model, d_model)` kernels.

# %%
reference = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=mha.depth)
reference(x, x, x)
reference.set_weights(
    [
        wq.reshape(d_model, num_heads, mha.depth),
        bq.reshape(num_heads, mha.depth),
        wk.reshape(d_model, num_heads, mha.depth),
        bk.reshape(num_heads, mha.depth),
        wv.reshape(d_model, num_heads, mha.depth),
        bv.reshape(num_heads, mha.depth),
        wo.reshape(num_heads, mha.depth, d_model),
        bo,
    ]
)
np.testing.assert_allclose(out, reference(x, x, x), atol=1e-5)
print("matches keras.layers.MultiHeadAttention with the same weights")

# %% [markdown]
# ## Positional encoding
#
# $$PE_{(pos, 2i)} = \sin(pos / 10000^{2i/d_{model}}), \qquad PE_{(pos, 2i+1)} = \cos(pos / 10000^{2i/d_{model}})$$
#
# Attention itself is order-blind (permute the keys and values together and
# the output is the same), so the position is added to the embeddings. Each
# pair of features is a sinusoid of its own wavelength, from $2\pi$ to
# $10000 \cdot 2\pi$; $PE_{pos+k}$ is a linear function of $PE_{pos}$.

# %%
pe_layer = PositionalEncoding(max_length=100, d_model=128)
table = keras.ops.convert_to_numpy(pe_layer(np.zeros((1, 100, 128), "float32")))[0]
print("PE table", table.shape, "first row", table[0, :4], "(sin 0, cos 0, ...)")
fig, axes = plt.subplots(1, 2, figsize=(12, 4), constrained_layout=True)
im = axes[0].imshow(table, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
axes[0].set_xlabel("feature (even: sin, odd: cos)")
axes[0].set_ylabel("position")
axes[0].set_title("sinusoidal positional encoding, d_model=128")
fig.colorbar(im, ax=axes[0])
for i in (0, 4, 16, 32):
    axes[1].plot(table[:, 2 * i], label=f"feature {2 * i} (sin)")
axes[1].set_xlabel("position")
axes[1].legend(fontsize=8)
axes[1].set_title("lower features oscillate faster")
fig.savefig(OUT / "positional_encoding.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## Encoder and decoder blocks
#
# Post-LN blocks as in the paper, with $\text{FFN}(x) = \max(0, xW_1 + b_1)W_2 + b_2$:
#
# - encoder: $x \leftarrow \text{LayerNorm}(x + \text{MHA}(x, x, x))$, then
#   $x \leftarrow \text{LayerNorm}(x + \text{FFN}(x))$;
# - decoder: causal self-attention, then cross-attention to the encoder
#   output $e$, then the FFN, each with its residual and LayerNorm.

# %%
encoder_block = TransformerEncoderBlock(d_model=32, num_heads=4, dff=64)
decoder_block = TransformerDecoderBlock(d_model=32, num_heads=4, dff=64)
source = np.random.default_rng(1).normal(size=(2, 7, 32)).astype("float32")
target = np.random.default_rng(2).normal(size=(2, 5, 32)).astype("float32")
e = encoder_block(source)
y = decoder_block(target, e)
print(
    "encoder block:",
    source.shape,
    "->",
    tuple(e.shape),
    f"{encoder_block.count_params():,} params",
)
print(
    "decoder block:",
    target.shape,
    "+ encoder",
    tuple(e.shape),
    "->",
    tuple(y.shape),
    f"{decoder_block.count_params():,} params",
)
# Causality: changing the last target position leaves the earlier outputs alone.
changed = target.copy()
changed[:, -1] += 1.0
y2 = decoder_block(changed, e)
print(
    "max change at positions 0..3 after editing position 4:",
    np.abs(np.asarray(y2 - y)[:, :-1]).max(),
)

# %% [markdown]
# ## A small Transformer that reverses sequences
#
# `sequence_reverse` maps a string of symbols to its reverse: the decoder
# must attend to the mirrored source position, which is easy to read in the
# cross-attention. `keras-seq-train`'s engine (`keras_seq.training.trainer`)
# trains `zoo.build("transformer")` and writes a model directory that the
# export functions read.

# %%
run_dir = OUT / "run"
shutil.rmtree(run_dir, ignore_errors=True)
steps = 80 if QUICK else 3000
config = TrainConfig(
    model="transformer",
    preset="tiny",
    dataset="sequence_reverse/small" if QUICK else "sequence_reverse",
    data_dir=str(OUT / "tfds"),
    model_dir=str(run_dir),
    steps=steps,
    batch_size=64,
    learning_rate=1e-3,
    schedule="warmup_rsqrt",
    warmup_steps=steps // 5,
    checkpoint_every=steps,
    jit_compile=not QUICK,  # XLA compiles for long on 2 cores; worth it for long runs
    export=False,
)
start = time.perf_counter()
metrics = train(config, log=lambda *a: None)
print(
    f"trained {steps} steps in {time.perf_counter() - start:.0f} s:",
    {k: round(v, 3) for k, v in metrics.items() if isinstance(v, float)},
)

# %% [markdown]
# ## Cached vs uncached decoding
#
# Without a cache, step $t$ reruns the decoder over all $t$ tokens so far:
# $O(L^2)$ token-steps for $L$ tokens. With the key/value cache (each
# self-attention keeps the projected keys and values of the past positions,
# the cross-attention keeps the encoder's), each step feeds one token:
# $O(L)$. Same model, same greedy tokens.

# %%
run = export.load_run(str(run_dir))
model, tokenizer = run.model, run.tokenizer
sources = run.held_out_texts(4)
encoder_ids = tokenizer.tokenize(sources).to_tensor().numpy()
max_length = int(encoder_ids.shape[1]) + 2
jit = not QUICK  # XLA-compiled loop (quick mode skips the compile time)


def decode(use_cache):
    return model.generate(
        {"encoder_token_ids": encoder_ids},
        max_length=max_length,
        use_cache=use_cache,
        jit_compile=jit,
    )


timings = {}
outputs = {}
for use_cache in (True, False):
    decode(use_cache)  # trace (and compile) once
    start = time.perf_counter()
    for _ in range(3):
        outputs[use_cache] = decode(use_cache)
    timings[use_cache] = (time.perf_counter() - start) / 3
np.testing.assert_array_equal(outputs[True], outputs[False])
decoded = tokenizer.detokenize(outputs[True]).numpy()
for s, d in zip(sources, decoded):
    print(f"{s!r:>15} -> {d.decode()!r}")
print(
    f"cached {1000 * timings[True]:.1f} ms, uncached {1000 * timings[False]:.1f} ms per batch of {len(sources)}, L={max_length}: same tokens"
)

fig, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
ax.bar(
    ["cached", "uncached"],
    [1000 * timings[True], 1000 * timings[False]],
    color=["C2", "C3"],
)
ax.set_ylabel("ms per generate() call")
ax.set_title(f"greedy decoding, batch {len(sources)}, length {max_length}")
fig.savefig(OUT / "cached_decoding.png", dpi=100)
plt.close(fig)

# %% [markdown]
# ## On a phone: TFLite / LiteRT
#
# `export.export_tflite` converts the model with fixed shapes (batch 1,
# length $L$) and builtin ops only, with three signatures: `logits`,
# `init_cache` (runs the encoder once) and `decode_step` (one token through
# the cache). It verifies the file against Keras before writing it. Below is
# the greedy loop an app runs, in the LiteRT interpreter (`ai_edge_litert`),
# compared with `model.generate` on the same input.

# %%
quantize = ["none"] if QUICK else ["none", "float16", "dynamic"]
# verify_export compares each file with Keras before writing it; the quick
# run leaves that to the check below.
reports = export.export_tflite(
    run,
    str(OUT / "export"),
    quantize=quantize,
    overwrite=True,
    verify_export=not QUICK,
)
for r in reports:
    print(f"{r['quantize']:<8} {r['size_bytes'] / 1024:8.1f} KiB  {r['path']}")
tflite_path = pathlib.Path(reports[0]["path"]) / "model.tflite"
interpreter = Interpreter(model_path=str(tflite_path))
signatures = interpreter.get_signature_list()
print("signatures:", {name: sorted(sig["inputs"]) for name, sig in signatures.items()})
L = int(
    interpreter.get_signature_runner("logits").get_input_details()["encoder_token_ids"][
        "shape"
    ][1]
)

source_ids = np.zeros((1, L), "int32")
first = tokenizer.tokenize(sources[:1]).to_tensor().numpy()[:, :L]
source_ids[:, : first.shape[1]] = first
init_cache = interpreter.get_signature_runner("init_cache")
decode_step = interpreter.get_signature_runner("decode_step")
step_inputs = set(signatures["decode_step"]["inputs"])
start_id = tokenizer.special_ids["bos"]

start = time.perf_counter()
cache = init_cache(encoder_token_ids=source_ids)  # the encoder runs once
tokens = np.zeros((1, L), "int32")
tokens[0, 0] = start_id
for t in range(L - 1):
    args = {"token_ids": tokens[:, t : t + 1], **cache}
    if "index" in step_inputs:
        args["index"] = np.int32(t)
    result = decode_step(**args)
    cache = {k: v for k, v in result.items() if k.startswith("cache_")}
    logits = result["logits"].astype("float32")
    logits[:, 0] = -np.inf  # never the pad id
    tokens[0, t + 1] = logits.argmax(-1)[0]
litert_ms = 1000 * (time.perf_counter() - start)
keras_tokens = model.generate(
    {"encoder_token_ids": source_ids}, max_length=L, jit_compile=jit
)
np.testing.assert_array_equal(tokens, keras_tokens)
print(
    f"LiteRT: {sources[0]!r} -> {tokenizer.detokenize(tokens).numpy()[0].decode()!r} in {litert_ms:.1f} ms; same tokens as model.generate"
)

# %% [markdown]
# **Reading.** The completed `MultiHeadAttention` is the numpy computation
# above and Keras's layer to float precision. The cache changes the cost, not
# the result; the gap grows with the length. The exported model runs without
# TensorFlow on the device and gives Keras's tokens. Next: section 05,
# pretrained BERT, GPT and T5.
