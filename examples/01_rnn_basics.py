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
# # 01. RNN basics: the forward pass, BPTT and the gradient problems
#
# Course section 01 (RNN 基础): the vanilla RNN, backpropagation through
# time, vanishing and exploding gradients. We write the course's equations
# in numpy next to `keras_seq.layers.SimpleRNNCell`, derive BPTT by hand and
# check it against `tf.GradientTape`, measure how $\|\partial L / \partial
# h_t\|$ shrinks or grows with the distance from the loss, and train a
# stateful character model with truncated BPTT.
#
# `KERAS_SEQ_QUICK=1` runs everything small (CI does that); figures go to
# `KERAS_SEQ_OUTPUT_DIR` (default `examples/outputs/01_rnn_basics`).

# %%
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from keras_seq import data  # noqa: E402
from keras_seq.layers import SimpleRNN, SimpleRNNCell  # noqa: E402

QUICK = os.environ.get("KERAS_SEQ_QUICK", "0") == "1"
OUT = pathlib.Path(
    os.environ.get("KERAS_SEQ_OUTPUT_DIR", "examples/outputs/01_rnn_basics")
)
OUT.mkdir(parents=True, exist_ok=True)
keras.utils.set_random_seed(0)
print("quick mode:", QUICK, "| figures in", OUT)

# %% [markdown]
# ## The forward pass
#
# $$h_t = \tanh(W_{hh}h_{t-1} + W_{xh}x_t + b_h)$$
# $$y_t = W_{hy}h_t + b_y$$
#
# Keras (and `SimpleRNNCell`) keep inputs as row vectors, so the cell
# computes `tanh(x_t @ kernel + h_prev @ recurrent_kernel + bias)`:
# `kernel` is $W_{xh}^\top$ `(features, units)`, `recurrent_kernel` is
# $W_{hh}^\top$ `(units, units)`, `bias` is $b_h$. The readout $W_{hy}$ is a
# `Dense` layer applied at every step.

# %%
batch, T, features, units, outputs = 2, 8, 3, 5, 2
rng = np.random.default_rng(0)
x = rng.normal(size=(batch, T, features)).astype("float32")
target = rng.normal(size=(batch, T, outputs)).astype("float32")

rnn = SimpleRNN(units, return_sequences=True)
readout = keras.layers.Dense(outputs)
y_keras = keras.ops.convert_to_numpy(readout(rnn(x)))
W_xh, W_hh, b_h = (keras.ops.convert_to_numpy(w).T for w in rnn.cell.weights)
W_hy, b_y = (
    keras.ops.convert_to_numpy(readout.kernel).T,
    keras.ops.convert_to_numpy(readout.bias),
)
print("W_xh", W_xh.shape, "W_hh", W_hh.shape, "b_h", b_h.shape, "W_hy", W_hy.shape)

h = np.zeros((units, batch), "float32")  # column vectors, as in the course
hs, ys = [h], []
for t in range(T):
    h = np.tanh(W_hh @ h + W_xh @ x[:, t].T + b_h[:, None])
    hs.append(h)
    ys.append((W_hy @ h + b_y[:, None]).T)
y_hand = np.stack(ys, axis=1)
print("y:", y_hand.shape, " max |keras_seq - numpy| =", np.abs(y_keras - y_hand).max())
np.testing.assert_allclose(y_keras, y_hand, atol=1e-5)

# The cell is one step; keras.layers.RNN (or our SimpleRNN) loops it.
cell = SimpleRNNCell(units)
h1, _ = cell(x[:, 0], [np.zeros((batch, units), "float32")])
print("one cell step:", x[:, 0].shape, "->", tuple(h1.shape))

# %% [markdown]
# ## Backpropagation through time, by hand
#
# With $L = \frac12 \sum_t \|y_t - \hat y_t\|^2$ and $a_t$ the
# pre-activation, the chain rule runs backwards through the steps:
#
# $$\frac{\partial L}{\partial y_t} = y_t - \hat y_t, \qquad
# \frac{\partial L}{\partial h_t} = W_{hy}^\top \frac{\partial L}{\partial y_t} + W_{hh}^\top \frac{\partial L}{\partial a_{t+1}}, \qquad
# \frac{\partial L}{\partial a_t} = \frac{\partial L}{\partial h_t} \odot (1 - h_t^2)$$
#
# $$\frac{\partial L}{\partial W_{hh}} = \sum_t \frac{\partial L}{\partial a_t} h_{t-1}^\top, \qquad
# \frac{\partial L}{\partial W_{xh}} = \sum_t \frac{\partial L}{\partial a_t} x_t^\top, \qquad
# \frac{\partial L}{\partial W_{hy}} = \sum_t \frac{\partial L}{\partial y_t} h_t^\top$$
#
# The same weights get a contribution from every step: that sum is BPTT.

