"""The course notebooks (examples/*.py) run end to end in quick mode.

Each script runs in a fresh process with `KERAS_SEQ_QUICK=1`, writing into a
temporary `KERAS_SEQ_OUTPUT_DIR`; every figure it promises must be there and
be a real picture (a PNG of some size, with varied pixels). The `.ipynb`
next to each script must hold the script's cells (jupytext pairing).
"""

import os
import pathlib
import subprocess
import sys

import jupytext
import numpy as np
import pytest
from matplotlib import image

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Notebook -> the figures its quick run must write.
FIGURES = {
    "01_rnn_basics": ["gradient_norms.png", "truncated_bptt.png"],
    "02_lstm_gru": ["char_rnn_gates.png", "adding_problem.png"],
    "03_attention": ["attention_overview.png", "date_attention.png"],
    "04_transformer": ["positional_encoding.png", "cached_decoding.png"],
    "05_pretrained": ["parameter_counts.png"],
}


def scripts():
    return sorted(p.stem for p in EXAMPLES.glob("[0-9][0-9]_*.py"))


def check_picture(path):
    """A non-trivial image: a PNG of some size whose pixels vary."""
    assert path.exists(), f"{path.name} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name}: not a PNG"
    assert path.stat().st_size > 10_000, (
        f"{path.name}: only {path.stat().st_size} bytes"
    )
    pixels = image.imread(path)[..., :3]
    assert pixels.shape[0] >= 200 and pixels.shape[1] >= 300, pixels.shape
    assert pixels.std() > 0.05, f"{path.name}: nearly uniform (std {pixels.std():.3f})"
    colors = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colors) > 50, f"{path.name}: only {len(colors)} distinct colors"


def test_every_notebook_is_listed():
    assert scripts() == sorted(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_in_quick_mode(name, tmp_path):
    env = dict(os.environ)
    env.update(
        KERAS_SEQ_QUICK="1",
        KERAS_SEQ_OUTPUT_DIR=str(tmp_path / "out"),
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        f"examples/{name}.py failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    for figure in FIGURES[name]:
        check_picture(tmp_path / "out" / figure)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_ipynb_is_in_sync_with_the_script(name):
    script = jupytext.read(EXAMPLES / f"{name}.py")
    notebook_path = EXAMPLES / f"{name}.ipynb"
    assert notebook_path.exists(), (
        f"examples/{name}.ipynb is missing: run `jupytext --sync examples/{name}.py`"
    )
    notebook = jupytext.read(notebook_path)

    def cells(nb):
        return [(c.cell_type, c.source.strip()) for c in nb.cells]

    assert cells(notebook) == cells(script), (
        f"examples/{name}.ipynb differs from the script: run "
        f"`jupytext --sync examples/{name}.py`"
    )


def test_check_picture_rejects_a_blank_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(6, 4))
    fig.savefig(tmp_path / "blank.png")
    plt.close(fig)
    with pytest.raises(AssertionError):
        check_picture(tmp_path / "blank.png")
