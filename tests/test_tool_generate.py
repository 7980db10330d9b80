"""keras-seq-generate: the .keras model and the exported SavedModel agree."""

import os
import subprocess
import sys

import numpy as np
import pytest
from export_runs import make_model_dir

from keras_seq.export import load_run
from keras_seq.export.saved_model import export_saved_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = ["the fox", "a lazy dog"]
SAMPLING = ["--sampler=top_k", "--top_k=4", "--temperature=0.8", "--seed=5"]


def _generate(*flags):
    return subprocess.run(
        [sys.executable, "-m", "tools.generate", *flags],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def gpt_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("tool_generate")
    model_dir = make_model_dir(root, "gpt")
    output = root / "serving"
    export_saved_model(
        load_run(model_dir),
        output,
        max_length=14,
        sampler="top_k",
        top_k=4,
        temperature=0.8,
        verify_export=False,
    )
    return model_dir, output


def test_seeded_sampling_is_the_same_from_keras_and_from_the_saved_model(
    gpt_export, tmp_path
):
    model_dir, output = gpt_export
    inputs = tmp_path / "inputs.txt"
    inputs.write_text(f"{PROMPTS[1]}\n\n", encoding="utf-8")  # blank lines skipped
    prompts = [f"--prompt={PROMPTS[0]}", f"--input_file={inputs}"]
    keras_run = _generate(
        f"--model_dir={model_dir}", "--max_length=14", *prompts, *SAMPLING
    )
    assert keras_run.returncode == 0, keras_run.stderr[-3000:]
    served = _generate(f"--saved_model={output}", *prompts, *SAMPLING)
    assert served.returncode == 0, served.stderr[-3000:]
    assert served.stdout == keras_run.stdout
    assert len(keras_run.stdout.splitlines()) == 2

    # The same seed through the Keras model in this process.
    run = load_run(model_dir)
    tokenizer, model = run.tokenizer, run.model
    buffer = np.zeros((2, 14), "int32")
    for i, prompt in enumerate(PROMPTS):
        ids = np.asarray(tokenizer.tokenize(prompt))
        buffer[i, : len(ids)] = ids
    tokens = model.generate(
        buffer,
        14,
        sampler="top_k",
        k=4,
        temperature=0.8,
        seed=5,
        stop_token_ids=[tokenizer.special_ids["eos"]],
        jit_compile=False,
    )
    texts = [
        tokenizer.detokenize(row[mask]).numpy().decode()
        for row, mask in zip(tokens, buffer == 0)
    ]
    assert keras_run.stdout.splitlines() == [t.replace("\n", "\\n") for t in texts]


def test_a_sampler_the_saved_model_was_not_exported_with_is_refused(gpt_export):
    _, output = gpt_export
    result = _generate(f"--saved_model={output}", "--prompt=x", "--sampler=top_p")
    assert result.returncode == 2
    assert "re-export" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "flags, message",
    [
        ([], "exactly one of --model_dir, --saved_model and --preset"),
        (["--model_dir=/x", "--saved_model=/y"], "exactly one of"),
        (["--saved_model=/nonexistent", "--prompt=a"], "no SavedModel there"),
        (["--sampler=random"], "--sampler"),
    ],
)
def test_bad_flags_exit_2_with_one_line(flags, message):
    result = _generate(*flags)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
