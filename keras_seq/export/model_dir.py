"""Reads a trained model directory (what `keras-seq-train` writes) for export.

A model directory (layout: `keras_seq.training.run_dir`) holds `config.json`
(the run: `model`, `dataset`, `sequence_length`, `model_hyperparameters`,
...), `model.keras` and, for text data, `tokenizer/`. `load_run(model_dir)`
reads it through `run_dir.load` and gives a `Run` with the model, the
tokenizer and what the export needs to know about them: the kind of text
interface the model has (`Run.kind`) and its lengths.

Kinds: the family's `text_interface` (see `zoo.family`) where the run has a
tokenizer and the model takes the inputs of that interface, else `"ids"`:

- `"language_model"` (char_rnn and gpt on text): prompt in, continuation out.
- `"seq2seq"` (seq2seq_attention, transformer and t5 with a tokenizer): source
  text in, target text out.
- `"classifier"` (rnn_classifier and bert on labeled text): text in, label and
  scores out.
- `"ids"`: everything else (no tokenizer, BERT masked LM, regression): token
  ids or features in, model outputs out; no text signature.
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

import zoo
from keras_seq import data as seq_data
from keras_seq.training import run_dir

KINDS = ("language_model", "seq2seq", "classifier", "ids")
# The model inputs (sorted) a text interface feeds, by the family's batch
# format for the text task.
INTERFACE_INPUTS = {
    "language_model": [["token_ids"]],
    "seq2seq": [["decoder_token_ids", "encoder_token_ids"]],
    "classifier": [["token_ids"], ["segment_ids", "token_ids"]],
}
# The generation buffer when neither the run nor the flags give a length.
FALLBACK_LENGTH = 64


class ExportError(ValueError):
    """A bad export request; the message names the flag or file at fault."""


@dataclasses.dataclass
class Run:
    """A trained model and what export needs to know about it.

    Attributes:
        model_dir: the directory it was read from.
        config: the parsed `config.json`.
        family: the zoo family (`config["model"]`).
        model: the Keras model (a stateless copy of a stateful char_rnn).
        tokenizer: the `keras_seq.data` tokenizer, or `None`.
        kind: one of `KINDS` (see the module docstring).
        label_names: class names of a classifier (label `i` is
            `label_names[i]`), else `None`.
    """

    model_dir: str
    config: dict
    family: str
    model: keras.Model
    tokenizer: object = None
    kind: str = "ids"
    label_names: list = None
    _dataset: object = None

    @property
    def facts(self):
        """The zoo family's facts (`zoo.family.Family`)."""
        return zoo.family(self.family)

    @property
    def generative(self):
        """Whether the model generates text (`serve_text` runs a decode loop)."""
        return self.kind in ("language_model", "seq2seq")

    @property
    def input_names(self):
        """The model's input names, in a fixed (sorted) order."""
        return sorted(self.model.input)

    @property
    def max_sequence_length(self):
        """The longest sequence the model takes (learned positions), or None."""
        return getattr(self.model, "max_sequence_length", None)

    def default_length(self):
        """The run's sequence length, capped by the model's positions."""
        length = self.config.get("sequence_length")
        length = length or self.facts.default_sequence_length or FALLBACK_LENGTH
        if self.max_sequence_length:
            length = min(length, self.max_sequence_length)
        return int(length)

    def source_length(self):
        """The most source tokens a seq2seq model read in training (`None`:
        all), before the `</s>` the pipeline appends."""
        length = self.config.get("sequence_length")
        length = length or self.facts.default_sequence_length
        if self.max_sequence_length:
            length = min(
                length or self.max_sequence_length, self.max_sequence_length - 1
            )
        return length

    def check_length(self, flag, length):
        """Raises `ExportError` unless `length` fits the model."""
        if length is None:
            return self.default_length()
        minimum = 2 if self.kind != "classifier" else 1
        if not isinstance(length, int) or length < minimum:
            raise ExportError(f"--{flag}={length!r}: must be an int >= {minimum}.")
        if self.max_sequence_length and length > self.max_sequence_length:
            raise ExportError(
                f"--{flag}={length}: the {self.family} model has "
                f"max_sequence_length={self.max_sequence_length}."
            )
        return length

    @property
    def dataset(self):
        """The training dataset (loaded on first use), for held-out inputs."""
        if self._dataset is None:
            spec = self.config.get("dataset")
            try:
                self._dataset = seq_data.load_dataset(spec, self.config.get("data_dir"))
            except (seq_data.DataError, OSError) as e:
                raise ExportError(
                    f"{self.model_dir}: cannot load the run's dataset {spec!r} "
                    f"(needed for held-out inputs): {e}"
                ) from e
        return self._dataset

    def held_out_split(self):
        splits = self.dataset.splits
        for name in ("test", "validation", "train"):
            if name in splits:
                return name
        raise ExportError(f"dataset {self.dataset.name!r} has no splits.")

    def held_out_batch(self, batch_size, length, split=None, with_weights=False):
        """`(x, y)`: one batch of model inputs (numpy) and targets.

        Token sequences are cut or padded to `length` (the fixed TFLite shape).
        `with_weights=True` gives `(x, y, weights)`: the batch's sample
        weights, made from the examples' lengths (0 at padding; `None` where
        the batches have none), cut or zero-padded like `y`.
        """
        split = split or self.held_out_split()
        batches = seq_data.make_batches(
            self.family,
            self.dataset,
            split,
            tokenizer=self.tokenizer,
            batch_size=batch_size,
            sequence_length=length,
            shuffle=False,
            cache=False,
        )
        x, y, *rest = next(iter(batches))
        x = {k: _fit(np.asarray(x[k]), length) for k in self.input_names}
        y = np.asarray(y)
        weights = np.asarray(rest[0]) if rest else None
        if y.ndim == 2:
            if weights is not None and weights.shape == y.shape:
                weights = _fit(weights, length)  # zero-padded: padding
            y = _fit(y, length)
        if with_weights:
            return x, y, weights
        return x, y

    def held_out_texts(self, count, split=None):
        """Up to `count` raw texts of the held-out split (prompts, sources)."""
        if self.kind == "ids":
            return []
        key = "source" if self.dataset.task == "seq2seq" else "text"
        split = split or self.held_out_split()
        texts = []
        for example in self.dataset.split(split).take(count):
            text = example[key].numpy().decode("utf-8")
            if self.kind == "language_model":
                text = text[: max(1, min(len(text) // 2, 16))]  # a prompt
            texts.append(text)
        return texts


def _fit(array, length):
    """Cuts or zero-pads axis 1 of `array` to `length`."""
    if array.shape[1] >= length:
        return array[:, :length]
    pad = [(0, 0), (0, length - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad)


def load_run(model_dir):
    """Reads `model_dir` (`keras_seq.training.run_dir.load`); raises
    `ExportError` naming what is missing or unreadable."""
    model_dir = os.fspath(model_dir)
    try:
        config = run_dir.read_config(model_dir)
        family = config["model"]
        if family not in zoo.list_models():
            raise ExportError(
                f"--model_dir={model_dir}: unknown model {family!r}; known "
                f"models: {zoo.list_models()}."
            )
        model = run_dir.load_model(model_dir)
        tokenizer = run_dir.load_tokenizer(model_dir)
    except run_dir.RunDirError as e:
        raise ExportError(str(e)) from e
    run = Run(model_dir, config, family, model, tokenizer)
    run.kind = _kind(run)
    if run.kind == "classifier":
        run.label_names = _label_names(run)
    return run


def _kind(run):
    if run.tokenizer is None:
        return "ids"
    interface = run.facts.text_interface
    if interface and run.input_names in INTERFACE_INPUTS[interface]:
        return interface
    return "ids"


def _label_names(run):
    """The dataset's label names, or "0", "1", ... if it has none."""
    num_classes = int(run.model.outputs[0].shape[-1])
    names = run.dataset.label_names
    if not names:
        names = [str(i) for i in range(num_classes)]
    names = [str(n) for n in names]
    if len(names) != num_classes:
        raise ExportError(
            f"--model_dir={run.model_dir}: the model has {num_classes} classes, "
            f"the dataset {len(names)} label names."
        )
    return names


def input_specs(run, batch_size=None, length=None):
    """`{name: tf.TensorSpec}` of the model inputs; `None` axes become
    `batch_size` (axis 0) and `length` (other axes) where given."""
    specs = {}
    for name in run.input_names:
        tensor = run.model.input[name]
        shape = list(tensor.shape)
        if shape[0] is None:
            shape[0] = batch_size
        shape[1:] = [length if d is None else d for d in shape[1:]]
        specs[name] = tf.TensorSpec(shape, tensor.dtype, name=name)
    return specs
