"""`tfds:NAME`: any TFDS dataset, turned into a `SeqDataset`.

Adapters say what a dataset's features mean:

- `imdb_reviews`: classification, `text` and `label` (`neg`, `pos`); the
  last 10% of `train` is `validation`, `test` is `test`.
- `ted_hrlr_translate/pt_to_en`: seq2seq, Portuguese source, English target.
- `tiny_shakespeare`: language_model; each split's text cut into lines.

Other datasets are read by the shape of their features: a `text` Text and a
`label` ClassLabel (classification), a two-language `Translation` with a
config named `X_to_Y` (seq2seq), or a single Text feature (language_model);
anything else is a `DataError` that lists the adapters. The dataset must be
prepared in `data_dir` (or downloadable); an unknown name is a `DataError`
with the closest TFDS names.
"""

import difflib
import re

import tensorflow as tf
import tensorflow_datasets as tfds

from keras_seq.data.dataset import DataError, SeqDataset

_HELD_OUT = ("train[:90%]", "train[90%:]")


def _imdb(builder, name):
    splits = {
        "train": builder.as_dataset(split=_HELD_OUT[0]),
        "validation": builder.as_dataset(split=_HELD_OUT[1]),
        "test": builder.as_dataset(split="test"),
    }
    return _classification(builder, name, splits, "text", "label")


def _ted_pt_to_en(builder, name):
    return _translation(builder, name, "pt", "en", ("train", "validation", "test"))


def _tiny_shakespeare(builder, name):
    splits = {}
    for split in ("train", "validation", "test"):
        text = "".join(
            t.decode("utf-8")
            for t in builder.as_dataset(split=split)
            .map(lambda ex: ex["text"])
            .as_numpy_iterator()
        )
        splits[split] = tf.data.Dataset.from_tensor_slices(
            {"text": text.splitlines(keepends=True) or [""]}
        )
    return SeqDataset(name, "language_model", splits, metadata={"tfds": builder.name})


ADAPTERS = {
    "imdb_reviews": _imdb,
    "ted_hrlr_translate/pt_to_en": _ted_pt_to_en,
    "tiny_shakespeare": _tiny_shakespeare,
}


def _classification(builder, name, splits, text_key, label_key):
    splits = {
        s: ds.map(
            lambda ex: {"text": ex[text_key], "label": tf.cast(ex[label_key], tf.int32)}
        )
        for s, ds in splits.items()
    }
    names = list(builder.info.features[label_key].names)
    return SeqDataset(
        name,
        "classification",
        splits,
        label_names=names,
        metadata={"tfds": builder.name},
    )


def _translation(builder, name, source, target, split_names):
    splits = {
        s: builder.as_dataset(split=s).map(
            lambda ex: {"source": ex[source], "target": ex[target]}
        )
        for s in split_names
    }
    return SeqDataset(name, "seq2seq", splits, metadata={"tfds": builder.name})


def _generic_splits(builder):
    names = list(builder.info.splits) or ["train", "test"]
    if "validation" in names or "train" not in names:
        return {s: builder.as_dataset(split=s) for s in names}
    splits = {
        "train": builder.as_dataset(split=_HELD_OUT[0]),
        "validation": builder.as_dataset(split=_HELD_OUT[1]),
    }
    splits.update({s: builder.as_dataset(split=s) for s in names if s != "train"})
    return splits


def _generic(builder, name):
    features = builder.info.features
    text_keys = [
        k
        for k, f in getattr(features, "items", dict)()
        if isinstance(f, tfds.features.Text)
    ]
    if isinstance(features, tfds.features.Translation):
        config_name = getattr(builder.builder_config, "name", "") or ""
        match = re.fullmatch(r"(\w+)_to_(\w+)", config_name)
        languages = set(features.languages)
        if match and set(match.groups()) <= languages:
            return _translation(
                builder, name, *match.groups(), list(builder.info.splits)
            )
    elif (
        "text" in text_keys
        and "label" in features
        and isinstance(features["label"], tfds.features.ClassLabel)
    ):
        return _classification(builder, name, _generic_splits(builder), "text", "label")
    elif len(text_keys) == 1 and len(features) == 1:
        key = text_keys[0]
        splits = {
            s: ds.map(lambda ex: {"text": ex[key]})
            for s, ds in _generic_splits(builder).items()
        }
        return SeqDataset(
            name, "language_model", splits, metadata={"tfds": builder.name}
        )
    raise DataError(
        f"TFDS dataset {name!r}: no adapter, and its features {features} do not "
        "look like text+label, an X_to_Y translation or a single text; adapters "
        f"exist for {sorted(ADAPTERS)}."
    )


def _builder(name, data_dir):
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        known = tfds.list_builders(with_community_datasets=False)
        close = difflib.get_close_matches(name.split("/")[0], known, n=5)
        raise DataError(
            f"Unknown TFDS dataset {name!r}; closest TFDS names: {close or 'none'} "
            f"(TFDS knows {len(known)}: `tfds.list_builders()`)."
        ) from None
    except ValueError as error:  # e.g. an unknown config
        raise DataError(f"TFDS dataset {name!r}: {error}") from None


def load_tfds(name, data_dir=None, download=True):
    """`tfds:NAME` -> `SeqDataset`; `NAME` may carry a config (`a/b`)."""
    builder = _builder(name, data_dir)
    try:
        if download:
            builder.download_and_prepare()
        elif not builder.is_prepared():
            raise DataError(f"not prepared in {builder.data_dir}")
    except Exception as error:  # noqa: BLE001 - any failure, one clear message
        raise DataError(
            f"TFDS dataset {name!r} is not prepared in data_dir={data_dir!r} and "
            f"could not be prepared ({type(error).__name__}: {error}). Prepare it "
            "where there is network (`tfds build` or `tfds.load`) and pass that "
            "data_dir."
        ) from None
    full = (
        f"{builder.name}/{builder.builder_config.name}"
        if builder.builder_config
        else builder.name
    )
    for key in (name, full, builder.name):
        if key in ADAPTERS:
            return ADAPTERS[key](builder, f"tfds:{name}")
    return _generic(builder, f"tfds:{name}")
