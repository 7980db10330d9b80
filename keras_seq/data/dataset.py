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

# The zoo's model families and the tasks each trains on.
FAMILY_TASKS = {
    "char_rnn": ("language_model", "tagging"),
    "rnn_classifier": ("classification", "regression"),
    "seq2seq_attention": ("seq2seq",),
    "transformer": ("seq2seq",),
    "t5": ("seq2seq", "language_model"),
    "bert": ("language_model", "classification"),
    "gpt": ("language_model", "tagging"),
}

FAMILIES = tuple(FAMILY_TASKS)

SPLITS = ("train", "validation", "test")


class DataError(ValueError):
    """Bad data or a bad dataset request; the message names what is at fault."""


def families_for_task(task):
    """Returns the model families that train on `task`, in zoo order."""
    return tuple(f for f, tasks in FAMILY_TASKS.items() if task in tasks)


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
