"""keras-seq-benchmark: a `--quick` run writes well-formed JSON and Markdown.

Never a timing threshold: timings depend on the machine and its load. The
checks are on the documents' shape, on the ratio arithmetic, on the timing
helpers' bookkeeping and on the FLOP formula behind MFU.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import zoo
from keras_seq.benchmarks import SECTIONS, report, timing, training

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROW_KEYS = {
    "section", "name", "setting", "unit", "ours", "reference", "ratio",
    "ratio_fastest", "ours_impl",
    "reference_impl", "ours_first_call", "reference_first_call", "ours_runs",
    "reference_runs", "extra",
}  # fmt: skip


def _benchmark(*flags, timeout=300):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tools.benchmark", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmark")
    md = out / "benchmarks.md"
    # A hand-written analysis below the marker must survive the rewrite.
    md.write_text(f"old table\n{report.NOTES_MARKER}\nProfile: keep me.\n")
    result = _benchmark(
        "--quick", f"--output_json={out / 'benchmarks.json'}", f"--output_md={md}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((out / "benchmarks.json").read_text())
    return document, md.read_text(), result.stdout


def test_quick_run_covers_every_section(quick_run):
    document, _, _ = quick_run
    assert set(document) == {"meta", "sections", "rows", "failures"}
    assert document["sections"] == list(SECTIONS)
    assert document["failures"] == []
    assert {r["section"] for r in document["rows"]} == set(SECTIONS)
    meta = document["meta"]
    assert meta["quick"] is True
    assert meta["cpu_count"] == os.cpu_count()
    assert meta["peak_gflops"] > 0
    for key in ("tensorflow", "keras", "keras_hub", "load_before", "load_after"):
        assert meta[key], key


def test_every_row_has_ours_reference_and_their_ratio(quick_run):
    document, _, _ = quick_run
    repeats = document["meta"]["repeats"]
    for r in document["rows"]:
        assert set(r) == ROW_KEYS, r["name"]
        assert r["ours"] > 0 and r["reference"] > 0, r["name"]
        assert r["ratio"] == pytest.approx(r["ours"] / r["reference"]), r["name"]
        fastest = min(r["ours_runs"]) / min(r["reference_runs"])
        assert r["ratio_fastest"] == pytest.approx(fastest), r["name"]
        assert r["ours_impl"] != r["reference_impl"], r["name"]
        assert len(r["ours_runs"]) == len(r["reference_runs"]) == repeats
        assert r["ours"] == pytest.approx(float(np.median(r["ours_runs"])))
        assert r["reference"] == pytest.approx(float(np.median(r["reference_runs"])))


def test_section_specific_fields(quick_run):
    document, _, _ = quick_run
    rows = {r["section"]: r for r in document["rows"]}
    assert {"graph", "xla"} & {r["setting"] for r in document["rows"]}
    generation = rows["generation"]["extra"]
    assert generation["tokens_per_s_ours"] > 0
    train = rows["training"]["extra"]
    assert train["mfu_ours"] > 0 and train["mfu_reference"] > 0
    deploy = [r for r in document["rows"] if r["section"] == "deployment"]
    models = [r for r in deploy if "LSTM" not in r["name"]]
    assert {r["setting"] for r in models} == {"litert-float", "litert-dynamic_range"}
    for r in models:
        assert r["extra"]["tflite_bytes"] > 0 and r["extra"]["keras_bytes"] > 0
        assert math.isfinite(r["extra"]["max_abs_diff"])
    # Fused LSTM kernel vs the unrolled loop, float and dynamic range (both
    # fused), int8 (unrolled, against the fused float file).
    lstm = [r for r in deploy if "LSTM" in r["name"]]
    assert [r["setting"] for r in lstm] == [
        "litert-float", "litert-dynamic_range", "litert-int8"
    ]  # fmt: skip
    assert [r["ours_impl"] for r in lstm] == [
        "LiteRT float, LSTM fused", "LiteRT dynamic_range, LSTM fused",
        "LiteRT int8, LSTM unrolled",
    ]  # fmt: skip
    assert lstm[0]["extra"]["max_abs_diff"] < 1e-5
    backbones = [r["name"] for r in document["rows"] if r["section"] == "backbones"]
    assert backbones == ["bert tiny inference", "t5 tiny train step"]


def test_markdown_has_a_table_row_per_row_and_keeps_the_notes(quick_run):
    document, md, stdout = quick_run
    table_rows = [line for line in md.splitlines() if line.startswith("| ")]
    # One header per section, then one line per row.
    assert len(table_rows) == len(document["rows"]) + len(document["sections"])
    assert f"CPU cores: {os.cpu_count()}" in md
    assert "old table" not in md
    assert md.rstrip().endswith("Profile: keep me.")
    assert "ratio" in stdout


def test_bad_sections_flag_is_a_one_line_error():
    result = _benchmark("--sections=recurrent,bogus", timeout=120)
    assert result.returncode == 2
    # argv[0] names the program: `benchmark.py` under `python -m`.
    last_line = result.stderr.strip().splitlines()[-1]
    assert "error: flag --sections=" in last_line
    assert "bogus" in last_line and "Traceback" not in result.stderr


def test_measure_and_compare_bookkeeping():
    calls = []
    timed = timing.measure(lambda: calls.append(1), warmup=3, repeats=4)
    assert len(calls) == 7 and len(timed.runs) == 4
    assert timed.median == pytest.approx(float(np.median(timed.runs)))
    order = []
    ours, reference = timing.compare(
        lambda: order.append("o"), lambda: order.append("r"), warmup=1, repeats=4
    )
    assert len(ours.runs) == len(reference.runs) == 4
    # Warm-up o, r; then pairs whose first alternates.
    assert "".join(order) == "or" + "or" + "ro" + "ro" + "or"
    order.clear()
    timed = timing.compare_many(
        [lambda c=c: order.append(c) for c in "abc"], warmup=1, repeats=3
    )
    assert [len(t.runs) for t in timed] == [3, 3, 3]
    # Warm-up a, b, c; then rotated every other round, odd rounds reversed:
    # every function runs first, and after more than one other.
    assert "".join(order) == "abc" + "abc" + "cba" + "bca"
    with pytest.raises(ValueError, match="warmup and repeats must be >= 1"):
        timing.measure(lambda: None, warmup=0)


def test_memory_bandwidth_keeps_the_best_samples():
    probe = timing.MemoryBandwidth(megabytes=4, threads=2)
    try:
        np.testing.assert_array_equal(probe.target, probe.source)
        probe.target[:] = 0
        for _ in range(3):
            probe.sample()
        # The chunked copy covers the whole buffer.
        np.testing.assert_array_equal(probe.target, probe.source)
        result = probe.result()
    finally:
        probe.close()
    assert result["samples"] == 3
    assert result["copy"] == max(probe.copy_runs) > 0
    assert result["read"] == max(probe.read_runs) > 0
    assert result["traffic"] == max(result["read"], 2 * result["copy"])


def _matmul_weights(model):
    """Sizes of the weights used once per token in a matmul (kernels, logits)."""
    return sum(
        int(np.prod(w.shape))
        for w in model.weights
        if len(w.shape) == 2 and "position" not in w.path
    )


def test_gpt_flop_formula_counts_the_models_matmuls():
    hp = dict(num_layers=2, d_model=16, num_heads=2, dff=40, vocabulary_size=50)
    model = zoo.build("gpt", "tiny", max_sequence_length=12, **hp)
    batch, length = 3, 12
    # 6 N per token for the N matmul weights (the tied embedding is the logits
    # projection), plus QK^T and AV: 2 * 2 * T d per token and layer, times 3.
    expected = 6 * batch * length * _matmul_weights(model)
    expected += 3 * batch * hp["num_layers"] * 4 * length * length * hp["d_model"]
    got = training.gpt_train_flops(
        batch, length, hp["num_layers"], hp["d_model"], hp["dff"],
        hp["vocabulary_size"],
    )  # fmt: skip
    assert got == expected


def test_published_sizes_mode_runs_at_a_reduced_size(monkeypatch):
    """`--sizes=published` runs its own sections and extras (GPT-2 batches,
    the memory-bandwidth bound, BERT/T5 against keras-hub, the TFLite LSTM
    rows); here at the quick sizes, so that CI exercises the code path."""
    from keras_seq.benchmarks import suite

    small = {
        "generation": dict(
            suite.QUICK["generation"], batch=None, batches=[1, 2],
            references=["keras-hub"], bandwidth_bound=True, bandwidth_megabytes=8,
        ),
        "backbones": suite.QUICK["backbones"],
        # As in PUBLISHED: no zoo models (and no LSTM lengths here: the
        # quick run covers those rows), hence no num_layers or d_model.
        "deployment": dict(models=[], length=8, lstm_lengths=[], vocabulary_size=16),
    }  # fmt: skip
    monkeypatch.setattr(
        suite,
        "PUBLISHED",
        {**{k: suite.QUICK[k] for k in ("warmup", "repeats")}, "peak_matmul_size": 64,
         **small},
    )  # fmt: skip
    document = suite.run(sizes="published", log=lambda line: None)
    assert document["meta"]["published_sizes"] is True
    assert document["failures"] == []
    assert document["sections"] == ["generation", "backbones", "deployment"]
    names = [r["name"] for r in document["rows"]]
    assert names[:4] == [
        "gpt cached generate vs keras-hub b1",
        "gpt cached generate vs keras-hub b2",
        "bert tiny inference",
        "t5 tiny train step",
    ]
    assert len(names) == 4
    for r in document["rows"][:2]:
        extra = r["extra"]
        batch = extra["shape"]["batch"]
        # Sampled in every timed round (repeats) and the warm-up calls.
        assert extra["bandwidth_samples"] >= document["meta"]["repeats"]
        assert extra["traffic_gb_per_s"] == max(
            extra["read_gb_per_s"], 2 * extra["copy_gb_per_s"]
        )
        step_bytes = extra["weight_bytes"] + batch * extra["kv_cache_bytes"]
        bound = batch * extra["traffic_gb_per_s"] * 1e9 / step_bytes
        assert extra["bound_tokens_per_s"] == pytest.approx(bound)
        assert extra["fraction_of_bound_ours"] == pytest.approx(
            extra["tokens_per_s_ours"] / bound
        )
    with pytest.raises(ValueError, match="Unknown sizes 'huge'"):
        suite.run(sizes="huge")
