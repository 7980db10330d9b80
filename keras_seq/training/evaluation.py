"""The metrics the evaluate tool reports for each task.

- every task: `loss` and, for token and class targets, `accuracy` (masked
  token accuracy for token tasks);
- language models: `perplexity = exp(loss)` and the bits per unit,
  `loss / ln 2`: `bits_per_character` with a character tokenizer,
  `bits_per_byte` with the byte tokenizer, else `bits_per_token`; the key
  `unit` says which (`"character"`, `"byte"`, `"token"`);
- seq2seq: `exact_match`, the fraction of test examples whose greedy decoding
  (no teacher forcing) equals the target, and `teacher_forced_exact_match`;
  `bleu` (keras-hub's corpus BLEU) for text-to-text data;
- regression: `mse` and `mae`.
"""

import math
import warnings

import keras_hub
import numpy as np

from keras_seq import data as seq_data
from keras_seq.training import run_dir, tasks


def evaluate(
    model,
    family,
    dataset,
    tokenizer,
    split="test",
    batch_size=64,
    max_batches=None,
    sequence_length=None,
    jit_compile=None,
):
    """Returns a dict of metrics of `model` on `split` of `dataset`.

    `jit_compile` is passed to the greedy decoding of seq2seq models
    (`model.generate`; `None`: the model's default, XLA).
    """
    batches = eval_batches(
        model,
        family,
        dataset,
        tokenizer,
        split,
        batch_size,
        max_batches=max_batches,
        sequence_length=sequence_length,
    )
    return evaluate_batches(
        model,
        family,
        dataset.task,
        batches,
        tokenizer,
        jit_compile=jit_compile,
        source=(
            f"the {split} split of {dataset.name!r} (batch_size={batch_size}, "
            f"sequence_length={sequence_length})"
        ),
    )


def eval_batches(
    model,
    family,
    dataset,
    tokenizer,
    split,
    batch_size,
    max_batches=None,
    sequence_length=None,
):
    """The unshuffled batches of `split` that `evaluate_batches` reads (the
    first `max_batches`, cached)."""
    batches = seq_data.make_batches(
        family,
        dataset,
        split,
        tokenizer=tokenizer,
        batch_size=batch_size,
        sequence_length=sequence_length,
        shuffle=False,
    )
    batches = tasks.select_inputs(batches, tasks.model_inputs(model))
    if max_batches:
        batches = batches.take(max_batches).cache()
    return batches


def evaluate_batches(
    model,
    family,
    task,
    batches,
    tokenizer,
    decode=True,
    jit_compile=None,
    source="the batches",
):
    """The metrics of `model` (compiled for `task`) on `batches`.

    `source` names the batches in the error raised when they are empty;
    `jit_compile` is passed to greedy decoding.

    `decode=False` skips greedy decoding for seq2seq: `exact_match` is then
    the teacher-forced one, which is the same number (targets end with
    `</s>`: a model whose argmax is right at every target position decodes
    the target greedily, and one that is wrong somewhere decodes the same
    prefix up to its first wrong token), at the cost of one forward pass.
    """
    with warnings.catch_warnings():
        # A dataset of unknown length ends with this (harmless) Keras warning.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        results = model.evaluate(batches, verbose=0, return_dict=True)
    if "loss" not in results:
        raise ValueError(f"{source} gives no batch to evaluate.")
    metrics = {k: float(v) for k, v in results.items()}
    if task == "regression":
        metrics["mse"] = metrics["loss"]
        return metrics
    if tasks.batch_format(family, task) in tasks.NEXT_TOKEN_FORMATS:
        metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))
        unit = bits_unit(tokenizer)
        metrics[f"bits_per_{unit}"] = metrics["loss"] / math.log(2.0)
        metrics["unit"] = unit
    if task == "seq2seq" and hasattr(model, "generate") and decode:
        if "exact_match" in metrics:
            metrics["teacher_forced_exact_match"] = metrics.pop("exact_match")
        metrics.update(_decoded_metrics(model, batches, tokenizer, jit_compile))
    return metrics


