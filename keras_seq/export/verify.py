"""Checks an export against the Keras model before it is reported done.

- SavedModel (`verify_saved_model`): loaded in a fresh process that imports
  TensorFlow only (`keras_seq.testing.saved_model_check`), as TF Serving
  would. `serving_default` on held-out token ids must match the Keras model
  within `FLOAT_ATOL`; `serve_text` on held-out texts must give the same texts
  and token ids as the Keras model's `generate()` (greedy), or the same labels
  and scores; `generate` the same tokens for the same seed.
- TFLite (`verify_tflite`): run in `ai_edge_litert`'s interpreter. A float
  model's logits on held-out inputs must match within `FLOAT_ATOL`, and a
  greedy decoding through its `decode_step` signature must give the Keras
  model's tokens. A quantized model must keep the task metric (next-token
  accuracy on held-out targets for language and seq2seq models, accuracy for
  classifiers, on at least `QUANTIZED_EXAMPLES` held-out examples) within
  `QUANTIZED_MARGIN[quantize]` of the Keras model's, and run a decoding to the
  end (its agreement with the Keras tokens is reported).

Both report the artifact's size and the latency of one example (median of a
few runs, after a warm-up run).
"""

import os
import time

import numpy as np

from keras_seq.export.model_dir import ExportError
from keras_seq.testing.saved_model_check import run_signatures_in_clean_process

FLOAT_ATOL = 1e-4
# The most a quantized model's task metric may fall below the Keras model's.
QUANTIZED_MARGIN = {"float16": 0.02, "dynamic": 0.05, "int8": 0.10}
# Held-out examples the quantized models' task metric is measured on (at least).
QUANTIZED_EXAMPLES = 16
LATENCY_REPEATS = 5


class VerificationError(ExportError):
    """The export does not match the Keras model; the message says where."""


def directory_size(path):
    """Total bytes of the files under `path`."""
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def _check_close(what, expected, actual, atol=FLOAT_ATOL):
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        raise VerificationError(
            f"{what}: shape {actual.shape}, the Keras model gives {expected.shape}."
        )
    diff = (
        float(np.max(np.abs(expected.astype("float64") - actual)))
        if expected.size
        else 0.0
    )
    if not diff <= atol:
        raise VerificationError(
            f"{what}: max |difference| {diff:.3g} from the Keras model exceeds "
            f"{atol:g}."
        )
    return diff


def _check_equal(what, expected, actual):
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape or not np.array_equal(expected, actual):
        rows = (
            np.nonzero((expected != actual).reshape(len(expected), -1).any(axis=1))[
                0
            ].tolist()
            if expected.shape == actual.shape
            else "all"
        )
        raise VerificationError(
            f"{what} differs from the Keras model's (rows {rows}):\n"
            f"  export: {actual[:3].tolist()}\n  keras:  {expected[:3].tolist()}"
        )


def _texts(array):
    # A byte-level vocabulary (GPT-2) can generate bytes that are not UTF-8.
    return np.asarray(
        [t.decode("utf-8", "replace") if isinstance(t, bytes) else t for t in array]
    )


# === SavedModel ===


def verify_saved_model(run, export_dir, text_model=None, num_examples=4):
    """Verifies a SavedModel directory in a process without keras_seq.

    Returns:
        The report: the largest `serving_default` difference, examples of
        `serve_text`, and `latency_ms` (one example through `serve_text`, or
        `serving_default` for a model without text signatures).

    Raises:
        VerificationError: an output differs from the Keras model's.
    """
    text_ops = run.tokenizer is not None and run.tokenizer.kind in (
        "word_piece",
        "sentence_piece",
        "keras_hub",
    )
    length = text_model.max_length if text_model else run.default_length()
    x, _ = run.held_out_batch(num_examples, length)
    calls = [("serving_default", x)]
    expected = [np.asarray(run.model(x, training=False))]
    texts = []
    sampled = text_model is not None and run.generative
    sampled = sampled and text_model.sampler != "greedy"
    seed = 1234
    if text_model is None:
        calls.append(
            ("serving_default", {k: v[:1] for k, v in x.items()}, LATENCY_REPEATS)
        )
    else:
        texts = run.held_out_texts(num_examples)
        calls.append(("serve_text", {"text": np.asarray(texts)}))
        expected.append(text_model.keras_outputs(texts))
        if sampled:
            calls.append(
                ("generate", {"text": np.asarray(texts), "seed": np.int32(seed)})
            )
            expected.append(text_model.keras_outputs(texts, text_model.sampler, seed))
        calls.append(("serve_text", {"text": np.asarray(texts[:1])}, LATENCY_REPEATS))
    results = run_signatures_in_clean_process(export_dir, calls, text_ops=text_ops)

    (got,) = results[0][0].values()
    report = {
        "serving_default_max_diff": _check_close(
            "serving_default on held-out token ids", expected[0], got
        )
    }
    if text_model is not None:
        got = results[1][0]
        _compare_text_outputs("serve_text", run, expected[1], got)
        report["serve_text_examples"] = [
            {"input": t, "output": _output_text(run, got, i)}
            for i, t in enumerate(texts)
        ]
        if sampled:
            what = f"generate ({text_model.sampler}, seed {seed})"
            _compare_text_outputs(what, run, expected[2], results[2][0])
    report["latency_ms"] = results[-1][1]
    return report


