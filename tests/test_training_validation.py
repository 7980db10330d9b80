"""Validation during `train`: the best weights kept, early stopping, the
overfitting warning, and resume after SIGKILL, on a crafted tiny text."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import zoo
from keras_seq.training.evaluation import evaluate_model_dir
from keras_seq.training.trainer import TrainConfig, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """Train on "abcabc...", validate on "cbacba...": the same characters,
    reversed transitions. Validation loss first falls (character frequencies)
    and then rises as the model learns a -> b, b -> c, c -> a."""
    path = tmp_path_factory.mktemp("crafted") / "crafted.txt"
    train_lines = ["abc" * 10] * 180
    validation_lines = ["cba" * 10] * 20
    path.write_text("\n".join(train_lines + validation_lines) + "\n")
    return str(path)


def _config(corpus, model_dir, **kwargs):
    return TrainConfig(
        model="char_rnn",
        dataset=f"text:{corpus}",
        model_dir=str(model_dir),
        batch_size=8,
        sequence_length=32,
        learning_rate=0.03,
        overrides={"hidden_dim": 32},
        checkpoint_every=5,
        validate_every=5,
        export=False,
        **{"steps": 80, **kwargs},
    )


def test_crafted_overfit_keeps_the_best_stops_early_and_warns(crafted, tmp_path):
    lines = []
    metrics = train(_config(crafted, tmp_path / "run", early_stopping=4), lines.append)
    state = json.loads((tmp_path / "run" / "best" / "best.json").read_text())
    losses = {h["step"]: h["metrics"]["loss"] for h in state["history"]}
    best_step = min(losses, key=losses.get)
    assert 0 < best_step < max(losses)
    assert metrics["best_step"] == best_step == state["best"]["step"]
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["best_step"] == best_step
    # Early stopping: four evaluations after the best, then no more training.
    assert metrics["stopped_early_at"] == best_step + 20 == metrics["steps"]
    assert max(losses) == best_step + 20
    # model.keras holds the best weights: it evaluates to the best loss.
    kept, _ = evaluate_model_dir(str(tmp_path / "run"), split="validation")
    np.testing.assert_allclose(kept["loss"], losses[best_step], rtol=1e-4)
    assert losses[max(losses)] > losses[best_step] * 1.05
    warnings = [line for line in lines if "overfitting" in line]
    assert len(warnings) == 1, lines
    assert f"at step {best_step}, now" in warnings[0]
    assert "--early_stopping" in warnings[0] and "dropout" in warnings[0]


def test_no_overfitting_warning_on_a_text_that_generalizes(corpus, tmp_path):
    lines = []
    config = _config(corpus, tmp_path / "run", steps=30, validation_fraction=0.2)
    metrics = train(config, lines.append)
    assert not [line for line in lines if "overfitting" in line]
    assert metrics["best_step"] == 30
    best = metrics["validation"]
    assert best["bits_per_character"] == pytest.approx(best["loss"] / np.log(2))
    # The split is kept in config.json, and the evaluate tool uses it.
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["validation_fraction"] == 0.2
    kept, _ = evaluate_model_dir(str(tmp_path / "run"), split="validation")
    np.testing.assert_allclose(kept["loss"], best["loss"], rtol=1e-4)
    assert kept["unit"] == "character"


def test_resume_after_sigkill_keeps_the_best_so_far(crafted, tmp_path):
    model_dir = tmp_path / "run"
    flags = [
        "--model=char_rnn",
        f"--dataset=text:{crafted}",
        f"--model_dir={model_dir}",
        "--steps=60",
        "--batch_size=8",
        "--sequence_length=32",
        "--learning_rate=0.03",
        "--override=hidden_dim=32",
        "--checkpoint_every=10",
        "--validate_every=5",
        "--noexport",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}
    command = [sys.executable, "-m", "tools.train", *flags]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    state_path = model_dir / "best" / "best.json"

    def evaluated():
        try:
            return [h["step"] for h in json.loads(state_path.read_text())["history"]]
        except (OSError, ValueError):
            return []

    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if evaluated() and max(evaluated()) >= 35:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = json.loads(state_path.read_text())
    assert before["best"]["step"] < 35 <= max(evaluated()) < 60
    assert (model_dir / "best" / before["best"]["weights"]).exists()

    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    after = json.loads(state_path.read_text())
    steps = [h["step"] for h in after["history"]]
    assert steps == sorted(set(steps)) and steps[-1] == 60
    # The validation loss only rises after its minimum: the best stays the one
    # found before the kill, and model.keras holds it.
    assert after["best"]["step"] == before["best"]["step"]
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["best_step"] == before["best"]["step"]
    assert metrics["steps"] == 60
    kept, _ = evaluate_model_dir(str(model_dir), split="validation")
    np.testing.assert_allclose(kept["loss"], before["best"]["value"], rtol=1e-4)


def test_a_longer_fresh_run_never_keeps_a_worse_model(corpus, tmp_path):
    # char_rnn --preset=small's settings (its `training_defaults`: a constant
    # learning rate) make a fresh run of 2x the steps repeat the shorter run
    # and go on: its evaluations include the shorter run's, so the model it
    # keeps is never worse. A schedule stretched over --steps (cosine decay)
    # breaks this; docs/training_on_your_own_data.md measures it on text.
    small = zoo.family("char_rnn").training_default("small")
    runs = {}
    for steps in (15, 30):
        model_dir = tmp_path / f"run{steps}"
        config = dataclasses.replace(
            _config(corpus, model_dir, steps=steps, validation_fraction=0.2),
            learning_rate=small["learning_rate"],
            schedule=small["schedule"],
            overrides={"hidden_dim": 32, "dropout": 0.3},
        )
        runs[steps] = train(config, lambda line: None)
        state = json.loads((model_dir / "best" / "best.json").read_text())
        runs[steps]["history"] = {
            h["step"]: h["metrics"]["loss"] for h in state["history"]
        }
    short, long = runs[15], runs[30]
    for step, loss in short["history"].items():
        np.testing.assert_allclose(long["history"][step], loss, rtol=1e-4)
    assert max(long["history"]) == 30
    assert long["validation"]["loss"] <= short["validation"]["loss"] * (1 + 1e-4)