def kneser_ney_baseline(dataset, split="validation", order=3):
    """Bits per character of an interpolated Kneser-Ney character `order`-gram
    (`KneserNeyLM`) fit on the train split of a text dataset, on `split`.

    Raises:
        ValueError: the dataset holds no text (only `text:` files and text
            language-model datasets do).
    """
    from keras_seq.training.kneser_ney_lm import KneserNeyLM

    def text(name):
        ds = dataset.split(name)
        if "text" not in ds.element_spec:
            raise ValueError(
                f"{dataset.name}: the n-gram baseline needs text examples, "
                f"its examples hold {sorted(ds.element_spec)}"
            )
        return "".join(
            t.decode("utf-8") for t in ds.map(lambda ex: ex["text"]).as_numpy_iterator()
        )

    model = KneserNeyLM(order).fit(text("train"))
    return model.bits_per_character(text(split))


def bits_unit(tokenizer):
    """What one token of `tokenizer` is: `"character"`, `"byte"` or `"token"`."""
    kind = getattr(tokenizer, "kind", None)
    return {"char": "character", "byte": "byte"}.get(kind, "token")


def _decoded_metrics(model, batches, tokenizer, jit_compile=None):
    """Greedy-decodes every batch; exact match (and BLEU) against targets."""
    eos = tokenizer.special_ids["eos"]
    limit = getattr(model, "max_sequence_length", None)
    matches = []
    references, hypotheses = [], []
    for x, y, *_ in batches:
        targets = np.asarray(y)
        inputs = {k: np.asarray(v) for k, v in x.items() if k.startswith("encoder")}
        length = targets.shape[1] + 1
        if limit:
            length = min(length, int(limit))
        decoded = model.generate(inputs, max_length=length, stop_token_ids=[eos])[:, 1:]
        for target, hypothesis in zip(targets, decoded):
            matches.append(np.array_equal(_until(target, eos), _until(hypothesis, eos)))
        references += [_text(t) for t in tokenizer.detokenize(targets).numpy()]
        hypotheses += [_text(t) for t in tokenizer.detokenize(decoded).numpy()]
    metrics = {"exact_match": float(np.mean(matches)) if matches else 0.0}
    if references:
        bleu = keras_hub.metrics.Bleu()
        bleu.update_state(
            [[_text(r)] for r in references], [_text(h) for h in hypotheses]
        )
        metrics["bleu"] = float(bleu.result())
    return metrics


def _until(ids, eos):
    """Ids up to the first eos (kept) with padding dropped."""
    ids = np.asarray(ids)
    stop = np.nonzero(ids == eos)[0]
    if stop.size:
        ids = ids[: stop[0] + 1]
    return ids[ids != 0]


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def evaluate_model_dir(
    model_dir,
    dataset=None,
    split=None,
    data_dir=None,
    batch_size=None,
    kneser_ney_order=0,
):
    """Evaluates the model a train run left in `model_dir`.

    Args:
        model_dir: a directory written by the train tool.
        dataset: a dataset spec; default: the one it trained on.
        split: default `"test"`, or `"validation"` where there is no test split.
        data_dir: where TFDS datasets live; default: the run's.
        batch_size: default: the run's.
        kneser_ney_order: if > 0, also report `kneser_ney_bits_per_character`
            (`kneser_ney_baseline` of that order, on the same split).

    Returns:
        `(metrics, split)`.

    Raises:
        ValueError: `model_dir` is not a finished run, or the dataset does
            not fit the model (the message says which).
    """
    config, model, tokenizer = run_dir.load(model_dir)
    family = config["model"]
    spec = dataset or config["dataset"]
    options = {}
    if spec == config["dataset"] and config.get("validation_fraction") is not None:
        # The run's own split of a local file.
        options["validation_fraction"] = config["validation_fraction"]
    loaded = seq_data.load_dataset(spec, data_dir or config.get("data_dir"), **options)
    seq_data.check_fit(family, loaded)
    if split is None:
        split = "test" if "test" in loaded.splits else "validation"
    tasks.compile_model(model, family, loaded.task, "adam", jit_compile=False)
    metrics = evaluate(
        model,
        family,
        loaded,
        tokenizer,
        split,
        batch_size or config["batch_size"],
        sequence_length=config.get("sequence_length"),
    )
    metrics.update(dataset=spec, split=split)
    if kneser_ney_order:
        metrics["kneser_ney_order"] = kneser_ney_order
        metrics["kneser_ney_bits_per_character"] = kneser_ney_baseline(
            loaded, split, kneser_ney_order
        )
    return metrics, split
