"""The run directory `keras-seq-train` writes, and the one loader of it.

Layout of a run directory (`--model_dir`):

    config.json     the resolved run: the train flags, `sequence_length` and
                    `steps` as used, `model_hyperparameters` (preset, data
                    and overrides applied)
    checkpoints/    model + optimizer every `checkpoint_every` steps
    best/           the weights with the best validation metric so far, and
                    `best.json`: every validation evaluation (`BestKeeper`)
    logs/           TensorBoard
    tokenizer/      the tokenizer the model reads (export embeds it)
    model.keras     the trained model (the weights of the best validation)
    metrics.json    the evaluation on the held-out split
    export/N/       verified SavedModels in TF Serving layout (N = 1, 2, ...)

`load(model_dir)` is what evaluate, export and generate read a run through:
it returns the parsed config, the Keras model and the tokenizer, or raises
`RunDirError` (a `ValueError`) with one line naming the file at fault. Every
write into a run directory goes through `write_atomic` (a temporary sibling
renamed into place), so a killed process never leaves a half-written file.

Example:
    >>> from keras_seq.training import run_dir
    >>> run_dir.path("runs/char", run_dir.MODEL)
    'runs/char/model.keras'
"""

import json
import os
import re
import shutil
import uuid
import zipfile

CONFIG = "config.json"
CHECKPOINTS = "checkpoints"
BEST = "best"
LOGS = "logs"
TOKENIZER = "tokenizer"
MODEL = "model.keras"
METRICS = "metrics.json"
EXPORT = "export"
# Everything a run writes (what `--overwrite` removes).
ENTRIES = (CONFIG, CHECKPOINTS, BEST, LOGS, TOKENIZER, MODEL, METRICS, EXPORT)


class RunDirError(ValueError):
    """A run directory that cannot be used; the message names the file."""


def path(model_dir, name):
    """`model_dir/name`."""
    return os.path.join(os.fspath(model_dir), name)


def check_writable(model_dir, flag="model_dir"):
    """Raises `RunDirError` if `model_dir` (or a parent) is not a directory."""
    model_dir = os.fspath(model_dir)
    probe = os.path.abspath(model_dir)
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if os.path.exists(probe) and not os.path.isdir(probe):
        own = probe == os.path.abspath(model_dir)
        where = "is a file" if own else "is below a file"
        raise RunDirError(f"--{flag}={model_dir}: {where} ({probe}), not a directory.")
    if os.path.isdir(probe) and not os.access(probe, os.W_OK):
        raise RunDirError(f"--{flag}={model_dir}: {probe} is not writable.")


def is_run(model_dir):
    """Whether `model_dir` holds a run (a `config.json`)."""
    return os.path.isfile(path(model_dir, CONFIG))


def read_config(model_dir):
    """The parsed `config.json` of a run; `RunDirError` if absent or bad."""
    model_dir = os.fspath(model_dir)
    if not os.path.isdir(model_dir):
        raise RunDirError(f"--model_dir={model_dir}: no such directory.")
    config_path = path(model_dir, CONFIG)
    if not os.path.isfile(config_path):
        raise RunDirError(
            f"--model_dir={model_dir}: no {CONFIG}; is it a keras-seq-train run "
            "directory?"
        )
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        if not isinstance(config, dict) or not isinstance(config.get("model"), str):
            raise ValueError("no 'model' entry")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunDirError(f"{config_path}: unreadable run config: {e}") from None
    return config


def model_problem(model_dir):
    """Why `model.keras` cannot be loaded (missing, truncated), or `None`."""
    model_path = path(model_dir, MODEL)
    if not os.path.isfile(model_path):
        return f"{model_path}: no such file (the run has not finished)"
    try:
        with zipfile.ZipFile(model_path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        return f"{model_path}: truncated or not a .keras archive ({e})"
    if bad is not None:
        return f"{model_path}: corrupt entry {bad!r} in the .keras archive"
    return None


def check_model(model_dir):
    """Raises `RunDirError` (saying how to rebuild it) if `model.keras` is
    missing or truncated."""
    problem = model_problem(model_dir)
    if problem is not None:
        raise RunDirError(
            f"{problem}; run keras-seq-train with the run's flags to rebuild it "
            "from checkpoints/."
        )


def load_model(model_dir):
    """The trained Keras model of a run (a stateless copy of a stateful one)."""
    import zoo

    check_model(model_dir)
    try:
        model = zoo.load(path(model_dir, MODEL))
    except (ValueError, OSError, TypeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunDirError(f"{path(model_dir, MODEL)}: cannot be loaded: {first}") from e
    if getattr(model, "stateful", False):
        model = model.stateless_copy()
    return model


def load_tokenizer(model_dir):
    """The run's tokenizer, or `None` when it trained on ids."""
    from keras_seq import data

    directory = path(model_dir, TOKENIZER)
    if not os.path.isdir(directory):
        return None
    try:
        return data.load_tokenizer(directory)
    except (OSError, ValueError) as e:
        raise RunDirError(f"{directory}: unreadable tokenizer: {e}") from e


def load(model_dir):
    """`(config, model, tokenizer)` of a finished run; `RunDirError` if not."""
    import zoo

    config = read_config(model_dir)
    family = config.get("model")
    if family not in zoo.list_models():
        raise RunDirError(
            f"{path(model_dir, CONFIG)}: the run's model {family!r} is not a known "
            f"family (known: {zoo.list_models()}); a family of your own is "
            "registered by --module=MODULE"
        )
    return config, load_model(model_dir), load_tokenizer(model_dir)


def export_versions(base):
    """The numeric version directories under `base` (an export base), sorted."""
    if not os.path.isdir(base):
        return []
    return sorted(int(n) for n in os.listdir(base) if re.fullmatch(r"\d+", n))


def next_export_version(base):
    """One past the highest version under `base` (1 if none)."""
    return max(export_versions(base), default=0) + 1


def clear(model_dir):
    """Removes what a run wrote (`ENTRIES`, `metrics-*.json`) from `model_dir`."""
    for name in os.listdir(model_dir):
        if name in ENTRIES or re.fullmatch(r"metrics-\w+\.json", name):
            target = path(model_dir, name)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            else:
                os.remove(target)


def write_json(model_dir, name, value):
    """Writes `value` as JSON to `model_dir/name`, atomically."""

    def dump(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2, sort_keys=True, default=str)
            f.write("\n")

    write_atomic(model_dir, name, dump)


def write_atomic(directory, name, write):
    """`write(tmp_path)` then rename to `directory/name`: never half-written."""
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, name)
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(directory, f".{stem}.tmp-{uuid.uuid4().hex[:8]}{ext}")
    try:
        write(tmp)
        if os.path.isdir(tmp) and os.path.exists(final):
            old = os.path.join(directory, f".{stem}.old-{uuid.uuid4().hex[:8]}")
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old)
        else:
            if os.path.isdir(final) and not os.path.isdir(tmp):
                shutil.rmtree(final)
            os.replace(tmp, final)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        elif os.path.exists(tmp):
            os.remove(tmp)
