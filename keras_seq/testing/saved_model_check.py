"""Runs exported SavedModels in a process that never imports keras_seq.

One loader process (`clean_loader.py`) is started on first use and reused, so
the cost of importing TensorFlow there is paid once per test process.
"""

import atexit
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

_LOADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clean_loader.py")
_process = None


def _loader():
    global _process
    if _process is None or _process.poll() is not None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        _process = subprocess.Popen(
            [sys.executable, "-I", _LOADER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        atexit.register(_process.kill)
    return _process


def _request(request, export_dir):
    process = _loader()
    process.stdin.write(json.dumps(request) + "\n")
    process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        raise AssertionError(
            f"The clean loader process died while loading {export_dir} "
            f"(exit code {process.poll()})."
        )
    reply = json.loads(line)
    if not reply["ok"]:
        raise AssertionError(
            f"Loading {export_dir} without keras_seq failed:\n{reply['error']}"
        )
    leaked = [m for m in reply["imported"] if m.split(".")[0] != "keras"]
    if leaked:
        raise AssertionError(f"Loading {export_dir} imported {leaked}.")
    return reply


def run_signatures_in_clean_process(export_dir, calls, text_ops=False):
    """Loads `export_dir` once with TensorFlow only and calls named signatures.

    Args:
        export_dir: a SavedModel directory.
        calls: a list of `(signature, inputs)` or `(signature, inputs,
            repeats)`: the signature's name (`"serving_default"`,
            `"serve_text"`, ...), a dict of numpy arrays passed as its keyword
            arguments (strings as numpy `str` or `bytes` arrays), and how many
            more runs to time.
        text_ops: import `tensorflow_text` there first (subword tokenizers).

    Returns:
        One `(outputs, latency_ms)` per call: a dict of numpy arrays by output
        name (strings as numpy bytes), and the median time of the `repeats`
        runs in milliseconds (`None` without repeats).

    Raises:
        AssertionError: it did not load or run there, or loading it imported
            keras_seq or zoo.
    """
    with tempfile.TemporaryDirectory() as tmp:
        request = {
            "export_dir": os.path.abspath(export_dir),
            "calls": [],
            "text_ops": bool(text_ops),
        }
        for i, (signature, inputs, *repeats) in enumerate(calls):
            call = {
                "signature": signature,
                "inputs": os.path.join(tmp, f"inputs_{i}.npz"),
                "outputs": os.path.join(tmp, f"outputs_{i}.npz"),
                "repeats": int(repeats[0]) if repeats else 0,
            }
            arrays = {}
            for key, value in inputs.items():
                value = np.asarray(value)
                if value.dtype.kind in "UO":
                    value = np.char.encode(value.astype(str), "utf-8")
                arrays[key] = value
            np.savez(call["inputs"], **arrays)
            request["calls"].append(call)
        reply = _request(request, export_dir)
        results = []
        for call, call_reply in zip(request["calls"], reply["calls"]):
            with np.load(call["outputs"]) as data:
                outputs = {k: data[k] for k in data.files}
            results.append((outputs, call_reply.get("latency_ms")))
    return results


def run_saved_model_in_clean_process(export_dir, inputs):
    """Loads `export_dir` with TensorFlow only and calls `serve(*inputs)`.

    Args:
        export_dir: a directory written by `model.export(...)`.
        inputs: a list of numpy arrays, the positional inputs of `serve`; or
            a dict of numpy arrays keyed by input name, for a model with dict
            inputs (passed as one dict to `serve`, by name to its signature).

    Returns:
        The flattened outputs of `serve`, as a list of numpy arrays.

    Raises:
        AssertionError: the SavedModel did not load or run there, or loading it
            imported keras_seq or zoo.
    """
    with tempfile.TemporaryDirectory() as tmp:
        request = {
            "export_dir": os.path.abspath(export_dir),
            "inputs": os.path.join(tmp, "inputs.npz"),
            "outputs": os.path.join(tmp, "outputs.npz"),
        }
        if isinstance(inputs, dict):
            request["named"] = True
            np.savez(request["inputs"], **{k: np.asarray(v) for k, v in inputs.items()})
        else:
            np.savez(request["inputs"], *[np.asarray(x) for x in inputs])
        reply = _request(request, export_dir)
        if reply["num_signature_outputs"] != reply["num_outputs"]:
            raise AssertionError(
                f"serving_default of {export_dir} has "
                f"{reply['num_signature_outputs']} outputs, serve has "
                f"{reply['num_outputs']}."
            )
        with np.load(request["outputs"]) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]
