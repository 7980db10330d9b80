"""Local files: `text:PATH`, `pairs:PATH`, `labeled:PATH`.

- `text:PATH`: a UTF-8 text file, or a folder of them (every non-hidden file
  below it, in sorted order), for language models. The text is split by a
  fixed fraction: the first `1 - validation_fraction` of the characters (cut
  at a line end) is `train`, the rest `validation`; elements are lines.
- `pairs:PATH`: TSV, `source<TAB>target` per line (further columns, such as
  the attribution column of the Tatoeba/manythings files, are ignored).
- `labeled:PATH`: `text,label` per row; CSV when the name ends in `.csv`
  (quoted fields, an optional `text,label` header), else TSV split at the
  last tab. The label set is `label_names` if given, else the lines of
  `PATH.labels` if that file exists, else the labels found, sorted.

Pairs and labeled rows are split into `train` and `validation` by a fixed
permutation (seed 0), so the split never changes between runs. Blank lines
are skipped. Bad input raises `DataError` (a `ValueError`) naming the file and
line: a missing path, an empty file, bytes that are not UTF-8, a line with no
tab, an empty field, a label outside the label set.
"""

import csv
import io
import os

import numpy as np
import tensorflow as tf

from keras_seq.data.dataset import DataError, SeqDataset


def read_utf8(path):
    """Returns the text of `path`; `DataError` if missing, empty or not UTF-8."""
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory.")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, expected a file.")
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise DataError(f"{path}: the file is empty.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[error.start]:02x} "
            f"at column {column})."
        ) from None


def _text_files(path):
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or directory.")
    if not os.path.isdir(path):
        return [path]
    files = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files += [os.path.join(root, n) for n in sorted(names) if not n.startswith(".")]
    if not files:
        raise DataError(f"{path}: the folder holds no files.")
    return files


def _check_fraction(fraction):
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation_fraction must be in (0, 1), got {fraction}.")


def _split_indices(n, fraction, path):
    if n < 2:
        raise DataError(
            f"{path}: {n} example(s); need at least 2 to make train and "
            "validation splits."
        )
    n_val = min(n - 1, max(1, round(fraction * n)))
    order = np.random.default_rng(0).permutation(n)
    is_val = np.zeros(n, bool)
    is_val[order[:n_val]] = True
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _dataset(columns):
    return tf.data.Dataset.from_tensor_slices(columns)


def load_text(path, validation_fraction=0.1):
    """`text:PATH` -> a `language_model` `SeqDataset` (train, validation)."""
    _check_fraction(validation_fraction)
    parts = []
    for file in _text_files(path):
        text = read_utf8(file)
        parts.append(text if text.endswith("\n") else text + "\n")
    text = "".join(parts)
    cut = int(len(text) * (1.0 - validation_fraction))
    newline = text.find("\n", cut)
    if 0 <= newline < len(text) - 1:
        cut = newline + 1
    train, validation = text[:cut], text[cut:]
    if not train.strip() or not validation.strip():
        raise DataError(
            f"{path}: {len(text)} characters are too few to split into train "
            f"and validation (validation_fraction={validation_fraction})."
        )
    splits = {
        "train": _dataset({"text": train.splitlines(keepends=True)}),
        "validation": _dataset({"text": validation.splitlines(keepends=True)}),
    }
    return SeqDataset(
        name=f"text:{path}",
        task="language_model",
        splits=splits,
        metadata={
            "path": path,
            "characters": {"train": cut, "validation": len(text) - cut},
        },
    )


def _rows(path):
    """(line number, line) for each non-blank line."""
    for number, line in enumerate(read_utf8(path).splitlines(), start=1):
        if line.strip():
            yield number, line


def load_pairs(path, validation_fraction=0.1):
    """`pairs:PATH` (TSV source<TAB>target) -> a `seq2seq` `SeqDataset`."""
    _check_fraction(validation_fraction)
    sources, targets = [], []
    for number, line in _rows(path):
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(
                f"{path}:{number}: expected source<TAB>target, found no tab in "
                f"{line[:60]!r}."
            )
        source, target = fields[0].strip(), fields[1].strip()
        if not source or not target:
            empty = "source" if not source else "target"
            raise DataError(f"{path}:{number}: the {empty} is empty.")
        sources.append(source)
        targets.append(target)
    train, val = _split_indices(len(sources), validation_fraction, path)
    sources, targets = np.array(sources, object), np.array(targets, object)
    splits = {
        name: _dataset({"source": list(sources[idx]), "target": list(targets[idx])})
        for name, idx in (("train", train), ("validation", val))
    }
    return SeqDataset(
        name=f"pairs:{path}",
        task="seq2seq",
        splits=splits,
        metadata={
            "path": path,
            "num_examples": {"train": len(train), "validation": len(val)},
        },
    )


def _labeled_rows(path):
    if path.lower().endswith(".csv"):
        reader = csv.reader(io.StringIO(read_utf8(path), newline=""))
        for row in reader:
            if not any(field.strip() for field in row):
                continue
            if reader.line_num == 1 and [f.strip().lower() for f in row] == [
                "text",
                "label",
            ]:
                continue
            if len(row) != 2:
                raise DataError(
                    f"{path}:{reader.line_num}: expected 2 CSV fields "
                    f"(text,label), got {len(row)}; quote texts that hold commas."
                )
            yield reader.line_num, row[0], row[1]
        return
    for number, line in _rows(path):
        if "\t" not in line:
            raise DataError(
                f"{path}:{number}: expected text<TAB>label, found no tab in "
                f"{line[:60]!r}."
            )
        text, label = line.rsplit("\t", 1)
        yield number, text, label


def _label_set(path, label_names, found):
    if label_names is not None:
        return list(label_names), "the given label_names"
    sidecar = path + ".labels"
    if os.path.isfile(sidecar):
        names = [line.strip() for line in read_utf8(sidecar).splitlines()]
        return [n for n in names if n], sidecar
    return sorted(set(found)), None


def load_labeled(path, label_names=None, validation_fraction=0.1):
    """`labeled:PATH` (text,label rows) -> a `classification` `SeqDataset`."""
    _check_fraction(validation_fraction)
    rows = []
    for number, text, label in _labeled_rows(path):
        text, label = text.strip(), label.strip()
        if not text or not label:
            empty = "text" if not text else "label"
            raise DataError(f"{path}:{number}: the {empty} is empty.")
        rows.append((number, text, label))
    names, origin = _label_set(path, label_names, [r[2] for r in rows])
    index = {name: i for i, name in enumerate(names)}
    if origin is not None:
        for number, _, label in rows:
            if label not in index:
                raise DataError(
                    f"{path}:{number}: label {label!r} is not in the label set "
                    f"{names} (from {origin})."
                )
    train, val = _split_indices(len(rows), validation_fraction, path)
    texts = np.array([r[1] for r in rows], object)
    labels = np.array([index[r[2]] for r in rows], np.int32)
    splits = {
        name: _dataset({"text": list(texts[idx]), "label": labels[idx]})
        for name, idx in (("train", train), ("validation", val))
    }
    return SeqDataset(
        name=f"labeled:{path}",
        task="classification",
        splits=splits,
        label_names=names,
        metadata={
            "path": path,
            "num_examples": {"train": len(train), "validation": len(val)},
        },
    )
