"""docs/extending.md runs: its examples, and a user family through the tools."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "extending.md")
FILE_MARK = "# file: "


def _blocks():
    with open(DOC, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    files = {}
    code = []
    for block in blocks:
        first = block.split("\n", 1)[0]
        if first.startswith(FILE_MARK):
            files[first[len(FILE_MARK) :].strip()] = block
        else:
            code.append(block)
    return files, code


def _write_files(directory):
    files, _ = _blocks()
    for name, text in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
    return files


def test_the_examples_of_extending_md_run(tmp_path):
    files = _write_files(tmp_path)
    assert "my_models.py" in files
    _, code = _blocks()
    assert len(code) >= 4
    namespace = {"__name__": "extending_md", "EXAMPLES_DIR": str(tmp_path)}
    saved_path = list(sys.path)
    try:
        for i, block in enumerate(code):
            exec(compile(block, f"{DOC} (python block {i})", "exec"), namespace)
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("my_models", None)


def _tool(name, *flags, user_dir=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if user_dir:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(user_dir), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", f"tools.{name}", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("user_code")
    _write_files(directory)
    return directory


def test_a_user_family_trains_evaluates_exports_and_generates(
    user_dir, corpus, tmp_path
):
    model_dir = str(tmp_path / "run")
    module = "--module=my_models"
    train = _tool(
        "train",
        module,
        "--model=alibi_lm",
        f"--dataset=text:{corpus}",
        "--steps=3",
        "--batch_size=8",
        "--sequence_length=16",
        f"--model_dir={model_dir}",
        user_dir=user_dir,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        assert json.load(f)["model"] == "alibi_lm"

    evaluate = _tool("evaluate", module, f"--model_dir={model_dir}", user_dir=user_dir)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert "perplexity" in json.loads(evaluate.stdout)
    # Without the module, the family is unknown: exit 2, one line.
    unknown = _tool("evaluate", f"--model_dir={model_dir}", user_dir=user_dir)
    assert unknown.returncode == 2 and "alibi_lm" in unknown.stderr
    missing = _tool("train", "--module=no_such_module", user_dir=user_dir)
    assert missing.returncode == 2
    assert "--module=no_such_module: cannot import it" in missing.stderr

    # SavedModel (verified in a process without keras_seq or my_models) and
    # TFLite (verified in the LiteRT interpreter), both checked by the tool.
    export = _tool(
        "export",
        module,
        f"--model_dir={model_dir}",
        "--format=both",
        "--max_length=12",
        user_dir=user_dir,
    )
    assert export.returncode == 0, export.stderr[-3000:]
    saved_model = os.path.join(model_dir, "export", "2")
    assert os.path.isdir(saved_model)
    tflite = os.path.join(model_dir, "export", "tflite", "model.tflite")
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=tflite)
    ids = np.zeros((1, 12), "int32")
    ids[0, :3] = [4, 5, 6]
    logits = interpreter.get_signature_runner("logits")(token_ids=ids)["logits"]
    assert logits.shape[:2] == (1, 12) and np.isfinite(logits).all()

    prompts = ["--prompt=the quick", "--max_length=12"]
    from_keras = _tool(
        "generate", module, f"--model_dir={model_dir}", *prompts, user_dir=user_dir
    )
    assert from_keras.returncode == 0, from_keras.stderr[-3000:]
    # The SavedModel needs no --module: the user's code is not imported.
    served = _tool("generate", f"--saved_model={saved_model}", "--prompt=the quick")
    assert served.returncode == 0, served.stderr[-3000:]
    assert served.stdout == from_keras.stdout
