"""GradientMonitor (TensorBoard, warn once), recurrent_spectrum, the train flag."""

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest

from keras_seq import layers
from keras_seq.diagnostics import GradientMonitor, GradientWarning, recurrent_spectrum
from keras_seq.diagnostics.tensorboard_logs import read_scalars

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _model(clipnorm):
    model = keras.Sequential(
        [
            keras.Input((30, 2)),
            layers.SimpleRNN(8, name="rnn"),
            keras.layers.Dense(1, name="readout"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01, clipnorm=clipnorm), loss="mse")
    return model


def test_monitor_logs_norms_and_warns_once(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 30, 2)).astype("float32")
    y = (10 * rng.normal(size=(16, 1))).astype("float32")
    model = _model(clipnorm=0.01)
    monitor = GradientMonitor(
        (x, y), str(tmp_path), every=2, vanish_ratio=1.0, explode_norm=1e-3
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=8, epochs=3, callbacks=[monitor], verbose=0)
    ours = [w for w in caught if issubclass(w.category, GradientWarning)]
    # Both thresholds are crossed at every log, each is reported once.
    assert len(ours) == 2, [str(w.message) for w in ours]
    assert "exploded" in str(ours[0].message) or "exploded" in str(ours[1].message)
    assert any("vanish through time in rnn" in str(w.message) for w in ours)
    assert [r["step"] for r in monitor.history] == [0, 2, 4, 6]
    first = monitor.history[0]
    assert set(first["layers"]) == {"rnn", "readout"}
    # clipnorm clips each weight's gradient: at most sqrt(#weights) * 0.01.
    assert first["global_norm_clipped"] <= np.sqrt(5) * 0.01 + 1e-6
    assert first["global_norm"] > first["global_norm_clipped"]
    scalars = read_scalars(str(tmp_path))
    steps, values = scalars["gradients/global_norm"]["."]
    assert list(steps) == [0, 2, 4, 6]
    np.testing.assert_allclose(
        values, [r["global_norm"] for r in monitor.history], rtol=1e-6
    )
    assert "bptt/rnn/first_over_last" in scalars
    assert "gradients/readout" in scalars


def test_monitor_measures_the_layers_it_can(tmp_path):
    import zoo

    model = zoo.build("seq2seq_attention", "tiny")
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = {
        "encoder_token_ids": np.array([[5, 6, 7, 3], [8, 9, 3, 0]], "int32"),
        "decoder_token_ids": np.array([[2, 9, 8], [2, 4, 4]], "int32"),
    }
    y = np.array([[9, 8, 3], [4, 4, 3]], "int32")
    monitor = GradientMonitor((x, y), str(tmp_path), every=1)
    model.fit(x, y, epochs=1, callbacks=[monitor], verbose=0)
    # The encoder's two directions are measured; the attention decoder cell
    # (its output is [s_t; c_t], not h_t) is left out.
    measured = set(monitor.history[-1]["bptt"])
    assert len(measured) == 2 and all(p.startswith("encoder_0/") for p in measured)


def test_spectrum_and_its_reading():
    rnn = layers.SimpleRNN(6)
    rnn.build((None, 4, 3))
    u = rnn.cell.recurrent_kernel.numpy()
    for scale, word in ((0.5, "vanish"), (2.0, "explode")):
        rnn.cell.recurrent_kernel.assign(scale * u)
        spectrum = recurrent_spectrum(rnn)
        w = scale * u
        assert spectrum.spectral_radius == pytest.approx(
            np.max(np.abs(np.linalg.eigvals(w))), rel=1e-5
        )
        assert spectrum.max_singular_value == pytest.approx(
            np.linalg.svd(w, compute_uv=False)[0], rel=1e-5
        )
        assert word in spectrum.reading
    lstm = keras.layers.LSTM(5)
    lstm.build((None, 4, 3))
    spectrum = recurrent_spectrum(lstm)
    assert list(spectrum.gates) == ["i", "f", "c", "o"]
    assert spectrum.gates["c"] == (
        spectrum.spectral_radius,
        spectrum.max_singular_value,
    )
    assert "gates carry the state" in spectrum.reading
    with pytest.raises(ValueError, match="no built `recurrent_kernel`"):
        recurrent_spectrum(keras.layers.Dense(3))


def test_train_flag_writes_gradient_logs(corpus, tmp_path):
    model_dir = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.train",
            "--model=char_rnn",
            f"--dataset=text:{corpus}",
            f"--model_dir={model_dir}",
            "--steps=6",
            "--batch_size=8",
            "--sequence_length=32",
            "--override=hidden_dim=16",
            "--gradient_stats_every=3",
            "--nojit_compile",
            "--noexport",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    scalars = read_scalars(str(model_dir / "logs" / "gradients"))
    steps, values = scalars["gradients/global_norm"]["."]
    assert list(steps) == [0, 3, 6] and np.all(np.isfinite(values))
    clipped = scalars["gradients/global_norm_clipped"]["."][1]
    assert np.all(clipped <= values + 1e-6)
    assert any(tag.startswith("bptt/") for tag in scalars)
    # The training curves: batch-level points, and the epoch summary kept.
    curves = read_scalars(str(model_dir / "logs"))
    assert list(curves["batch_loss"]["train"][0]) == [2, 4, 6]
    assert "epoch_loss" in curves
