"""keras-seq-lesson --quick: every subcommand writes its picture and numbers."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _plot_checks import assert_real_png

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBCOMMANDS = ("gradients", "exploding", "adding", "truncation")


def _lesson(*args, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tools.lesson", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("lesson")
    data = tmp_path_factory.mktemp("lesson_data")
    result = _lesson("all", "--quick", f"--output_dir={out}", f"--data_dir={data}")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_quick_subcommand_writes_png_json_csv_md(quick, name):
    out, result = quick
    assert f"{name}: wrote" in result.stdout
    assert_real_png(out / f"{name}.png")
    summary = json.loads((out / f"{name}.json").read_text())
    assert summary["settings"]
    with open(out / f"{name}.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) > 1 and all(len(r) == len(rows[0]) for r in rows)
    assert f"({name}.png)" in (out / f"{name}.md").read_text()
    assert f"## {name}" in (out / "README.md").read_text()


def test_gradients_numbers(quick):
    out, _ = quick
    summary = json.loads((out / "gradients.json").read_text())
    t = summary["settings"]["T"]
    assert summary["distance"] == list(range(t - 1, -1, -1))
    for cell in ("rnn", "lstm", "gru"):
        for stage in ("init", "trained"):
            entry = summary["cells"][cell][stage]
            assert len(entry["grad_norm"]) == t
            # The last step gets all of dh_T/dh_T = I; earlier steps less.
            assert entry["jacobian_norm"][-1] == pytest.approx(1.0, rel=1e-4)
            assert entry["grad_norm_relative"][-1] == pytest.approx(1.0)
            assert 0 <= entry["first_over_last"] < 1
    # Measured (seed 0): after 40 steps the LSTM already carries more of the
    # gradient back to t=1 than SimpleRNN (0.0023 against 9.9e-05); at init
    # it carried less (4.7e-04 against 0.025), see the vanishing test.
    cells = summary["cells"]
    assert (
        cells["lstm"]["init"]["first_over_last"]
        < (cells["rnn"]["init"]["first_over_last"])
    )
    assert (
        cells["lstm"]["trained"]["first_over_last"]
        > (cells["rnn"]["trained"]["first_over_last"])
    )


def test_exploding_run_stops_cleanly_and_clipped_run_finishes(quick):
    out, result = quick
    summary = json.loads((out / "exploding.json").read_text())
    unclipped, clipped = summary["runs"]["unclipped"], summary["runs"]["clipped"]
    # The guard stopped the unclipped run at a non-finite step, with one line
    # and no traceback; the weights it kept are finite.
    assert unclipped["stopped"] and "NaN guard" in unclipped["stopped"]
    assert unclipped["steps_run"] < summary["settings"]["steps"]
    assert unclipped["grad_norm"][-1] is None  # inf/NaN, as JSON null
    assert unclipped["finite_weights"]
    lines = [line for line in result.stdout.splitlines() if "NaN guard" in line]
    assert len(lines) == 1 and lines[0].startswith("exploding: unclipped run stopped")
    assert "Traceback" not in result.stderr
    # The clipped run ran every step with finite weights.
    assert clipped["stopped"] is None
    assert clipped["steps_run"] == summary["settings"]["steps"]
    assert clipped["finite_weights"] and np.isfinite(clipped["test_mse"])
    assert all(v is not None for v in clipped["grad_norm"])
    # Before clipping, the unclipped run's gradient norm grew past the
    # clipped run's largest.
    finite = [v for v in unclipped["grad_norm"] if v is not None]
    assert max(finite) > 100 * clipped["grad_norm"][0]


def test_adding_and_truncation_tables(quick):
    out, _ = quick
    adding = json.loads((out / "adding.json").read_text())
    cells = {(r["T"], r["cell"]) for r in adding["results"]}
    assert cells == {
        (t, c)
        for t in adding["settings"]["lengths"]
        for c in ("SimpleRNN", "LSTM", "GRU")
    }
    assert all(np.isfinite(r["test_mse"]) for r in adding["results"])
    truncation = json.loads((out / "truncation.json").read_text())
    windows = [r["window"] for r in truncation["results"]]
    assert (
        windows[-1]
        == truncation["settings"]["delay"] + 2 * truncation["settings"]["copy"]
    )
    assert all(0 <= r["recall_accuracy"] <= 1 for r in truncation["results"])


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "give one subcommand"),
        (("plot",), "give one subcommand"),
        (("adding", "--seeds=a"), "--seeds=a"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    result = _lesson(*args, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