# %%
dW_xh, dW_hh, db_h = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros_like(b_h)
dW_hy, db_y = np.zeros_like(W_hy), np.zeros_like(b_y)
da_next = np.zeros((units, batch), "float32")
for t in reversed(range(T)):
    dy = (y_hand[:, t] - target[:, t]).T  # (outputs, batch)
    dW_hy += dy @ hs[t + 1].T
    db_y += dy.sum(1)
    dh = W_hy.T @ dy + W_hh.T @ da_next
    da = dh * (1 - hs[t + 1] ** 2)
    dW_hh += da @ hs[t].T
    dW_xh += da @ x[:, t]
    db_h += da.sum(1)
    da_next = da

with tf.GradientTape() as tape:
    loss = 0.5 * keras.ops.sum((readout(rnn(x)) - target) ** 2)
grads = tape.gradient(loss, [*rnn.cell.weights, readout.kernel, readout.bias])
by_hand = [dW_xh.T, dW_hh.T, db_h, dW_hy.T, db_y]
for name, g, mine in zip(["W_xh", "W_hh", "b_h", "W_hy", "b_y"], grads, by_hand):
    err = np.abs(keras.ops.convert_to_numpy(g) - mine).max()
    print(f"dL/d{name:<5} GradientTape vs by hand: max |diff| = {err:.2e}")
    np.testing.assert_allclose(g, mine, atol=1e-4)

# %% [markdown]
# ## Vanishing and exploding gradients
#
# Unrolling the recursion, the gradient that reaches step $t$ from a loss at
# step $T$ is a product of $T - t$ Jacobians:
#
# $$\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} \text{diag}(1 - h_k^2)\, W_{hh}$$
#
# Its norm behaves roughly like $\rho(W_{hh})^{T-t}$ (the spectral radius),
# shrunk further by the $\tanh'$ factors: it vanishes exponentially for
# $\rho < 1$ and can explode for $\rho > 1$ (Pascanu et al., 2013). We put
# the loss on the last step only and measure $\|\partial L / \partial h_t\|$
# for every $t$, with $W_{hh}$ an orthogonal matrix scaled to
# $\rho = 0.5, 0.9, 1.0, 1.5$ (small inputs, so the tanh stays near linear).

# %%
T_long, n = (60, 32) if QUICK else (200, 64)
x_long = 0.05 * np.random.default_rng(1).normal(size=(4, T_long, 8)).astype("float32")
curves = {}
rho_layers = {}
for rho in (0.5, 0.9, 1.0, 1.5):
    layer = SimpleRNN(
        n,
        return_sequences=True,
        recurrent_initializer="orthogonal",
        kernel_initializer="glorot_uniform",
    )
    layer.build((None, T_long, 8))
    layer.cell.recurrent_kernel.assign(
        rho * keras.ops.convert_to_numpy(layer.cell.recurrent_kernel)
    )
    c = layer.cell
    h = tf.zeros((4, n))
    states = []
    with tf.GradientTape() as tape:
        for t in range(T_long):
            tape.watch(h)
            states.append(h)
            h = tf.tanh(x_long[:, t] @ c.kernel + h @ c.recurrent_kernel + c.bias)
        loss = tf.reduce_sum(h)  # the loss sees only h_T
    # ||dL/dh_t|| per example, averaged over the batch; states[t] is h_t
    # for t = 0 .. T-1 (the state h_T itself gets dL/dh_T = 1 per unit).
    grads = tape.gradient(loss, states)
    norms = [float(tf.reduce_mean(tf.norm(g, axis=-1))) for g in grads]
    curves[rho] = np.array(norms)
    rho_layers[rho] = layer
    print(
        f"rho={rho:>3}: ||dL/dh_T-1|| = {norms[-1]:.3g}, ||dL/dh_0|| = {norms[0]:.3g}"
    )

fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
for rho, norms in curves.items():
    ax.semilogy(
        np.arange(T_long, 0, -1), np.maximum(norms, 1e-30), label=f"ρ(W_hh) = {rho}"
    )
ax.set_xlabel("distance T - t from the loss (steps)")
ax.set_ylabel("||∂L/∂h_t||")
ax.set_title("BPTT gradient norms: vanishing (ρ<1) and exploding (ρ>1)")
ax.legend()
fig.savefig(OUT / "gradient_norms.png", dpi=100)
plt.close(fig)

# %% [markdown]
# The same measurement, for any Keras model with recurrent layers:
# `keras_seq.diagnostics.BPTTProbe` perturbs each step's hidden state by a
# zero $e_t$ inside the layer's loop, so $\partial L / \partial e_t =
# \partial L / \partial h_t$, and also returns the Jacobian products
# $\|\partial h_T / \partial h_t\|$. On the $\rho = 0.9$ RNN above, wrapped in
# a model whose loss is $\sum h_T$, it gives the numbers we computed by hand.
# (`keras-seq-lesson gradients --quick` draws these curves for SimpleRNN,
# LSTM and GRU trained on the adding problem.)

