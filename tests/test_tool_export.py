"""keras-seq-export end to end; atomic writes, overwrite refusal, bad flags."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from export_runs import make_model_dir

from keras_seq.export import ExportError, VerificationError, load_run
from keras_seq.export import saved_model as saved_model_module
from keras_seq.export import tflite as tflite_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _export(*flags, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "tools.export", *flags],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tool_export")
    return make_model_dir(root, "char_rnn", cell="gru", num_layers=1)


def _contents(directory):
    """Every file under `directory` with its modification time."""
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, directory)] = os.stat(path).st_mtime_ns
    return found


def test_export_tool_writes_verified_artifacts_and_keeps_existing_ones(
    model_dir, tmp_path
):
    output = tmp_path / "exports"
    flags = [f"--model_dir={model_dir}", f"--output={output}", "--max_length=10"]
    flags.append("--quantize=dynamic")
    result = _export(*flags, "--format=both")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(output)) == ["1", "tflite_dynamic"]
    assert (output / "1" / "saved_model.pb").is_file()
    assert (output / "tflite_dynamic" / "model.tflite").is_file()
    metadata = json.loads((output / "tflite_dynamic" / "metadata.json").read_text())
    assert metadata["verification"]["latency_ms"] > 0
    # Size and one-example latency are printed for every artifact.
    lines = [line for line in result.stdout.splitlines() if " KiB  latency " in line]
    assert len(lines) == 2 and "ms (one example)" in lines[0], result.stdout
    summary = json.loads(result.stdout[result.stdout.index("\n{\n") :])
    assert summary["saved_model"]["serving_default_max_diff"] <= 1e-4
    assert summary["tflite"][0]["task_metric"]["margin"] == 0.05

    # An existing output is kept: exit 2 with one line, nothing touched.
    before = _contents(output)
    for extra in (["--version=1"], ["--format=tflite"]):
        refused = _export(*flags, *extra)
        assert refused.returncode == 2, refused.stderr[-2000:]
        assert "exists; pass --overwrite" in refused.stderr.strip().splitlines()[-1]
        assert "Traceback" not in refused.stderr
    assert _contents(output) == before


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model_dir=/nonexistent"], "no such directory"),
        (["--format=onnx"], "--format"),
        (["--quantize=int4"], "--quantize=int4"),
        (["--batch_size=0"], "batch_size"),
        (["extra"], "unexpected arguments"),
    ],
)
def test_bad_flags_exit_2_with_one_line(model_dir, tmp_path, flags, message):
    if not any(f.startswith("--model_dir") for f in flags):
        flags = [f"--model_dir={model_dir}", *flags]
    result = _export(*flags, f"--output={tmp_path / 'out'}")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_killed_export_leaves_no_artifact(model_dir, tmp_path):
    """SIGKILL while the SavedModel is being written: no `<output>/1`."""
    output = tmp_path / "exports"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools.export",
            f"--model_dir={model_dir}",
            f"--output={output}",
        ],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while process.poll() is None and time.time() < deadline:
        if output.exists() and [p for p in os.listdir(output) if ".tmp-" in p]:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert output.exists(), "the export never started writing"
    assert not (output / "1").exists(), "the export finished before the kill"
    # Only the hidden temporary directory, which TF Serving ignores.
    assert all(name.startswith(".1.tmp-") for name in os.listdir(output))


def test_failed_verification_or_conversion_writes_nothing(
    model_dir, tmp_path, monkeypatch
):
    run = load_run(model_dir)

    def differs(*args, **kwargs):
        raise VerificationError("serve_text differs from the Keras model's")

    monkeypatch.setattr(saved_model_module.verify, "verify_saved_model", differs)
    with pytest.raises(VerificationError, match="differs"):
        saved_model_module.export_saved_model(run, tmp_path / "sm", max_length=8)
    assert os.listdir(tmp_path / "sm") == []

    failing = tmp_path / "failing_converter.py"
    failing.write_text(
        "import sys\nsys.stderr.write('tflite conversion failed: Flex op needed')\n"
        "sys.exit(1)\n"
    )
    monkeypatch.setattr(tflite_module, "CONVERTER", str(failing))
    with pytest.raises(ExportError, match="Flex op needed"):
        tflite_module.export_tflite(run, tmp_path / "tfl", max_length=8)
    assert not (tmp_path / "tfl").exists() or os.listdir(tmp_path / "tfl") == []


def test_overwrite_replaces_an_existing_version(model_dir, tmp_path):
    run = load_run(model_dir)
    output = tmp_path / "sm"
    saved_model_module.export_saved_model(
        run, output, max_length=8, verify_export=False
    )
    first = _contents(output / "1")
    with pytest.raises(ExportError, match="exists; pass --overwrite"):
        saved_model_module.export_saved_model(run, output, max_length=8)
    assert _contents(output / "1") == first
    saved_model_module.export_saved_model(
        run, output, max_length=9, overwrite=True, verify_export=False
    )
    assert os.listdir(output) == ["1"]
    metadata = saved_model_module.read_metadata(output / "1")
    assert metadata["generation"]["max_length"] == 9
