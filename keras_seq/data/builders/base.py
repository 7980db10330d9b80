"""The base of the embedded datasets: offline TFDS builders, seeded.

Each embedded dataset is a `tfds.core.GeneratorBasedBuilder` that makes its
examples with numpy from a seed, downloads nothing, and is registered with
TFDS when its module is imported. Sizes, seed and task parameters are
fields of its `BuilderConfig`; they can also be given as builder kwargs,
which derive a config named after the overrides and their hash (so
different sizes never share a cache directory):

```python
tfds.load("date_normalization", data_dir=d, builder_kwargs={"train_size": 500})
tfds.load("date_normalization/default/train_size=500,seed=3", data_dir=d)
```

Determinism: split `s` draws from `np.random.default_rng([seed, s_index])`,
splits are made test first, then validation, then train; builders with
`UNIQUE = True` drop an example whose key an earlier one had, so no source
string is in two splits, and the test split does not change with
`train_size`.

Atomicity (what TFDS gives and `tests/test_data_builders.py` checks): TFDS
writes into `<config>/incomplete.XXXX_<version>/` and renames it to
`<config>/<version>/` only after every split and `dataset_info.json` are
written, so an interrupted preparation never leaves a directory that loads
as complete; the next load prepares again.
"""

import dataclasses
import hashlib
import inspect
import re

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from keras_seq.data.dataset import DataError

# Split order of generation (see the module docstring) and stream index.
_SPLIT_ORDER = (("test", 0), ("validation", 1), ("train", 2))
_MAX_TRIES_PER_EXAMPLE = 50


@dataclasses.dataclass
class SyntheticConfig(tfds.core.BuilderConfig):
    """Sizes and seed shared by every embedded dataset.

    Args:
        train_size: number of training examples.
        validation_size: number of validation examples.
        test_size: number of test examples.
        seed: the seed all examples are drawn from.
    """

    train_size: int = 1000
    validation_size: int = 100
    test_size: int = 100
    seed: int = 0


def option_fields(config_cls):
    """The config fields a user sets: those below TFDS's `BuilderConfig`."""
    base = {f.name for f in dataclasses.fields(tfds.core.BuilderConfig)}
    return [f.name for f in dataclasses.fields(config_cls) if f.name not in base]


def _config_name(base_name, overrides):
    """Readable and unique: `default_seed-3_train_size-7_1a2b3c4d`."""
    items = sorted(overrides.items())
    readable = "_".join(
        f"{k}-{re.sub(r'[^A-Za-z0-9.]+', '', str(v))}" for k, v in items
    )
    digest = hashlib.sha1(repr(items).encode()).hexdigest()[:8]
    return f"{base_name}_{readable}_{digest}"


class SyntheticBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base class: subclasses set `TASK` and write `_features`,
    `_make_example` (and `vocabulary`, `_example_key` where they apply).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    TASK = None
    SUPERVISED_KEYS = None
    UNIQUE = False
    DESCRIPTION = ""
    CITATION = ""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        # TFDS's own lookup imports `importlib_resources`, which TFDS only
        # declares for Python < 3.9; the module file is all it needs.
        return epath.Path(inspect.getfile(cls))

    def __init__(self, *, config=None, **kwargs):
        fields = option_fields(type(self.BUILDER_CONFIGS[0]))
        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
        if overrides:
            config = self._derive_config(config, overrides)
        super().__init__(config=config, **kwargs)

    def _derive_config(self, base, overrides):
        if base is None or isinstance(base, str):
            base_name = base or self.BUILDER_CONFIGS[0].name
            by_name = {c.name: c for c in self.BUILDER_CONFIGS}
            if base_name not in by_name:
                raise DataError(
                    f"{self.name}: unknown config {base_name!r}; "
                    f"configs are {sorted(by_name)}."
                )
            base = by_name[base_name]
        return dataclasses.replace(
            base,
            name=_config_name(base.name, overrides),
            description=None,
            **overrides,
        )

    # -- TFDS interface ----------------------------------------------------

    def _info(self):
        config = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=self._features(config),
            supervised_keys=self.SUPERVISED_KEYS,
            citation=self.CITATION,
            metadata=tfds.core.MetadataDict(
                task=self.TASK,
                vocabulary=self.vocabulary(config),
                config=_plain_config(config),
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download.
        examples = self.make_examples(self.builder_config)
        return {split: self._generate_examples(examples[split]) for split in examples}

    def _generate_examples(self, examples):
        yield from enumerate(examples)

    # -- generation --------------------------------------------------------

    def make_examples(self, config):
        """Returns `{split: [example, ...]}` for `config`, deterministically."""
        self._validate(config)
        seen = set()
        out = {}
        for split, stream in _SPLIT_ORDER:
            size = getattr(config, f"{split}_size")
            rng = np.random.default_rng([config.seed, stream])
            examples = []
            tries = 0
            while len(examples) < size:
                tries += 1
                if tries > _MAX_TRIES_PER_EXAMPLE * size:
                    raise DataError(
                        f"{self.name}: config {config.name!r} asks for "
                        f"{size} {split} examples unique across splits, but "
                        f"only {len(examples)} new ones came out of "
                        f"{tries - 1} draws; lower the sizes or widen the "
                        "task parameters."
                    )
                example = self._make_example(rng, config)
                if self.UNIQUE:
                    key = self._example_key(example)
                    if key in seen:
                        continue
                    seen.add(key)
                examples.append(example)
            out[split] = examples
        return {split: out[split] for split in ("train", "validation", "test")}

    def _validate(self, config):
        for split, _ in _SPLIT_ORDER:
            size = getattr(config, f"{split}_size")
            if not isinstance(size, int | np.integer) or size < 1:
                raise DataError(
                    f"{self.name}: {split}_size must be a positive int, got {size!r}."
                )
        if not isinstance(config.seed, int | np.integer) or config.seed < 0:
            raise DataError(
                f"{self.name}: seed must be a non-negative int, got {config.seed!r}."
            )
        self._validate_task(config)

    # -- for subclasses ----------------------------------------------------

    def vocabulary(self, config):
        """The token list that comes with the data, or `None`."""
        del config
        return None

    def _validate_task(self, config):
        del config

    def _features(self, config):
        raise NotImplementedError

    def _make_example(self, rng, config):
        raise NotImplementedError

    def _example_key(self, example):
        return example["source"]


def _plain_config(config):
    return {name: getattr(config, name) for name in option_fields(type(config))}
