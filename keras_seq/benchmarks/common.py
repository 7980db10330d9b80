"""What the benchmarks share: compiled steps, and models built at their sizes."""

import keras_hub
import numpy as np
import tensorflow as tf

import zoo

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


def zoo_model(name, sizes, max_length):
    """The zoo's `name` at the benchmark's sizes, dropout off."""
    return zoo.build(
        name,
        "tiny",
        vocabulary_size=sizes["vocabulary_size"],
        max_sequence_length=max_length,
        num_layers=sizes["num_layers"],
        d_model=sizes["d_model"],
        num_heads=sizes["num_heads"],
        dff=sizes["dff"],
        dropout=0.0,
    )


def gpt2_causal_lm(sizes, max_length):
    """keras-hub's `GPT2CausalLM` (no preprocessor) at the same sizes."""
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=sizes["vocabulary_size"],
        num_layers=sizes["num_layers"],
        num_heads=sizes["num_heads"],
        hidden_dim=sizes["d_model"],
        intermediate_dim=sizes["dff"],
        dropout=0.0,
        max_sequence_length=max_length,
    )
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)
