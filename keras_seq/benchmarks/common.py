"""What the layer benchmarks share: compiled train and inference steps."""

import numpy as np
import tensorflow as tf

# Benchmark setting -> `jit_compile` of the `tf.function`.
SETTINGS = {"graph": False, "xla": True}


def random_inputs(shape, seed=0):
    return tf.constant(np.random.default_rng(seed).standard_normal(shape), "float32")


def inference_step(call, jit_compile):
    """`tf.function` of `sum(call())`: a forward pass with a scalar read-back."""

    @tf.function(jit_compile=jit_compile)
    def step():
        return tf.reduce_sum(call())

    return step


def train_step(call, variables, jit_compile, learning_rate=1e-3):
    """`tf.function` of one SGD step on `mean(call()^2)` over `variables`.

    Forward, backward and the weight update: what a training step costs,
    without an optimizer's own overhead (the same for ours and the reference).
    """

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(call()))
        grads = tape.gradient(loss, variables)
        for variable, grad in zip(variables, grads):
            variable.assign_sub(learning_rate * grad)
        return loss

    return step
