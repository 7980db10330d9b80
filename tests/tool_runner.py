"""Runs many invocations of one keras-seq tool in one process (tests only).

    python tests/tool_runner.py TOOL < cases.json > results.json

`cases.json` is a list of `{"args": [...], "watch": [paths]}`; each case is
parsed and run as `keras-seq-TOOL ARGS` would be (the tool's own flag parser
and `main`), with stdout and stderr captured and `SystemExit` caught. The
result of a case: `{"code", "stdout", "stderr", "traceback", "changed",
"seconds"}`, where `changed` lists the watched paths whose tree (names,
bytes) differs after the case. One process saves the TensorFlow start-up per
case, which keeps a table of bad inputs fast.
"""

import contextlib
import hashlib
import importlib
import io
import json
import os
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tree_hash(path):
    """A hash of the names and bytes under `path` (`None` if it is absent)."""
    if not os.path.lexists(path):
        return None
    digest = hashlib.sha256()
    if os.path.isfile(path):
        with open(path, "rb") as f:
            digest.update(f.read())
        return digest.hexdigest()
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode())
            with open(full, "rb") as f:
                digest.update(f.read())
        digest.update(b"/".join(d.encode() for d in dirs))
    return digest.hexdigest()


def run_case(tool, module, args, watch):
    from absl import flags

    from tools import flag_utils

    before = {p: tree_hash(p) for p in watch}
    flags.FLAGS.unparse_flags()
    out, err = io.StringIO(), io.StringIO()
    code, trace = 0, None
    start = time.time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            argv = flag_utils.parse_flags_or_exit([f"keras-seq-{tool}", *args])
            flag_utils.start_tensorflow()  # what flag_utils.run does
            module.main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # a traceback is a failure the test reports
            code, trace = 1, traceback.format_exc()
    import keras

    keras.utils.clear_session(free_memory=False)
    keras.config.set_dtype_policy("float32")
    return {
        "code": code,
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "traceback": trace,
        "changed": [p for p in watch if tree_hash(p) != before[p]],
        "seconds": round(time.time() - start, 2),
    }


def run_cases(tool, cases, timeout=900):
    """Runs `cases` in one `python tests/tool_runner.py TOOL` process; returns
    their results (what the module docstring describes)."""
    import subprocess

    env = {**os.environ, "CI": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the tools must be quiet on their own
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), tool],
        cwd=ROOT,
        env=env,
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tool_runner {tool} failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout)


def main():
    tool = sys.argv[1]
    sys.path.insert(0, ROOT)
    os.chdir(ROOT)
    module = importlib.import_module(f"tools.{tool}")
    from tools import flag_utils

    flags = importlib.import_module("absl.flags")
    flags.FLAGS.mark_as_parsed()  # defaults, then start TensorFlow quietly
    flag_utils.start_tensorflow()
    cases = json.load(sys.stdin)
    results = [run_case(tool, module, c["args"], c.get("watch", [])) for c in cases]
    json.dump(results, sys.__stdout__)


if __name__ == "__main__":
    main()
