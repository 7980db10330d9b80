"""What each (family, task) trains with: loss, metrics, and model overrides."""

import keras
import tensorflow as tf

import zoo
from keras_seq.training.sequence_exact_match import SequenceExactMatch

# Tasks whose targets are token ids, one per position, with sample weights.
TOKEN_TASKS = ("language_model", "tagging", "seq2seq")


# Batch formats whose targets are whole decoder sequences.
SEQUENCE_FORMATS = ("seq2seq", "span_corruption")
# Batch formats of next-token prediction (perplexity is reported).
NEXT_TOKEN_FORMATS = ("causal_lm", "tagging")


def batch_format(family, task):
    """The batch format `family` (a name or `zoo.family.Family`) takes for
    `task`, as the family declares it."""
    if isinstance(family, str):
        family = zoo.family(family)
    return family.batch_format(task)


def compile_model(model, family, task, optimizer, jit_compile=True, pad_id=0):
    """Compiles `model` for `task` with the loss and metrics reported for it.

    `pad_id` is the id padded targets hold (the tokenizer's), which
    `exact_match` skips.

    Token tasks use sample weights from the pipeline (0 at padding), so the
    loss and `accuracy` count real tokens only; whole-sequence targets
    (`SEQUENCE_FORMATS`) add teacher-forced `exact_match` over them.
    """
    if task == "regression":
        model.compile(
            optimizer=optimizer, loss="mse", metrics=["mae"], jit_compile=jit_compile
        )
        return
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    metrics = []
    if batch_format(family, task) in SEQUENCE_FORMATS:
        metrics.append(SequenceExactMatch(pad_id=pad_id))
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=metrics or None,
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )


def data_overrides(config, dataset, tokenizer):
    """Hyperparameters the data decides: vocabulary size, classes, specials.

    Only keys the family's preset has are returned, and an explicit user
    override always wins (the caller applies this first).
    """
    overrides = {}
    if tokenizer is not None and "vocabulary_size" in config:
        overrides["vocabulary_size"] = int(tokenizer.vocabulary_size)
    elif dataset.vocabulary is not None and "vocabulary_size" in config:
        overrides["vocabulary_size"] = len(dataset.vocabulary)
    if dataset.label_names is not None and "num_classes" in config:
        overrides["num_classes"] = len(dataset.label_names)
    if dataset.task == "regression" and "num_classes" in config:
        overrides["num_classes"] = 1
        spec = dataset.split("train").element_spec["features"]
        overrides["input_features"] = int(spec.shape[-1])
    specials = getattr(tokenizer, "special_ids", None) or {}
    for key, special in (("start_token_id", "bos"), ("end_token_id", "eos")):
        if key in config and specials.get(special) is not None:
            overrides[key] = int(specials[special])
    return overrides


def max_sequence_length(family, hparams):
    """The most positions a model of `family` with `hparams` takes, or `None`.

    Learned or tabled positions (`max_sequence_length`: BERT, GPT, the
    Transformer) bound the sequence length; recurrent models and T5's
    relative positions do not.
    """
    del family  # every family that has a position table names it the same
    limit = hparams.get("max_sequence_length")
    return int(limit) if limit else None


def model_inputs(model):
    """Names of the model's dict inputs (the pipeline may yield more keys)."""
    structure = model.input
    if isinstance(structure, dict):
        return tuple(structure)
    return None


def select_inputs(batches, names):
    """Keeps only the input keys the model takes."""
    if names is None:
        return batches

    def select(x, *rest):
        return ({k: x[k] for k in names}, *rest)

    return batches.map(select)


def pad_to_multiple(batches, multiple, limit=None, pad_id=0):
    """Pads the time axis of every batched tensor up to a multiple of `multiple`.

    Batches padded to their longest example take many shapes, and XLA compiles
    the train step once per shape; rounding lengths up keeps that to a few
    compilations. Token ids (`x`'s `*token_ids` entries) are padded with
    `pad_id` (the tokenizer's), everything else with 0: weight 0 for sample
    weights, False for padding masks. `limit` (the model's positions) caps the
    rounded length.
    """

    def pad(t, value=0):
        if t.shape.rank is None or t.shape.rank < 2:
            return t
        length = tf.shape(t)[1]
        target = (length + multiple - 1) // multiple * multiple
        if limit:
            target = tf.maximum(tf.minimum(target, limit), length)
        paddings = [[0, 0], [0, target - length]] + [[0, 0]] * (t.shape.rank - 2)
        return tf.pad(t, paddings, constant_values=tf.cast(value, t.dtype))

    def pad_batch(x, *rest):
        if isinstance(x, dict):
            x = {
                k: pad(v, pad_id if k.endswith("token_ids") else 0)
                for k, v in x.items()
            }
        else:
            x = pad(x)
        return (x, *tf.nest.map_structure(pad, rest))

    return batches.map(pad_batch)
