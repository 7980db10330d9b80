"""The embedded TFDS builders: offline, deterministic per seed, atomic."""

import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_seq import data
from keras_seq.data import registry
from keras_seq.data.builders import EMBEDDED, date_formats
from keras_seq.data.builders.base import SyntheticBuilder

tfds.disable_progress_bar()

TINY = {"train_size": 12, "validation_size": 4, "test_size": 4}
# Small task parameters so the examples stay tiny.
TASK_OPTIONS = {
    "adding_problem": {"sequence_length": 8},
    "copy_memory": {"delay": 5, "copy_length": 3},
    "date_normalization": {},
    "arithmetic": {},
    "sequence_reverse": {"max_length": 6},
}


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails: generation must not need one."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _as_lists(dataset):
    out = {}
    for split, ds in dataset.splits.items():
        out[split] = [
            {k: np.asarray(v).tolist() for k, v in ex.items()}
            for ex in ds.as_numpy_iterator()
        ]
    return out


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_builder_offline_and_deterministic_per_seed(name, tmp_path, no_network):
    options = {**TINY, **TASK_OPTIONS[name]}
    first = data.load_dataset(name, data_dir=tmp_path / "a", seed=3, **options)
    again = data.load_dataset(name, data_dir=tmp_path / "b", seed=3, **options)
    other = data.load_dataset(name, data_dir=tmp_path / "c", seed=4, **options)
    a, b, c = _as_lists(first), _as_lists(again), _as_lists(other)
    assert {s: len(v) for s, v in a.items()} == {
        "train": 12,
        "validation": 4,
        "test": 4,
    }
    assert a == b
    assert a["train"] != c["train"]
    assert first.task == EMBEDDED[name].TASK
    assert set(a["train"][0]) == set(data.TASK_KEYS[first.task])
    if first.task in ("seq2seq", "tagging"):
        assert first.vocabulary[0] == "<pad>"
    else:
        assert first.vocabulary is None


@pytest.mark.parametrize(
    "name", ["date_normalization", "arithmetic", "sequence_reverse"]
)
def test_seq2seq_sources_unique_across_splits_and_in_vocabulary(name, tmp_path):
    ds = data.load_dataset(name, data_dir=tmp_path, **{**TINY, **TASK_OPTIONS[name]})
    rows = _as_lists(ds)
    sources = [ex["source"] for split in rows.values() for ex in split]
    assert len(sources) == len(set(sources))
    chars = set(ds.vocabulary[4:])
    for split in rows.values():
        for ex in split:
            text = (ex["source"] + ex["target"]).decode()
            assert set(text) <= chars, text


def test_registered_with_tfds_load(tmp_path):
    ds, info = tfds.load(
        "sequence_reverse",
        data_dir=tmp_path,
        split="validation",
        with_info=True,
        builder_kwargs={**TINY, "seed": 1},
    )
    assert info.metadata["task"] == "seq2seq"
    assert info.metadata["vocabulary"][:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert len(list(ds)) == 4
    # Config overrides in the name string, as tfds.load allows.
    ds = tfds.load(
        "arithmetic/small/train_size=7,validation_size=2,test_size=2",
        data_dir=tmp_path,
        split="train",
    )
    assert len(list(ds)) == 7
    assert set(EMBEDDED) <= set(tfds.list_builders(with_community_datasets=False))


def test_adding_problem_target_is_sum_of_marked_values(tmp_path):
    ds = data.load_dataset(
        "adding_problem", data_dir=tmp_path, sequence_length=10, **TINY
    )
    for ex in ds.splits["train"].as_numpy_iterator():
        values, markers = ex["features"][:, 0], ex["features"][:, 1]
        assert markers.sum() == 2
        first, second = np.flatnonzero(markers)
        assert first < 5 <= second
        np.testing.assert_allclose(ex["target"], values[first] + values[second], 1e-6)


def test_copy_memory_targets_repeat_symbols_after_delimiter(tmp_path):
    ds = data.load_dataset(
        "copy_memory", data_dir=tmp_path, delay=6, copy_length=3, **TINY
    )
    vocab = ds.vocabulary
    blank, delimiter = vocab.index("<blank>"), vocab.index("<delimiter>")
    for ex in ds.splits["test"].as_numpy_iterator():
        inputs, targets = ex["inputs"], ex["targets"]
        assert len(inputs) == len(targets) == 6 + 2 * 3
        assert inputs[6 + 3 - 1] == delimiter
        assert (inputs[3 : 6 + 3 - 1] == blank).all()
        assert (targets[:-3] == blank).all()
        np.testing.assert_array_equal(targets[-3:], inputs[:3])
        assert inputs[:3].min() >= 3


def test_arithmetic_targets_evaluate_sources(tmp_path):
    ds = data.load_dataset("arithmetic", data_dir=tmp_path, operators="+-*", **TINY)
    for ex in ds.splits["train"].as_numpy_iterator():
        a, op, b = re.fullmatch(r"(\d+)([-+*])(\d+)", ex["source"].decode()).groups()
        expected = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}
        assert int(ex["target"]) == expected[op]


