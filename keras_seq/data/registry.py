"""`load_dataset(spec)`: every dataset by one name.

Specs:

- an embedded dataset: `adding_problem`, `copy_memory`, `date_normalization`,
  `arithmetic`, `sequence_reverse`, optionally with a config
  (`date_normalization/small`); config fields as keyword options
  (`load_dataset("arithmetic", train_size=500, seed=3)`).
- `text:PATH`, `pairs:PATH`, `labeled:PATH`: local files
  (`keras_seq.data.local_files`); options `validation_fraction`, and
  `label_names` for `labeled:`.
- `tfds:NAME`: any TFDS dataset in `data_dir` (`keras_seq.data.tfds_adapters`).
"""

import contextlib
import difflib
import fcntl
import os

from keras_seq.data import local_files, tfds_adapters
from keras_seq.data.builders import EMBEDDED
from keras_seq.data.builders.base import option_fields
from keras_seq.data.dataset import SPLITS, DataError, SeqDataset

LOCAL_FORMATS = {
    "text": local_files.load_text,
    "pairs": local_files.load_pairs,
    "labeled": local_files.load_labeled,
}


def list_datasets():
    """Embedded dataset names and the spec forms `load_dataset` takes."""
    return (
        sorted(EMBEDDED)
        + [f"{prefix}:PATH" for prefix in LOCAL_FORMATS]
        + ["tfds:NAME"]
    )


@contextlib.contextmanager
def prepare_lock(version_dir):
    """Holds an exclusive lock on `<config dir>/.prepare.lock`.

    TFDS renames its temporary directory into place, and a second process
    finishing the same preparation fails on that rename; with this lock (e.g.
    two workers of one multi-worker job sharing a data_dir), one prepares and
    the other then reads.
    """
    version_dir = os.fspath(version_dir)
    if "://" in version_dir:  # A remote data_dir (gs://...): no local lock.
        yield
        return
    config_dir = os.path.dirname(os.path.normpath(version_dir))
    os.makedirs(config_dir, exist_ok=True)
    with open(os.path.join(config_dir, ".prepare.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_embedded(name, data_dir=None, **options):
    """Prepares (once, in `data_dir`) and loads an embedded dataset.

    `name` may carry a config, `"date_normalization/small"`; `options` are
    config fields (`train_size`, `seed`, ...).
    """
    base, _, config = name.partition("/")
    if base not in EMBEDDED:
        raise DataError(
            f"Unknown embedded dataset {base!r}; they are {sorted(EMBEDDED)}."
        )
    cls = EMBEDDED[base]
    configs = [c.name for c in cls.BUILDER_CONFIGS]
    if config and config not in configs:
        raise DataError(f"{base}: unknown config {config!r}; configs are {configs}.")
    fields = set(option_fields(type(cls.BUILDER_CONFIGS[0])))
    unknown = sorted(set(options) - fields)
    if unknown:
        raise DataError(
            f"{base}: unknown option(s) {unknown}; options are {sorted(fields)}."
        )
    builder = cls(data_dir=data_dir, config=config or None, **options)
    if not builder.is_prepared():
        with prepare_lock(builder.data_dir):
            # Another process may have prepared it while we waited: look again.
            builder = cls(data_dir=data_dir, config=config or None, **options)
            builder.download_and_prepare()
    info = builder.info
    return SeqDataset(
        name=name,
        task=info.metadata["task"],
        splits={s: builder.as_dataset(split=s) for s in SPLITS},
        vocabulary=info.metadata["vocabulary"],
        metadata={
            "config": dict(info.metadata["config"]),
            "data_dir": builder.data_dir,
        },
    )


def load_dataset(spec, data_dir=None, **options):
    """Loads a dataset by spec (see the module docstring) -> `SeqDataset`.

    Args:
        spec: an embedded name, `text:PATH`, `pairs:PATH`, `labeled:PATH` or
            `tfds:NAME`.
        data_dir: where TFDS datasets (embedded ones included) are prepared
            and read; TFDS's default when `None`.
        **options: config fields of an embedded dataset, or the options of
            the local file loaders.

    Raises:
        DataError: an unknown name (the message lists what exists), or bad
            data (naming the file and line).
    """
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in LOCAL_FORMATS:
        return LOCAL_FORMATS[prefix](rest, **options)
    if sep and prefix == "tfds":
        if rest.partition("/")[0] in EMBEDDED:
            return load_embedded(rest, data_dir, **options)
        if options:
            raise DataError(f"tfds:{rest}: takes no options, got {sorted(options)}.")
        return tfds_adapters.load_tfds(rest, data_dir)
    if not sep and spec.partition("/")[0] in EMBEDDED:
        return load_embedded(spec, data_dir, **options)
    close = difflib.get_close_matches(spec, sorted(EMBEDDED), n=3)
    hint = f" Did you mean {close}?" if close else ""
    raise DataError(
        f"Unknown dataset {spec!r}.{hint} Datasets: {', '.join(list_datasets())}."
    )
