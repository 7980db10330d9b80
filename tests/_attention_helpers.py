"""Helpers for the attention layer tests: weight copying, gradients, doctests."""

import doctest

import numpy as np
import tensorflow as tf


def copy_keras_mha_weights(theirs, ours):
    """Copies `keras.layers.MultiHeadAttention` weights into our MHA.

    Theirs are einsum kernels `(d, heads, depth)` and `(heads, depth, d)`
    with biases `(heads, depth)` and `(d,)`; ours are the same numbers
    reshaped to Dense kernels `(d, heads * depth)`, head-major.

    Returns:
        `(their_variables, our_variables)`, aligned lists.
    """
    pairs = [
        (theirs.query_dense, ours.wq),
        (theirs.key_dense, ours.wk),
        (theirs.value_dense, ours.wv),
        (theirs.output_dense, ours.dense),
    ]
    return copy_weights(pairs, reshape=True)


def copy_weights(pairs, reshape=False):
    """Copies each `(source_layer, target_layer)`'s weights, in order.

    Returns:
        `(source_variables, target_variables)`, aligned lists.
    """
    sources, targets = [], []
    for src, dst in pairs:
        values = src.get_weights()
        if reshape:
            values = [v.reshape(w.shape) for v, w in zip(values, dst.weights)]
        dst.set_weights(values)
        sources += src.weights
        targets += dst.weights
    return sources, targets


def random_keras_mha_weights(layer, rng):
    """Gives every weight of a built Keras MHA random values (biases too)."""
    layer.set_weights(
        [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in layer.weights]
    )


def outputs_and_grads(fn, inputs, weights, cotangents):
    """Runs `fn(*inputs)` and the gradients of `sum(out * cotangent)`.

    Returns the outputs and the gradients with respect to the float inputs
    and `weights`, all as numpy arrays.
    """
    inputs = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        for x in inputs:
            if x.dtype.is_floating:
                tape.watch(x)
        outputs = fn(*inputs)
        if not isinstance(outputs, (tuple, list)):
            outputs = [outputs]
        loss = sum(tf.reduce_sum(o * c) for o, c in zip(outputs, cotangents))
    sources = [x for x in inputs if x.dtype.is_floating] + list(weights)
    grads = tape.gradient(loss, sources)
    return [np.asarray(o) for o in outputs], [np.asarray(g) for g in grads]


def run_doctests(module):
    """Runs the examples in `module`'s docstrings; fails on any failure."""
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{module.__name__} has no docstring example"
    assert result.failed == 0, f"{result.failed} example(s) failed in {module}"
