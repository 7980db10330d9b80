"""keras-seq-train end to end: outputs, resume after SIGKILL, bad input."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(*flags, check=True, timeout=300):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "tools.train", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def _lm_flags(corpus, model_dir, steps):
    return [
        "--model=char_rnn",
        f"--dataset=text:{corpus}",
        f"--model_dir={model_dir}",
        f"--steps={steps}",
        "--batch_size=8",
        "--sequence_length=32",
        "--checkpoint_every=5",
        "--override=hidden_dim=32",
    ]


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """One finished 10-step run, shared by the tests that only read it."""
    model_dir = tmp_path_factory.mktemp("trained") / "run"
    result = _train(*_lm_flags(corpus, model_dir, 10))
    return model_dir, result


def test_train_writes_model_dir(trained):
    model_dir, result = trained
    for name in ("config.json", "model.keras", "metrics.json", "tokenizer", "logs"):
        assert (model_dir / name).exists(), name
    assert (model_dir / "export" / "1" / "saved_model.pb").exists()
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["steps"] == 10
    assert metrics["perplexity"] > 1.0
    assert str(model_dir) in result.stdout


def test_resume_after_sigkill_ends_with_the_same_steps(corpus, tmp_path):
    model_dir = tmp_path / "run"
    flags = _lm_flags(corpus, model_dir, 400) + ["--noexport"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.train", *flags],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    index = model_dir / "checkpoints" / "checkpoint"
    deadline = time.time() + 240
    while not index.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert index.exists(), "no checkpoint was written before the kill"
    assert not (model_dir / "metrics.json").exists(), (
        "training finished before the kill"
    )

    result = _train(*flags)
    assert "Resuming from step" in result.stdout
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["steps"] == 400


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model=nope"], "--model='nope': unknown model"),
        (["--dataset=nope"], "Unknown dataset 'nope'"),
        (["--model=rnn_classifier", "--dataset=date_normalization"], "does not fit"),
        (["--steps=0"], "steps"),
        (["--preset=huge"], "Unknown preset 'huge'"),
        (["--override=nope=1"], "Unknown override"),
        (["--validation_fraction=0.2"], "--validation_fraction=0.2: only for local"),
        (["--validation_metric=bleu2"], "--validation_metric='bleu2'"),
    ],
)
def test_bad_input_exits_2_with_one_line(flags, message, tmp_path):
    result = _train(f"--model_dir={tmp_path / 'run'}", *flags, check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert lines and message in lines[-1], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_evaluate_prints_and_writes_metrics(trained):
    model_dir, _ = trained
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "tools.evaluate", f"--model_dir={model_dir}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    written = json.loads((model_dir / f"metrics-{printed['split']}.json").read_text())
    assert printed == written
    for key in ("loss", "accuracy", "perplexity", "bits_per_character"):
        assert key in printed, key
    assert printed["unit"] == "character"
    bits = printed["bits_per_character"]
    assert abs(bits * 0.6931471805599453 - printed["loss"]) < 1e-6


def test_model_dir_of_another_run_is_left_alone(corpus, trained, tmp_path):
    model_dir = tmp_path / "run"
    shutil.copytree(trained[0], model_dir)
    before = {p: p.stat().st_mtime_ns for p in model_dir.rglob("*")}
    result = _train(
        *_lm_flags(corpus, model_dir, 5), "--override=cell=lstm", check=False
    )
    assert result.returncode == 2
    assert "holds another run" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in model_dir.rglob("*")} == before


def test_corrupt_checkpoint_exits_2(corpus, trained, tmp_path):
    model_dir = tmp_path / "run"
    shutil.copytree(trained[0], model_dir)
    for path in (model_dir / "checkpoints").glob("*.data-*"):
        path.write_bytes(b"garbage")
    before = {p: p.stat().st_mtime_ns for p in model_dir.rglob("*")}
    result = _train(*_lm_flags(corpus, model_dir, 20), "--noexport", check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "cannot be restored" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p: p.stat().st_mtime_ns for p in model_dir.rglob("*")} == before


def test_default_command_runs_end_to_end(tmp_path):
    """The README's main job (default model and dataset), with fewer steps."""
    model_dir = tmp_path / "run"
    _train(f"--model_dir={model_dir}", f"--data_dir={tmp_path / 'tfds'}", "--steps=20")
    config = json.loads((model_dir / "config.json").read_text())
    assert (config["model"], config["dataset"]) == (
        "seq2seq_attention",
        "date_normalization",
    )
    assert config["model_hyperparameters"]["attention"] == "bahdanau"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["steps"] == 20 and metrics["split"] == "test"
    for key in ("exact_match", "teacher_forced_exact_match", "bleu", "accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert (model_dir / "export" / "1" / "saved_model.pb").exists()


def test_tpu_strategy_without_a_tpu_exits_2(tmp_path):
    result = _train(
        f"--model_dir={tmp_path / 'run'}", "--strategy=tpu", "--steps=1", check=False
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "--strategy=tpu" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()