def _output_text(run, outputs, i):
    key = "label" if run.kind == "classifier" else "text"
    return str(_texts(outputs[key])[i])


def _compare_text_outputs(what, run, expected, got):
    if run.kind == "classifier":
        _check_equal(f"{what} label_id", expected["label_id"], got["label_id"])
        _check_equal(f"{what} label", _texts(expected["label"]), _texts(got["label"]))
        _check_close(f"{what} scores", expected["scores"], got["scores"])
        return
    _check_equal(f"{what} token_ids", expected["token_ids"], got["token_ids"])
    _check_equal(f"{what} text", _texts(expected["text"]), _texts(got["text"]))


# === TFLite ===


def tflite_task_metric(run, logits, y, weights=None):
    """Accuracy of `logits` against held-out targets `y`.

    `weights` (the batches' sample weights, made from the examples' lengths:
    0 at padding) select the positions that count; no target id is taken for
    padding (GPT-2's id 0 is the real token "!"). Without weights every
    position counts.
    """
    logits = np.asarray(logits)
    predictions = logits.argmax(axis=-1)
    correct = predictions == y
    if weights is None:
        return float(correct.mean())
    keep = np.broadcast_to(np.asarray(weights) > 0, correct.shape)
    return float(correct[keep].mean()) if keep.any() else 1.0


