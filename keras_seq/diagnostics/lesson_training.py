"""The lesson's small training loop: gradient norms every step, a NaN guard."""

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

import zoo

LABELS = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def recurrent_regressor(cell, units, seed):
    """The zoo's `rnn_classifier` as a regressor on `(B, T, 2)` features."""
    keras.utils.set_random_seed(seed)
    return zoo.build(
        "rnn_classifier",
        "tiny",
        input_features=2,
        num_classes=1,
        bidirectional=False,
        cell=cell,
        hidden_dim=units,
    )


def scale_recurrent_matrix(layer, spectral_radius):
    """Rescales `layer`'s `W_hh` (a vanilla RNN) to the given spectral radius."""
    kernel = layer.cell.recurrent_kernel
    value = np.asarray(kernel.numpy(), np.float64)
    value *= spectral_radius / np.max(np.abs(np.linalg.eigvals(value)))
    kernel.assign(value.astype("float32"))


@dataclasses.dataclass
class History:
    """Per-step loss and global gradient norm (before clipping) of a run;
    `stopped` says why it ended early (`None` if it ran all steps)."""

    loss: list
    grad_norm: list
    stopped: str = None


def mse_loss(model, x, y):
    return tf.reduce_mean(tf.square(model(x, training=True)[:, 0] - y))


def train(model, batches, steps, optimizer, loss_fn=mse_loss, jit_compile=True):
    """Trains `steps` steps on `batches` (an iterator of `(x, y)`).

    The global gradient norm is measured before the optimizer's clipping.
    A step whose loss or gradient norm is not finite is not applied: the run
    stops there (`History.stopped` says so) with the last finite weights.
    """
    optimizer.build(model.trainable_variables)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(model, x, y)
        grads = tape.gradient(loss, model.trainable_variables)
        norm = tf.linalg.global_norm(grads)
        finite = tf.math.is_finite(loss) & tf.math.is_finite(norm)

        def apply():
            optimizer.apply(grads, model.trainable_variables)
            return tf.constant(True)

        applied = tf.cond(finite, apply, lambda: tf.constant(False))
        return loss, norm, applied

    step = tf.function(step, jit_compile=jit_compile)
    history = History(loss=[], grad_norm=[])
    for i in range(steps):
        x, y = next(batches)
        loss, norm, applied = step(x, y)
        history.loss.append(float(loss))
        history.grad_norm.append(float(norm))
        if not bool(applied):
            history.stopped = (
                f"step {i + 1}: loss {float(loss):.3g}, gradient norm "
                f"{float(norm):.3g}: not finite; the NaN guard stopped the run "
                f"before applying it (weights of step {i} kept)"
            )
            break
    return history


def finite_weights(model):
    return all(np.isfinite(w).all() for w in model.get_weights())


def json_number(value):
    """A float for JSON (`None` for NaN/Inf, which JSON lacks)."""
    value = float(value)
    return value if math.isfinite(value) else None
