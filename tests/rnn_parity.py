"""Shared checks of the recurrent cells and layers against Keras's own.

Used by test_simple_rnn.py, test_lstm.py and test_gru.py (imported as
`rnn_parity`: pytest puts this directory on `sys.path`).
"""

import keras
import numpy as np
import tensorflow as tf

from keras_seq import layers

# kind -> (our layer, our cell, Keras layer, Keras cell)
KINDS = {
    "simple_rnn": (
        layers.SimpleRNN,
        layers.SimpleRNNCell,
        keras.layers.SimpleRNN,
        keras.layers.SimpleRNNCell,
    ),
    "lstm": (layers.LSTM, layers.LSTMCell, keras.layers.LSTM, keras.layers.LSTMCell),
    "gru": (layers.GRU, layers.GRUCell, keras.layers.GRU, keras.layers.GRUCell),
}
RNN_ARGS = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")
BATCH, STEPS, FEATURES, UNITS = 3, 5, 4, 4
ATOL = 1e-5

# Variants checked for every kind, on both paths ("layer": our SimpleRNN/LSTM/
# GRU against Keras's; "cell": keras.layers.RNN(our cell) against
# keras.layers.RNN(Keras's cell)).
PARITY_CASES = {
    "last_output": dict(return_sequences=False),
    "sequences_masked": dict(return_sequences=True, masked=True),
    "backwards_masked": dict(return_sequences=True, go_backwards=True, masked=True),
    "backwards_last_masked": dict(go_backwards=True, masked=True),
    "unrolled_no_bias": dict(return_sequences=True, unroll=True, use_bias=False),
    "bidirectional_masked": dict(
        return_sequences=True, bidirectional=True, masked=True
    ),
}


def inputs(seed=0, features=FEATURES):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(BATCH, STEPS, features)).astype("float32")


def padding_mask():
    """Right padding (sample 0), left padding (sample 1), a hole (sample 2)."""
    mask = np.ones((BATCH, STEPS), dtype=bool)
    mask[0, 3:] = False
    mask[1, :2] = False
    mask[2, 2] = False
    return mask


def build_pair(kind, path, bidirectional=False, **config):
    """Our layer and the Keras reference with the same config, unbuilt."""
    ours_layer, ours_cell, ref_layer, ref_cell = KINDS[kind]
    config = {"return_state": True, **config}
    if path == "layer":
        ours, ref = ours_layer(UNITS, **config), ref_layer(UNITS, **config)
    else:
        rnn_args = {k: config.pop(k) for k in RNN_ARGS if k in config}
        ours = keras.layers.RNN(ours_cell(UNITS, **config), **rnn_args)
        ref = keras.layers.RNN(ref_cell(UNITS, **config), **rnn_args)
    if bidirectional:
        ours = keras.layers.Bidirectional(ours)
        ref = keras.layers.Bidirectional(ref)
    return ours, ref


