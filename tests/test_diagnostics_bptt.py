"""BPTT diagnostics against independent computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from keras_seq import layers
from keras_seq.diagnostics import BPTTProbe, find_rnn_layers, recurrent_spectrum


def _tiny_simple_rnn(seed=0, timesteps=6, features=2, units=3):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((timesteps, features)),
            layers.SimpleRNN(units, name="rnn"),
            keras.layers.Dense(1, name="readout"),
        ]
    )
    model.compile(loss="mse")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, timesteps, features)).astype("float32")
    y = rng.normal(size=(4, 1)).astype("float32")
    return model, x, y


def test_grad_norms_equal_an_unrolled_gradient_tape():
    model, x, y = _tiny_simple_rnn()
    profile = BPTTProbe(model)(x, y)["rnn"]

    # h_t = tanh(x_t W_xh + h_(t-1) W_hh + b), unrolled by hand.
    w_xh, w_hh, b = model.get_layer("rnn").get_weights()
    w_o, b_o = model.get_layer("readout").get_weights()
    with tf.GradientTape() as tape:
        h = tf.zeros((4, 3))
        states = []
        for t in range(x.shape[1]):
            h = tf.tanh(x[:, t] @ w_xh + h @ w_hh + b)
            tape.watch(h)  # nothing else is a variable here
            states.append(h)
        loss = tf.reduce_mean((h @ w_o + b_o - y) ** 2)
    grads = tape.gradient(loss, states)
    expected = np.stack([np.linalg.norm(g, axis=-1) for g in grads], axis=1)
    np.testing.assert_allclose(profile.grad_norms, expected, atol=1e-6)


def test_jacobian_products_equal_products_of_step_jacobians():
    model, x, y = _tiny_simple_rnn(seed=1, timesteps=5)
    profile = BPTTProbe(model, jacobian_examples=2, return_jacobians=True)(x, y)["rnn"]
    w_xh, w_hh, b = model.get_layer("rnn").get_weights()
    for n in range(2):
        h, hs = np.zeros(3), []
        for t in range(5):
            h = np.tanh(x[n, t] @ w_xh + h @ w_hh + b)
            hs.append(h)
        # J_k = dh_k/dh_(k-1) = diag(1 - h_k^2) W_hh^T (row-vector layout).
        step = [np.diag(1 - hk**2) @ w_hh.T for hk in hs]
        product = np.eye(3)
        for t in reversed(range(5)):  # dh_T/dh_t = J_T ... J_(t+1)
            np.testing.assert_allclose(profile.jacobians[n, t], product, atol=1e-5)
            np.testing.assert_allclose(
                profile.jacobian_norms[n, t],
                np.linalg.svd(product, compute_uv=False)[0],
                rtol=1e-4,
            )
            product = product @ step[t]


def test_lstm_jacobian_products_include_the_cell_state_path():
    keras.utils.set_random_seed(2)
    lstm = keras.layers.LSTM(3, name="lstm")  # Keras's own layer
    model = keras.Sequential([keras.Input((4, 2)), lstm, keras.layers.Dense(1)])
    model.compile(loss="mse")
    x = np.random.default_rng(2).normal(size=(1, 4, 2)).astype("float32")
    profile = BPTTProbe(model, jacobian_examples=1, return_jacobians=True)(
        x, np.ones((1, 1), "float32")
    )["lstm"]
    cell = lstm.cell
    # Per-step Jacobians of the full state s = [h; c], by tape, multiplied.
    h, c = tf.zeros((1, 3)), tf.zeros((1, 3))
    steps = []
    for t in range(4):
        s = tf.concat([h, c], -1)
        with tf.GradientTape() as tape:
            tape.watch(s)
            _, (h_new, c_new) = cell(x[:, t], [s[:, :3], s[:, 3:]])
            out = tf.concat([h_new, c_new], -1)
        steps.append(tape.batch_jacobian(out, s)[0].numpy())
        h, c = h_new, c_new
    product = np.eye(6)
    for t in reversed(range(4)):
        np.testing.assert_allclose(profile.jacobians[0, t], product[:3, :3], atol=1e-5)
        product = product @ steps[t]


@pytest.mark.parametrize("rnn", [layers.GRU, keras.layers.GRU])
def test_probe_leaves_the_model_output_unchanged(rnn):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((7, 3))
    h = keras.layers.Masking()(inputs)
    h = keras.layers.Bidirectional(rnn(4, return_sequences=True), name="bi")(h)
    h = rnn(4, go_backwards=True, name="top")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(loss="mse")
    x = np.random.default_rng(3).random((3, 7, 3)).astype("float32")
    x[0, 4:] = 0.0  # masked steps
    y = np.ones((3, 1), "float32")
    probe = BPTTProbe(model, jacobian_examples=1)
    profiles = probe(x, y)
    assert list(profiles) == list(find_rnn_layers(model))
    assert len(profiles) == 3
    expected = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    assert probe.last_loss == pytest.approx(expected, rel=1e-5)
    # Masked steps carry the state: the Jacobian there is the identity.
    forward = profiles["bi/" + model.get_layer("bi").forward_layer.name]
    np.testing.assert_allclose(forward.jacobian_norms[0, 4:], 1.0, rtol=1e-5)


def test_vanishing_signature_at_initialization_t100():
    """Measured at init on adding-problem inputs, T=100, 32 units, seed 0.

    The keras defaults (orthogonal W_hh, forget-gate bias 1) make the vanilla
    RNN's per-step Jacobian close to orthogonal, while the gated cells
    multiply the state by f_t ~ sigmoid(1) = 0.73 (LSTM) or z_t ~ 0.5 (GRU)
    per step: at initialization the gated cells lose more of the gradient
    through time than SimpleRNN. Their advantage is that the gates can learn
    to carry it (see `keras-seq-lesson gradients`, after training).
    """
    rng = np.random.default_rng(0)
    t = 100
    values = rng.uniform(size=(16, t))
    markers = np.zeros((16, t))
    markers[np.arange(16), rng.integers(0, t // 2, 16)] = 1
    markers[np.arange(16), rng.integers(t // 2, t, 16)] = 1
    x = {"features": np.stack([values, markers], -1).astype("float32")}
    y = (values * markers).sum(1).astype("float32")
    ratios, spectra = {}, {}
    for cell in ("rnn", "lstm", "gru"):
        keras.utils.set_random_seed(0)
        model = zoo.build(
            "rnn_classifier",
            "tiny",
            input_features=2,
            num_classes=1,
            bidirectional=False,
            cell=cell,
            hidden_dim=32,
        )
        model.compile(loss="mse")
        (profile,) = BPTTProbe(model, jacobian_examples=0)(x, y).values()
        ratios[cell] = profile.first_to_last_ratio()
        spectra[cell] = recurrent_spectrum(model.get_layer(f"{cell}_0"))
    # Orthogonal init: every singular value of W_hh is 1.
    assert spectra["rnn"].max_singular_value == pytest.approx(1.0, abs=1e-4)
    assert "no geometric bound" in spectra["rnn"].reading
    assert all(0 <= r < 1e-2 for r in ratios.values()), ratios  # GRU: underflows
    assert ratios["lstm"] < ratios["rnn"], ratios
    assert ratios["gru"] < ratios["lstm"] * 1e-3, ratios


def test_probe_errors_name_the_problem():
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="no recurrent layer"):
        BPTTProbe(dense, loss=keras.losses.MeanSquaredError())
    model, x, y = _tiny_simple_rnn()
    with pytest.raises(ValueError, match="not a recurrent layer.*'rnn'"):
        BPTTProbe(model, layers=["readout"])
    seq2seq = zoo.build("seq2seq_attention", "tiny")
    seq2seq.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    inputs = {
        "encoder_token_ids": np.array([[5, 6, 7, 0]], "int32"),
        "decoder_token_ids": np.array([[2, 9, 8]], "int32"),
    }
    targets = np.array([[9, 8, 3]], "int32")
    with pytest.raises(ValueError, match="outputs something other than"):
        BPTTProbe(seq2seq, layers=["decoder"])(inputs, targets)
    # Its encoder's recurrent layers are measured, padding included.
    encoder = [p for p in find_rnn_layers(seq2seq) if p.startswith("encoder")]
    profiles = BPTTProbe(seq2seq, layers=encoder)(inputs, targets)
    assert [p.grad_norms.shape for p in profiles.values()] == [(1, 4), (1, 4)]
    assert all(np.isfinite(p.grad_norms).all() for p in profiles.values())
