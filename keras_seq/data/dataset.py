"""`SeqDataset`: one loaded dataset, whatever its source, and what it fits.

Every loader in `keras_seq.data` (embedded TFDS builders, local files, TFDS
by name) returns a `SeqDataset`: a task, unbatched `tf.data` splits whose
elements use the task's canonical keys, and the vocabulary or label names
that come with the data. `keras_seq.data.make_batches` turns it into the
batches of one model family.
"""

import dataclasses

# Canonical element keys of each task (unbatched, one example per element):
TASK_KEYS = {
    # Raw text for language models; a split holds text segments (lines).
    "language_model": ("text",),
    # Source and target strings (translation, date normalization, ...).
    "seq2seq": ("source", "target"),
    # Text and an int label (index into `label_names`).
    "classification": ("text", "label"),
    # Real-valued features (T, F) and a float target (the adding problem).
    "regression": ("features", "target"),
    # Token ids (T,) and one target id per step (copy memory).
    "tagging": ("inputs", "targets"),
}

# The batch formats `make_batches` makes, and the task of the data each reads.
# A model family declares which format it takes for each task it trains on
# (its `tasks` fact, see `zoo.family`); this package knows no family by name.
BATCH_FORMATS = {
    "causal_lm": "language_model",  # next-token windows: x token_ids, y ids
    "span_corruption": "language_model",  # T5's denoising: encoder/decoder ids
    "masked_lm": "language_model",  # BERT's MLM: token/segment ids, positions
    "seq2seq": "seq2seq",  # teacher forcing: encoder/decoder ids, y ids
    "classification": "classification",  # token_ids, y label
    "cls_sep_classification": "classification",  # <cls> ids <sep>, segment_ids
    "tagging": "tagging",  # token_ids, one target id per step
    "regression": "regression",  # features, y float
}

SPLITS = ("train", "validation", "test")


class DataError(ValueError):
    """Bad data or a bad dataset request; the message names what is at fault."""


def resolve_family(family):
    """A model family: the object itself, or its name looked up in the zoo.

    A family is any object with `name`, `tasks` (`{task: batch format}`) and
    `default_sequence_length` (`zoo.family.Family`). Names are resolved
    through the zoo's registry (`zoo.family`), imported here lazily: this
    package depends on no zoo family.
    """
    if not isinstance(family, str):
        return family
    import zoo

    try:
        return zoo.family(family)
    except ValueError:
        raise DataError(
            f"Unknown model family {family!r}; families are {zoo.list_models()}."
        ) from None


def families_for_task(task):
    """The names of the model families that train on `task` (from the zoo)."""
    import zoo

    return zoo.families_for_task(task)


@dataclasses.dataclass
class SeqDataset:
    """A loaded dataset: task, splits and the vocabulary that comes with it.

    Attributes:
        name: the name it was loaded by (`"date_normalization"`,
            `"pairs:/data/fr.tsv"`, `"tfds:imdb_reviews"`).
        task: one of `TASK_KEYS`.
        splits: dict split name -> unbatched `tf.data.Dataset` whose elements
            are dicts with the task's keys (`TASK_KEYS[task]`).
        vocabulary: list of tokens where the data comes with one (the
            embedded seq2seq and tagging datasets; special tokens first,
            `<pad>` at id 0), else `None`.
        label_names: class names for classification (label `i` is
            `label_names[i]`), else `None`.
        metadata: other facts about the data (sizes, seed, source path).
    """

    name: str
    task: str
    splits: dict
    vocabulary: list = None
    label_names: list = None
    metadata: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.task not in TASK_KEYS:
            raise DataError(
                f"Dataset {self.name!r}: unknown task {self.task!r}; "
                f"tasks are {sorted(TASK_KEYS)}."
            )

    @property
    def families(self):
        """The model families this dataset can train."""
        return families_for_task(self.task)

    def split(self, name):
        """Returns one split, or raises `DataError` naming the splits there are."""
        if name not in self.splits:
            raise DataError(
                f"Dataset {self.name!r} has no split {name!r}; "
                f"its splits are {sorted(self.splits)}."
            )
        return self.splits[name]
