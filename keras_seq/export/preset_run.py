"""A pretrained checkpoint as a `Run`: export it without training it first.

`load_preset(source)` reads a checkpoint (a keras-hub preset or Hugging Face
directory, a keras-hub preset name, a `kaggle://` / `hf://` handle; see
`zoo.pretrained`) into the `Run` that `export_saved_model` and
`export_tflite` take: the zoo model (`zoo.from_preset`), the checkpoint's
tokenizer (`keras_seq.data.KerasHubTokenizer`, with the model's start and end
ids where it has them) and, in place of a training dataset, a small built-in
set of probe texts that the verification (and `int8` calibration) reads.

Kinds, as for a trained run: a GPT-2 checkpoint is a `language_model`
(`serve_text` continues prompts), a T5 checkpoint `seq2seq`, a BERT
checkpoint `ids` (its masked-LM head; a classifier comes from fine-tuning,
`keras-seq-train --init_from=SOURCE`).

Example:

```python
from keras_seq.export import export_saved_model, export_tflite
from keras_seq.export.preset_run import load_preset

run = load_preset("path/to/gpt2_dir")
export_saved_model(run, "exports/gpt2")       # exports/gpt2/1/
export_tflite(run, "exports/gpt2", max_length=64)
```
"""

import dataclasses

import tensorflow as tf

import zoo
from keras_seq import data as seq_data
from keras_seq.export.model_dir import ExportError, Run, _kind

# Probe texts: what the verification feeds an exported checkpoint.
PROBE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Recurrent networks read a sequence one step at a time.",
    "Attention lets every position look at every other position.",
    "A transformer stacks attention and feed-forward layers.",
    "Pretrained models are fine-tuned on a small labeled dataset.",
    "The cafe on the corner sells 12 kinds of tea for 3 dollars.",
    "Language models predict the next token from the previous ones.",
    "Sequence to sequence models map a source text to a target text.",
)
# Lines of probe text: causal LM blocks of `length + 1` tokens need many.
PROBE_REPEATS = 24
# The task whose probe data a family's text interface reads.
INTERFACE_TASKS = {
    "language_model": "language_model",
    "seq2seq": "seq2seq",
    "classifier": "classification",
}


def probe_dataset(task):
    """A `SeqDataset` of probe texts for `task` (train and test splits)."""
    lines = [s for _ in range(PROBE_REPEATS) for s in PROBE_SENTENCES]
    if task == "seq2seq":
        split = tf.data.Dataset.from_tensor_slices({"source": lines, "target": lines})
    elif task == "classification":
        split = tf.data.Dataset.from_tensor_slices(
            {"text": lines, "label": [0] * len(lines)}
        )
    else:
        split = tf.data.Dataset.from_tensor_slices({"text": lines})
    return seq_data.SeqDataset(
        name="probe", task=task, splits={"train": split, "test": split}
    )


def load_preset(source):
    """The `Run` of checkpoint `source` (see the module docstring).

    Raises:
        ExportError: the checkpoint cannot be read (the message names the
            file or tensor at fault).
    """
    try:
        family, hparams = zoo.preset_hyperparameters(source)
        model = zoo.from_preset(source)
        specials = {
            ours: hparams[key]
            for key, ours in (("start_token_id", "bos"), ("end_token_id", "eos"))
            if hparams.get(key) is not None
        }
        tokenizer = seq_data.KerasHubTokenizer(
            zoo.tokenizer_from_preset(source), **specials
        )
    except (ValueError, seq_data.DataError) as e:
        raise ExportError(f"--preset={source}: {e}") from e
    config = {
        "model": family,
        "dataset": None,
        "init_from": str(source),
        "sequence_length": None,
        "model_hyperparameters": hparams,
    }
    run = Run(str(source), config, family, model, tokenizer)
    run.kind = _kind(run)
    interface = run.facts.text_interface
    task = INTERFACE_TASKS[interface] if run.kind != "ids" else "language_model"
    if task not in run.facts.tasks:
        task = next(iter(run.facts.tasks))
    run = dataclasses.replace(run, _dataset=probe_dataset(task))
    if run.kind == "classifier":
        count = int(model.outputs[0].shape[-1])
        run.label_names = [str(i) for i in range(count)]
    return run