# %%
from keras_seq.diagnostics import BPTTProbe  # noqa: E402

probe_model = keras.Sequential(
    [keras.Input((T_long, 8)), SimpleRNN(n, name="rnn")], name="probe_model"
)
probe_model.get_layer("rnn").set_weights(rho_layers[0.9].get_weights())
probe = BPTTProbe(
    probe_model, loss=lambda y_true, h_T: keras.ops.sum(h_T), jacobian_examples=1
)
profile = probe(x_long, np.zeros((4, n), "float32"))["rnn"]
# The probe's step k is h_(k+1): its first T-1 norms are ours for h_1..h_(T-1).
np.testing.assert_allclose(profile.mean_grad_norms()[:-1], curves[0.9][1:], rtol=1e-3)
print(
    "BPTTProbe ||dL/dh_t|| = ours, e.g. t=1:",
    profile.mean_grad_norms()[0],
    curves[0.9][1],
)
print(
    "||dh_T/dh_t|| (largest singular value) at t=1 and t=T:",
    profile.mean_jacobian_norms()[[0, -1]],
)

# %% [markdown]
# The usual fixes: gradient clipping for explosions
# (`keras.optimizers.Adam(clipnorm=1.0)`, the tools' `--clipnorm`), gated
# cells (section 02) for vanishing gradients, and, for long streams,
# **truncated BPTT**.
#
# ## Truncated BPTT
#
# A stateful RNN reads a long text in windows of $k$ steps: the state
# $h$ flows across windows, the gradient stops at the window's start. The
# stream is cut into `batch_size` contiguous lanes so that row $j$ of batch
# $b+1$ continues row $j$ of batch $b$ (`data.truncated_bptt_batches`).

# %%
stream = np.arange(1, 61)
tx, ty = data.truncated_bptt_batches(stream, batch_size=3, seq_length=5)
print("batch 0 rows:", tx["token_ids"][:3].tolist())
print(
    "batch 1 rows:", tx["token_ids"][3:6].tolist(), "(each row continues the row above)"
)

text = "\n".join(
    f"{a} + {b} = {a + b}. the quick brown fox jumps over the lazy dog {i}."
    for i, (a, b) in enumerate(
        np.random.default_rng(0).integers(0, 100, size=(400 if QUICK else 4000, 2))
    )
)
tokenizer = data.CharTokenizer.from_texts([text])
ids = tokenizer.tokenize([text]).to_tensor().numpy()[0]
print(f"text: {len(ids):,} characters, vocabulary {tokenizer.vocabulary_size}")

batch_size = 16
losses = {}
for k in (5, 25):
    keras.utils.set_random_seed(0)
    x_k, y_k = data.truncated_bptt_batches(ids, batch_size=batch_size, seq_length=k)
    model = zoo.build(
        "char_rnn",
        "tiny",
        cell="rnn",
        vocabulary_size=int(tokenizer.vocabulary_size),
        num_layers=1,
        hidden_dim=64,
        stateful=True,
        batch_size=batch_size,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    per_epoch = []
    for _epoch in range(2 if QUICK else 10):
        model.reset_state()  # a new pass over the stream starts from h = 0
        hist = model.fit(
            x_k, y_k, batch_size=batch_size, shuffle=False, epochs=1, verbose=0
        )
        per_epoch.append(hist.history["loss"][-1])
    losses[k] = per_epoch
    print(
        f"k={k:>2}: {len(x_k['token_ids']) // batch_size} windows per lane; loss per epoch {np.round(per_epoch, 3).tolist()}"
    )

fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
layout = tx["token_ids"][:12]
im = axes[0].imshow(layout, cmap="viridis", aspect="auto")
for (r, c), v in np.ndenumerate(layout):
    axes[0].text(c, r, int(v), ha="center", va="center", fontsize=7, color="w")
axes[0].set_xlabel("position in window")
axes[0].set_ylabel("row (batch b = row // 3)")
axes[0].set_title("truncated-BPTT layout: 3 lanes of 1..60, windows of 5")
for k, per_epoch in losses.items():
    axes[1].plot(range(1, len(per_epoch) + 1), per_epoch, marker="o", label=f"k = {k}")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("training loss")
axes[1].set_title("stateful char RNN, truncation length k")
axes[1].legend()
fig.savefig(OUT / "truncated_bptt.png", dpi=100)
plt.close(fig)

# %% [markdown]
# **Reading.** The numpy forward and backward passes are the layer's to
# float precision. The gradient norms fall (or grow) geometrically with the
# distance from the loss, at a rate set by $\rho(W_{hh})$: this is why the
# plain RNN cannot learn long dependencies, and why section 02's gates help.
# Next: section 02, LSTM and GRU.