def outputs_and_gradients(layer, x, mask):
    """Flat outputs, and gradients of a weighted sum of them w.r.t. x, weights."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = keras.tree.flatten(layer(x, mask=mask))
        # Fixed, non-uniform weights: every output element counts differently.
        loss = sum(
            tf.reduce_sum(
                out * np.cos(np.arange(np.prod(out.shape))).reshape(out.shape)
            )
            for out in outputs
        )
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    return [np.asarray(o) for o in outputs], [np.asarray(g) for g in grads]


def assert_same(ours, ref, x, mask, what):
    ours_out, ours_grads = outputs_and_gradients(ours, x, mask)
    ref_out, ref_grads = outputs_and_gradients(ref, x, mask)
    assert len(ours_out) == len(ref_out), what
    for i, (a, b) in enumerate(zip(ours_out, ref_out)):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=0, err_msg=f"{what}: out {i}")
    names = ["inputs"] + [w.path for w in ours.trainable_weights]
    assert len(ours_grads) == len(ref_grads), what
    for name, a, b in zip(names, ours_grads, ref_grads):
        np.testing.assert_allclose(
            a, b, atol=ATOL, rtol=0, err_msg=f"{what}: d/d{name}"
        )


def randomize(layer, seed):
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.weights]
    )


def assert_parity(kind, path, case):
    """Weights Keras -> ours and ours -> Keras give equal outputs and gradients."""
    config = dict(PARITY_CASES[case]) if isinstance(case, str) else dict(case)
    masked = config.pop("masked", False)
    ours, ref = build_pair(kind, path, **config)
    x = inputs()
    mask = padding_mask() if masked else None
    ours(x)
    ref(x)
    assert [w.shape for w in ours.get_weights()] == [
        w.shape for w in ref.get_weights()
    ], "weight layouts differ"
    assert [w.path.split("/")[-1] for w in ours.weights] == [
        w.path.split("/")[-1] for w in ref.weights
    ], "weight order differs"

    randomize(ref, seed=1)
    ours.set_weights(ref.get_weights())
    assert_same(ours, ref, x, mask, f"{kind}/{path}/{case}: Keras -> ours")

    randomize(ours, seed=2)
    ref.set_weights(ours.get_weights())
    assert_same(ours, ref, x, mask, f"{kind}/{path}/{case}: ours -> Keras")


def assert_regularizer_losses(kind):
    """Weight regularizers add Keras's losses; the activity one, Keras's formula."""
    config = {
        "kernel_regularizer": "l2",
        "recurrent_regularizer": keras.regularizers.L1(0.02),
        "bias_regularizer": "l1",
    }
    ours, ref = build_pair(kind, "layer", **config)
    x = inputs()
    ours(x)
    ref(x)
    randomize(ref, seed=3)
    ours.set_weights(ref.get_weights())
    assert len(ours.losses) == len(ref.losses) == 3
    np.testing.assert_allclose(
        sorted(float(v) for v in ours.losses),
        sorted(float(v) for v in ref.losses),
        rtol=1e-5,
    )
    # keras.layers.SimpleRNN drops `activity_regularizer` (Keras 3.15), so the
    # reference here is `keras.layers.Layer`'s rule: the regularizer of each
    # output (and state), divided by the batch size.
    regularizer = keras.regularizers.L2(0.03)
    layer = KINDS[kind][0](UNITS, return_state=True, activity_regularizer=regularizer)
    outputs = keras.tree.flatten(layer(x))
    assert len(outputs) == len(layer.losses) > 1
    expected = [0.03 * np.sum(np.square(o)) / BATCH for o in outputs]
    np.testing.assert_allclose([float(v) for v in layer.losses], expected, rtol=1e-5)


def assert_mask_carries_state(kind):
    """Padded steps leave the state alone; a Masking layer gives the same mask."""
    ours_layer = KINDS[kind][0]
    layer = ours_layer(UNITS, return_sequences=True, return_state=True)
    x = inputs()
    mask = padding_mask()
    seq, *states = (np.asarray(t) for t in layer(x, mask=mask))
    # Sample 0 is right-padded after step 3: its final states are those of the
    # first 3 steps alone, and its outputs repeat the last real one.
    short_seq, *short_states = (np.asarray(t) for t in layer(x[:1, :3]))
    for full, short in zip(states, short_states):
        np.testing.assert_allclose(full[0], short[0], atol=ATOL, rtol=0)
    np.testing.assert_allclose(seq[0, :3], short_seq[0], atol=ATOL, rtol=0)
    np.testing.assert_allclose(seq[0, 3], seq[0, 2], atol=ATOL, rtol=0)
    np.testing.assert_allclose(seq[0, 4], seq[0, 2], atol=ATOL, rtol=0)
    # Sample 1 is left-padded: the state stays at zero until step 2.
    np.testing.assert_allclose(seq[1, :2], 0.0, atol=0)
    # The same through a Keras `Masking` layer (padding zeros).
    padded = np.where(mask[..., None], x, 0.0).astype("float32")
    masked = keras.layers.Masking(0.0)(padded)
    via_masking = [np.asarray(t) for t in layer(masked)]
    for a, b in zip(via_masking, [seq, *states]):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)


def assert_stateful(kind):
    """A stateful layer continues from the last call; `reset_state` restarts."""
    ours_layer = KINDS[kind][0]
    x = inputs()
    layer = ours_layer(UNITS, stateful=True, return_sequences=True)
    whole = ours_layer(UNITS, return_sequences=True)
    layer(x[:, :2])
    whole(x)
    whole.set_weights(layer.get_weights())
    expected = np.asarray(whole(x))
    layer.reset_state()
    first = np.asarray(layer(x[:, :2]))
    second = np.asarray(layer(x[:, 2:]))  # starts from the state after `first`
    np.testing.assert_allclose(first, expected[:, :2], atol=ATOL, rtol=0)
    np.testing.assert_allclose(second, expected[:, 2:], atol=ATOL, rtol=0)
    carried_on = np.asarray(layer(x[:, :2]))
    assert not np.allclose(carried_on, expected[:, :2]), "the state was not kept"
    layer.reset_state()
    np.testing.assert_allclose(
        np.asarray(layer(x[:, :2])), expected[:, :2], atol=ATOL, rtol=0
    )


def assert_dropout_only_in_training(layer, reference):
    """`layer` has dropout; `reference` is the same without. Eager and XLA."""
    x = inputs()
    layer(x)
    reference(x)
    reference.set_weights(layer.get_weights())
    clean = np.asarray(reference(x))
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), clean)
    np.testing.assert_array_equal(np.asarray(layer(x)), clean)
    train_1 = np.asarray(layer(x, training=True))
    train_2 = np.asarray(layer(x, training=True))
    assert not np.allclose(train_1, clean), "dropout had no effect in training"
    assert not np.allclose(train_1, train_2), "the same dropout masks twice"

    @tf.function(jit_compile=True)
    def jitted(x, training):
        return layer(x, training=training)

    jit_train_1 = np.asarray(jitted(x, True))
    jit_train_2 = np.asarray(jitted(x, True))
    assert np.all(np.isfinite(jit_train_1))
    assert not np.allclose(jit_train_1, clean), "no dropout under jit_compile"
    assert not np.allclose(jit_train_1, jit_train_2), "fixed masks under XLA"
    np.testing.assert_allclose(np.asarray(jitted(x, False)), clean, atol=ATOL)


@keras.saving.register_keras_serializable(package="keras_seq_tests")
class CellRNN(keras.layers.RNN):
    """`keras.layers.RNN(getattr(keras_seq.layers, cell_class)(**cell_config))`.

    Lets `run_layer_test` build a fresh cell (with the layer's `dtype`) for
    each model it makes, from plain constructor arguments.
    """

    def __init__(self, cell_class, cell_config, **kwargs):
        cell = getattr(layers, cell_class)(**cell_config, dtype=kwargs.get("dtype"))
        super().__init__(cell, **kwargs)
        self.cell_class = cell_class
        self.cell_config = dict(cell_config)

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        config.update(cell_class=self.cell_class, cell_config=self.cell_config)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
