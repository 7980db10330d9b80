"""Every zoo family against every embedded dataset and each local-file kind.

At the tiny preset with two steps, each (family, dataset) pair either trains,
evaluates and exports, or is refused up front (exit 2, one line, nothing
written); no pair ends in a traceback. The pairs train in one process
(`tests/tool_runner.py`), without XLA, and export as SavedModels without
verification except one per text interface (language model, seq2seq,
classifier), which the export tool verifies in full. Every exported
SavedModel then answers an empty batch, an empty string, a very long and a
non-ASCII text on every signature, in a process that imports TensorFlow only.
"""

import json
import os
import subprocess
import sys

import pytest
from tool_runner import run_cases

import zoo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILIES = sorted(zoo.list_models())
# name -> task; the small configs keep evaluation (greedy decoding) cheap.
EMBEDDED = {
    "adding_problem/small": "regression",
    "copy_memory/small": "tagging",
    "date_normalization/small": "seq2seq",
    "arithmetic/small": "seq2seq",
    "sequence_reverse/small": "seq2seq",
}
LOCAL = {"text": "language_model", "pairs": "seq2seq", "labeled": "classification"}
# Pairs that fit by task but that the tiny preset cannot take: refused with
# the reason, before anything is written.
REFUSED = {("gpt", "copy_memory/small"): "max_sequence_length"}
# One verified export per text interface.
VERIFIED = {
    ("gpt", "text"),
    ("transformer", "date_normalization/small"),
    ("bert", "labeled"),
}

CHECK_SIGNATURES = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (subword tokenizers' ops)

texts = [[], [""], ["x" * 5000], ["日本語のテキスト, ünïcödé ✓"], ["a", ""]]
report = {}
for path in json.loads(sys.argv[1]):
    loaded = tf.saved_model.load(path)
    errors = []
    for name, fn in loaded.signatures.items():
        specs = fn.structured_input_signature[1]
        try:
            if "text" in specs:
                for batch in texts:
                    args = {"text": tf.constant(batch, tf.string, shape=[len(batch)])}
                    if "seed" in specs:
                        args["seed"] = tf.constant(1)
                    out = fn(**args)
                    for value in out.values():
                        assert value.shape[0] == len(batch), (name, batch, value.shape)
            else:
                for rows in (0, 2):
                    args = {}
                    for key, spec in specs.items():
                        shape = [rows] + [3 if d is None else d for d in spec.shape[1:]]
                        args[key] = tf.ones(shape, spec.dtype)
                    for value in fn(**args).values():
                        assert value.shape[0] == rows, (name, rows, value.shape)
        except Exception as e:  # reported per signature
            errors.append(f"{name}: {type(e).__name__}: {str(e)[:300]}")
    report[path] = errors
print(json.dumps(report))
"""


def _datasets(tmp_path, corpus):
    rows = [f"{'good fine' if i % 2 else 'bad poor'} {i}\t{i % 2}" for i in range(80)]
    labeled = tmp_path / "labeled.tsv"
    labeled.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with open(corpus, encoding="utf-8") as f:
        lines = f.read().splitlines()[:80]
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "\n".join(f"{line}\t{' '.join(reversed(line.split()))}" for line in lines),
        encoding="utf-8",
    )
    specs = {name: name for name in EMBEDDED}
    specs.update(
        text=f"text:{corpus}", pairs=f"pairs:{pairs}", labeled=f"labeled:{labeled}"
    )
    return specs


@pytest.fixture(scope="module")
def matrix(corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    specs = _datasets(root, corpus)
    pairs = [(family, name) for family in FAMILIES for name in specs]
    cases = []
    for family, name in pairs:
        model_dir = root / "runs" / f"{family}-{name.replace('/', '_')}"
        cases.append(
            {
                "args": [
                    f"--model={family}",
                    f"--dataset={specs[name]}",
                    f"--model_dir={model_dir}",
                    f"--data_dir={root / 'tfds'}",
                    "--steps=2",
                    "--batch_size=32",
                    "--nojit_compile",
                    "--noexport",
                ],
                "watch": [str(model_dir)],
            }
        )
    trained = dict(zip(pairs, run_cases("train", cases, timeout=2400)))
    model_dirs = {
        pair: case["args"][2].split("=", 1)[1] for pair, case in zip(pairs, cases)
    }
    exports = [p for p, r in trained.items() if r["code"] == 0]
    export_cases = [
        {
            "args": [f"--model_dir={model_dirs[p]}"]
            + ([] if p in VERIFIED else ["--noverify"]),
            "watch": [],
        }
        for p in exports
    ]
    exported = dict(zip(exports, run_cases("export", export_cases, timeout=2400)))
    paths = [os.path.join(model_dirs[p], "export", "1") for p in exports]
    checked = subprocess.run(
        [sys.executable, "-c", CHECK_SIGNATURES, json.dumps(paths)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    signatures = json.loads(checked.stdout.strip().splitlines()[-1])
    return {
        "trained": trained,
        "exported": exported,
        "signatures": {p: signatures[path] for p, path in zip(exports, paths)},
        "model_dirs": model_dirs,
    }


def _task(name):
    return EMBEDDED.get(name) or LOCAL[name]


def _all_pairs():
    for family in FAMILIES:
        for name in list(EMBEDDED) + list(LOCAL):
            yield pytest.param(family, name, id=f"{family}-{name.split('/')[0]}")


@pytest.mark.slow
@pytest.mark.parametrize("family, name", list(_all_pairs()))
def test_each_pair_trains_evaluates_and_exports_or_is_refused_up_front(
    matrix, family, name
):
    result = matrix["trained"][(family, name)]
    assert result["traceback"] is None, result["traceback"]
    fits = _task(name) in zoo.family(family).tasks
    model_dir = matrix["model_dirs"][(family, name)]
    if not fits or (family, name) in REFUSED:
        expected = REFUSED.get((family, name), "does not fit")
        lines = result["stderr"].strip().splitlines()
        assert result["code"] == 2 and len(lines) == 1, result["stderr"]
        assert expected in lines[0], lines[0]
        assert not os.path.exists(model_dir)
        return
    assert result["code"] == 0, result["stderr"][-3000:]
    with open(os.path.join(model_dir, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    assert metrics["steps"] == 2 and metrics["loss"] == metrics["loss"]  # not NaN
    export = matrix["exported"][(family, name)]
    assert export["traceback"] is None, export["traceback"]
    assert export["code"] == 0, export["stderr"][-3000:]
    assert os.path.isfile(os.path.join(model_dir, "export", "1", "saved_model.pb"))
    if (family, name) in VERIFIED:
        assert "serve_text(" in export["stdout"], export["stdout"]
    assert matrix["signatures"][(family, name)] == []