_STRPTIME = {
    "{d}": "%d",
    "{dd}": "%d",
    "{do}": "%d",
    "{m}": "%m",
    "{mm}": "%m",
    "{MMM}": "%b",
    "{MMMM}": "%B",
    "{yy}": "%y",
    "{yyyy}": "%Y",
    "{EEE}": "%a",
    "{EEEE}": "%A",
}


def _strptime_format(template):
    return re.sub(r"\{\w+\}", lambda m: _STRPTIME[m.group(0)], template)


def test_date_formats_parse_back_with_python_strptime():
    """Python's strptime (C locale) reads every format back to the date."""
    rng = np.random.default_rng(0)
    for template, case in date_formats.FORMATS:
        for _ in range(40):
            date = date_formats.random_date(rng, 1950, 2049)
            text = date_formats.render(date, template, case)
            text = re.sub(r"(\d+)(st|nd|rd|th)", r"\1", text, flags=re.IGNORECASE)
            parsed = datetime.datetime.strptime(text, _strptime_format(template))
            year = parsed.year - 100 if parsed.year > 2049 else parsed.year
            assert parsed.date().replace(year=year) == date, (template, text)


def test_date_sources_name_one_date():
    """No string is written by two formats for two different dates."""
    seen = {}
    for year in (1950, 1999, 2000, 2049):
        day = datetime.date(year, 1, 1)
        while day.year == year:
            for template, case in date_formats.FORMATS:
                text = date_formats.render(day, template, case)
                assert seen.setdefault(text, day) == day, (text, template)
            day += datetime.timedelta(days=1)
    assert len(date_formats.FORMATS) >= 30


def test_date_normalization_defaults_fit_the_default_job():
    builder = EMBEDDED["date_normalization"]
    default = builder.BUILDER_CONFIGS[0]
    assert 20000 <= default.train_size <= 50000
    assert default.test_size >= 1000


@pytest.mark.parametrize(
    "name, options, match",
    [
        ("adding_problem", {"train_size": 0}, "train_size must be a positive int"),
        ("adding_problem", {"sequence_length": 1}, "sequence_length must be >= 2"),
        ("copy_memory", {"delay": 0}, "delay must be >= 1"),
        ("arithmetic", {"operators": "/"}, "operators must be"),
        ("sequence_reverse", {"min_length": 5, "max_length": 2}, "min_length"),
        ("date_normalization", {"start_year": 1900}, "at most 100 years"),
        ("date_normalization", {"colour": "red"}, r"unknown option\(s\) \['colour'\]"),
        ("date_normalization/huge", {}, "unknown config 'huge'"),
    ],
)
def test_bad_configs_name_the_option(name, options, match, tmp_path):
    with pytest.raises(data.DataError, match=match):
        data.load_dataset(name, data_dir=tmp_path, **options)