def time_call(fn, repeats=LATENCY_REPEATS):
    """Median seconds of `fn()` over `repeats` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def tflite_operators(flatbuffer):
    """Names of the operators a `.tflite` flatbuffer uses, in all subgraphs.

    Builtin operators by their `BuiltinOperator` name; custom ones (Flex ops
    included) as `CUSTOM:<code>`.
    """
    from ai_edge_litert import schema_py_generated as schema

    names = {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if not name.startswith("_")
    }
    model = schema.Model.GetRootAs(flatbuffer, 0)
    used = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            used.add(f"CUSTOM:{code.CustomCode().decode()}")
        else:
            used.add(names.get(builtin, str(builtin)))
    return sorted(used)


def tflite_greedy(
    interpreter, init_inputs, buffer, start, stop_token_ids, prompt_mask=None, pad_id=0
):
    """Greedy decoding through a TFLite model's `init_cache`/`decode_step`.

    The loop an app runs (see `keras_seq.export.tflite`); it gives the tokens
    `model.generate(..., sampler="greedy")` gives: id 0 is never chosen,
    prompt positions are kept, and positions after a row's first generated
    stop id are 0.

    Args:
        interpreter: an `ai_edge_litert` interpreter of the model.
        init_inputs: the `init_cache` inputs (numpy).
        buffer: `(B, L)` int32, the prompt (or start id), then padding.
        start: the first position to generate (the shortest prompt's length).
        stop_token_ids: ids that end a row.
        prompt_mask: `(B, L)` bool, True at the prompt's positions (default:
            ids other than 0).
        pad_id: the model's pad id, never generated (`None`: every id may
            be generated, a GPT-2 checkpoint).

    Returns:
        `(B, L)` int32 tokens.
    """
    step = interpreter.get_signature_runner("decode_step")
    step_inputs = set(interpreter.get_signature_list()["decode_step"]["inputs"])
    cache = interpreter.get_signature_runner("init_cache")(**init_inputs)
    tokens = np.array(buffer, dtype="int32")
    prompt = tokens != 0 if prompt_mask is None else np.asarray(prompt_mask, bool)
    for t in range(tokens.shape[1] - 1):
        args = {"token_ids": tokens[:, t : t + 1], **cache}
        if "index" in step_inputs:
            args["index"] = np.int32(t)
        outputs = step(**args)
        cache = {k: v for k, v in outputs.items() if k.startswith("cache_")}
        if t + 1 < start:
            continue
        logits = outputs["logits"].astype("float32")
        if pad_id is not None:
            logits[:, pad_id] = -np.inf  # the pad id is never generated
        chosen = logits.argmax(axis=-1)
        tokens[:, t + 1] = np.where(prompt[:, t + 1], tokens[:, t + 1], chosen)
    if stop_token_ids:
        is_stop = np.isin(tokens, stop_token_ids) & ~prompt
        after = (np.cumsum(is_stop, axis=1) - is_stop) > 0
        tokens[after] = 0
    return tokens


def verify_tflite(spec, path, quantize, num_examples=4):
    """Verifies a `.tflite` file of `spec` (a `tflite.TFLiteSpec`).

    Returns:
        The report: operators, the largest logits difference, the arg-max
        agreement, the task metric of both models, generation agreement and
        `latency_ms` (one `logits` call, batch `B`).

    Raises:
        VerificationError: a non-builtin operator, a float model whose
            outputs or greedy tokens differ from the Keras model's, or a
            quantized model whose task metric falls more than
            `QUANTIZED_MARGIN[quantize]` below the Keras model's.
    """
    from ai_edge_litert.interpreter import Interpreter

    run = spec.run
    with open(path, "rb") as f:
        flatbuffer = f.read()
    operators = tflite_operators(flatbuffer)
    custom = [op for op in operators if op.startswith("CUSTOM")]
    if custom:
        raise VerificationError(f"{path}: non-builtin operators {custom}.")
    interpreter = Interpreter(model_content=flatbuffer)
    report = {"operators": operators}

    batch = spec.batch_size
    if quantize != "none":  # a metric needs more examples than a comparison
        num_examples = max(num_examples, QUANTIZED_EXAMPLES)
    x, targets, weights, batches, keras_logits = spec.memo(
        ("held_out", num_examples), lambda: _held_out_logits(spec, num_examples)
    )
    runner = interpreter.get_signature_runner("logits")
    lite_logits = np.concatenate([runner(**inputs)["logits"] for inputs in batches])
    diff = float(np.max(np.abs(keras_logits - lite_logits.astype("float64"))))
    report["logits_max_diff"] = diff
    report["argmax_agreement"] = float(
        np.mean(keras_logits.argmax(-1) == lite_logits.argmax(-1))
    )
    metric = {"keras": tflite_task_metric(run, keras_logits, targets, weights)}
    metric["tflite"] = tflite_task_metric(run, lite_logits, targets, weights)
    report["task_metric"] = metric
    if quantize == "none":
        _check_close("TFLite logits on held-out inputs", keras_logits, lite_logits)
    else:
        margin = QUANTIZED_MARGIN[quantize]
        report["task_metric"]["margin"] = margin
        if metric["tflite"] < metric["keras"] - margin:
            raise VerificationError(
                f"{quantize} TFLite model: accuracy {metric['tflite']:.4f} on "
                f"held-out data is more than {margin} below the Keras model's "
                f"{metric['keras']:.4f}."
            )
    if spec.generative:
        report.update(_verify_generation(spec, interpreter, quantize))
    one = {k: v[:batch] for k, v in x.items()}
    report["latency_ms"] = 1000 * time_call(lambda: runner(**one))
    return report


def _held_out_logits(spec, num_examples):
    """Held-out inputs in batches of `B`, their targets and Keras logits."""
    batch, length = spec.batch_size, spec.length
    num_batches = max(1, -(-num_examples // batch))
    x, y, w = spec.run.held_out_batch(batch * num_batches, length, with_weights=True)
    batches, keras_logits, targets = [], [], []
    for b in range(num_batches):
        rows = slice(b * batch, (b + 1) * batch)
        inputs = {k: v[rows] for k, v in x.items()}
        if len(next(iter(inputs.values()))) < batch:
            break
        batches.append(inputs)
        keras_logits.append(np.asarray(spec.model(inputs, training=False)))
        targets.append(y[rows])
    targets = np.concatenate(targets)
    weights = None if w is None else w[: len(targets)]
    return x, targets, weights, batches, np.concatenate(keras_logits)


def _verify_generation(spec, interpreter, quantize):
    init_inputs, buffer, start, stop, mask, keras_tokens = spec.memo(
        "generation", lambda: _keras_generation(spec)
    )
    pad_id = getattr(spec.model, "pad_token_id", 0)
    lite = tflite_greedy(interpreter, init_inputs, buffer, start, stop, mask, pad_id)
    agreement = float(np.mean(lite == keras_tokens))
    if quantize == "none":
        _check_equal("TFLite greedy decoding (decode_step)", keras_tokens, lite)
    return {"greedy_token_agreement": agreement}


def _keras_generation(spec):
    """Held-out prompts (or sources) and the Keras model's greedy tokens."""
    run, text_model = spec.run, spec.text_model
    batch, length = spec.batch_size, spec.length
    texts = run.held_out_texts(batch)
    texts = (texts * batch)[:batch]
    if run.kind == "language_model":
        buffer = np.asarray(text_model.prompt_buffer(np.asarray(texts)))
        mask = np.asarray(text_model.prompt_mask(np.asarray(texts)))
        init_inputs = {"token_ids": buffer}
        keras_inputs = {"token_ids": buffer}
        start = int(mask.sum(axis=1).min())
    else:
        source = np.asarray(text_model.source_ids(np.asarray(texts), length))
        buffer = np.asarray(text_model.decoder_buffer(batch))
        mask = np.asarray(text_model.decoder_mask(batch))
        init_inputs = {"encoder_token_ids": source}
        keras_inputs = {"encoder_token_ids": source, "decoder_token_ids": buffer}
        start = 1
    stop = list(text_model.stop_token_ids)
    keras_tokens = run.model.generate(
        keras_inputs, length, stop_token_ids=stop, jit_compile=False, prompt_mask=mask
    )
    return init_inputs, buffer, start, stop, mask, keras_tokens