def test_too_small_example_space_is_an_error_not_a_hang(tmp_path):
    with pytest.raises(data.DataError, match="unique across splits"):
        data.load_dataset(
            "arithmetic",
            data_dir=tmp_path,
            max_digits=1,
            operators="+",
            train_size=200,
            validation_size=5,
            test_size=5,
        )


def _version_dirs(root, name):
    base = os.path.join(root, name)
    found = []
    for config in os.listdir(base):
        if config.startswith("."):
            continue
        entries = os.listdir(os.path.join(base, config))
        found += [(config, v) for v in entries if not v.startswith(".")]
    return found


def test_exception_mid_write_leaves_nothing_that_loads(tmp_path, monkeypatch):
    original = SyntheticBuilder._generate_examples
    count = {"n": 0}

    def failing(self, examples):
        for key, example in original(self, examples):
            count["n"] += 1
            if count["n"] > 15:  # inside the second split
                raise RuntimeError("crash while writing")
            yield key, example

    monkeypatch.setattr(SyntheticBuilder, "_generate_examples", failing)
    with pytest.raises(RuntimeError, match="crash while writing"):
        data.load_dataset("sequence_reverse", data_dir=tmp_path, **TINY)
    # TFDS removes its temporary directory; no version directory exists.
    assert _version_dirs(tmp_path, "sequence_reverse") == []
    monkeypatch.setattr(SyntheticBuilder, "_generate_examples", original)
    ds = data.load_dataset("sequence_reverse", data_dir=tmp_path, **TINY)
    assert len(list(ds.splits["train"])) == 12
    assert len(list(ds.splits["test"])) == 4


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from keras_seq.data.builders.base import SyntheticBuilder
    original = SyntheticBuilder._generate_examples
    count = [0]
    def killing(self, examples):
        for key, example in original(self, examples):
            count[0] += 1
            if count[0] > 15:  # inside the second split, first one written
                os.kill(os.getpid(), signal.SIGKILL)
            yield key, example
    SyntheticBuilder._generate_examples = killing
    from keras_seq import data
    data.load_dataset("sequence_reverse", data_dir=sys.argv[1], train_size=12,
                      validation_size=4, test_size=4)
    """
)


def test_sigkill_mid_write_then_next_load_regenerates(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(tmp_path)],
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    left = _version_dirs(tmp_path, "sequence_reverse")
    assert left, "the killed run should have left its temporary directory"
    assert all(v.startswith("incomplete.") for _, v in left), left
    ds = data.load_dataset("sequence_reverse", data_dir=tmp_path, **TINY)
    assert {s: len(list(d)) for s, d in ds.splits.items()} == {
        "train": 12,
        "validation": 4,
        "test": 4,
    }


def test_overrides_get_their_own_cache_directory(tmp_path):
    plus = data.load_dataset("arithmetic", data_dir=tmp_path, operators="+", **TINY)
    times = data.load_dataset("arithmetic", data_dir=tmp_path, operators="*", **TINY)
    assert plus.metadata["data_dir"] != times.metadata["data_dir"]
    sources = [ex["source"] for ex in times.split("train").as_numpy_iterator()]
    assert all(b"*" in s for s in sources)
    # TFDS's own builder kwargs (here `version`) are not taken for options.
    builder = tfds.builder("arithmetic", data_dir=tmp_path, version="1.0.0", seed=2)
    assert str(builder.version) == "1.0.0" and builder.builder_config.seed == 2


def test_a_second_preparer_waits_for_the_first(tmp_path):
    """Two workers sharing a data_dir: one prepares, the other waits, reads."""
    builder = EMBEDDED["sequence_reverse"](data_dir=str(tmp_path), **TINY)
    results = []
    with registry.prepare_lock(builder.data_dir):
        worker = threading.Thread(
            target=lambda: results.append(
                data.load_dataset("sequence_reverse", data_dir=str(tmp_path), **TINY)
            )
        )
        worker.start()
        time.sleep(1.0)
        assert worker.is_alive() and not results  # blocked on the lock
    worker.join(timeout=120)
    assert len(list(results[0].split("train"))) == 12
