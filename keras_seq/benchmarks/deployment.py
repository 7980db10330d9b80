"""Deployment: TFLite (LiteRT) latency and size vs the Keras model's `predict`.

Each zoo model is exported for one example of a fixed length through a
SavedModel written by `keras.export.ExportArchive` (the path of Keras's own
LiteRT export, which freezes the variables), converted with the TFLite
builtin ops only, as float32 and with dynamic-range quantization (int8
weights, `tf.lite.Optimize.DEFAULT` without a representative dataset), and run
with the LiteRT interpreter (`ai_edge_litert`). The reference is
`model.predict` on the same example; `keras_call_ms` is the model called in a
compiled `tf.function` (no `predict` overhead) for comparison. Sizes are the
`.tflite` file and the `.keras` file.

`lstm_run` adds the LSTM rows: TFLite's fused LSTM kernel against the
unrolled loop the export used before (`keras_seq.export.fused_lstm`).
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

import zoo
from keras_seq.benchmarks import common, report, timing

# "dynamic_range": int8 weights, float activations.
QUANTIZATIONS = ("float", "dynamic_range")


def _interpreter_class():
    try:
        from ai_edge_litert import interpreter
    except ImportError:  # older installs: TensorFlow's own copy
        return tf.lite.Interpreter
    return interpreter.Interpreter


def convert(model, length, quantization):
    """The TFLite flatbuffer (bytes) of `model` on `(1, length)` token ids."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serve",
            lambda token_ids: model({"token_ids": token_ids}, training=False),
            input_signature=[tf.TensorSpec((1, length), tf.int32, name="token_ids")],
        )
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization == "dynamic_range":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def _keras_file_size(model):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        return os.path.getsize(path)


def _models(sizes):
    """name -> a built zoo model, for the names in `sizes["models"]` only (the
    published sizes list none: they have no `num_layers` or `d_model`)."""
    builders = {
        "gpt": lambda: common.zoo_model("gpt", sizes, sizes["length"]),
        "rnn_classifier": lambda: zoo.build(
            "rnn_classifier",
            "tiny",
            vocabulary_size=sizes["vocabulary_size"],
            embedding_dim=sizes["d_model"],
            hidden_dim=sizes["d_model"],
            num_layers=sizes["num_layers"],
        ),
    }
    return {name: builders[name]() for name in sizes["models"]}


def run(sizes, warmup, repeats, log=print):
    """Returns `(rows, failures)`; a failed conversion is a failure, not a row.

    Args:
        sizes: dict with `models` (`"gpt"`, `"rnn_classifier"`), `length`,
            `vocabulary_size`, `num_layers`, `d_model`, `num_heads`, `dff`.
        warmup: untimed calls before timing.
        repeats: timed calls (their median is reported).
        log: called with a line of progress.
    """
    rows, failures = [], []
    length = sizes["length"]
    rng = np.random.default_rng(0)
    token_ids = rng.integers(1, sizes["vocabulary_size"], (1, length)).astype("int32")
    inputs = {"token_ids": token_ids}
    models = _models(sizes)
    interpreter_class = _interpreter_class()
    for name in sizes["models"]:
        model = models[name]
        expected = np.asarray(model(inputs, training=False))
        compiled_call = tf.function(lambda m=model: m(inputs, training=False))
        keras_call = timing.measure(compiled_call, warmup, repeats)
        keras_bytes = _keras_file_size(model)
        for quantization in QUANTIZATIONS:
            try:
                flatbuffer = convert(model, length, quantization)
            except Exception as e:  # the converter raises many types
                message = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                failures.append(
                    {"section": "deployment", "name": name, "setting": quantization,
                     "error": message}
                )  # fmt: skip
                log(f"{name} litert-{quantization}: conversion failed: {message}")
                continue
            interpreter = interpreter_class(model_content=flatbuffer)
            interpreter.allocate_tensors()
            runner = interpreter.get_signature_runner()
            got = list(runner(token_ids=token_ids).values())[0]

            def predict(model=model):
                return model.predict(inputs, verbose=0)

            ours_t, ref_t = timing.compare(
                lambda runner=runner: runner(token_ids=token_ids),
                predict,
                warmup,
                repeats,
            )
            r = report.row(
                "deployment",
                f"{name} single example",
                f"litert-{quantization}",
                ours_t,
                ref_t,
                ours_impl=f"LiteRT interpreter, {quantization}",
                reference_impl="keras.Model.predict",
                tflite_bytes=len(flatbuffer),
                keras_bytes=keras_bytes,
                keras_call_ms=keras_call.median * 1e3,
                max_abs_diff=float(np.max(np.abs(got - expected))),
                shape={"batch": 1, "length": length},
            )
            log(f"{r['name']:<28s} {r['setting']:<20s} ratio {r['ratio']:.2f} "
                f"{len(flatbuffer) / 1e3:.0f} kB")  # fmt: skip
            rows.append(r)
    if sizes.get("lstm_lengths"):
        rows += lstm_run(sizes, warmup, repeats, log)
    return rows, failures


def _convert_saved_model(path, quantization, representative=None):
    converter = tf.lite.TFLiteConverter.from_saved_model(path, ["logits"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "float":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "int8":
        converter.representative_dataset = representative
    return converter.convert()


def lstm_run(sizes, warmup, repeats, log=print):
    """Fused LSTM kernel vs today's unrolled loop in LiteRT: rows.

    The zoo's `char_rnn` (LSTM) on one example of each length in
    `sizes["lstm_lengths"]`, exported through `keras_seq.export.fused_lstm`
    twice: with the LSTMs fused (`UNIDIRECTIONAL_SEQUENCE_LSTM`) and with
    every LSTM on the unrolled path the export took before. `ours` is the
    fused file, the reference the unrolled one, both float32 and both
    dynamic-range quantized; `int8` (full integer, calibrated on random ids)
    converts only unrolled (TF 2.21's calibrator fails on the fused op), so
    its row compares it with the fused float file.
    """
    from keras_seq.export.fused_lstm import FUSED_OP, write_saved_model
    from keras_seq.export.verify import tflite_operators

    rows = []
    rng = np.random.default_rng(0)
    model = zoo.build(
        "char_rnn",
        "tiny",
        cell="lstm",
        vocabulary_size=sizes["vocabulary_size"],
        embedding_dim=sizes["lstm_features"],
        hidden_dim=sizes["lstm_units"],
        num_layers=sizes["lstm_layers"],
        dropout=0.0,
    )
    interpreter_class = _interpreter_class()
    for length in sizes["lstm_lengths"]:
        shape = (1, length)
        ids = rng.integers(1, sizes["vocabulary_size"], shape).astype("int32")
        expected = np.asarray(model({"token_ids": ids}, training=False))
        spec = {"token_ids": tf.TensorSpec(shape, tf.int32, name="token_ids")}

        def representative(shape=shape):
            for _ in range(4):
                yield {
                    "token_ids": rng.integers(
                        1, sizes["vocabulary_size"], shape
                    ).astype("int32")
                }

        files = {}
        with tempfile.TemporaryDirectory() as tmp:
            for path, masks in (("fused", "right_padded"), ("unrolled", None)):
                saved = os.path.join(tmp, path)
                write_saved_model(model, spec, saved, masks)
                for q in ("float", "dynamic_range"):
                    files[path, q] = _convert_saved_model(saved, q)
            files["unrolled", "int8"] = _convert_saved_model(
                os.path.join(tmp, "unrolled"), "int8", representative
            )
        runners, diffs = {}, {}
        for key, flatbuffer in files.items():
            fused = FUSED_OP in tflite_operators(flatbuffer)
            if fused != (key[0] == "fused"):
                raise RuntimeError(f"LSTM {key}: fused op present = {fused}")
            interpreter = interpreter_class(model_content=flatbuffer)
            runners[key] = interpreter.get_signature_runner("logits")
            got = runners[key](token_ids=ids)["logits"]
            diffs[key] = float(np.max(np.abs(got - expected)))
        pairs = [(("fused", q), ("unrolled", q), q) for q in ("float", "dynamic_range")]
        pairs.append((("unrolled", "int8"), ("fused", "float"), "int8"))
        for ours_key, reference_key, setting in pairs:
            ours_t, ref_t = timing.compare(
                lambda r=runners[ours_key], x=ids: r(token_ids=x),
                lambda r=runners[reference_key], x=ids: r(token_ids=x),
                warmup,
                repeats,
            )
            r = report.row(
                "deployment",
                f"char_rnn LSTM T={length}",
                f"litert-{setting}",
                ours_t,
                ref_t,
                ours_impl=f"LiteRT {ours_key[1]}, LSTM {ours_key[0]}",
                reference_impl=f"LiteRT {reference_key[1]}, LSTM {reference_key[0]}",
                tflite_bytes=len(files[ours_key]),
                reference_tflite_bytes=len(files[reference_key]),
                max_abs_diff=diffs[ours_key],
                reference_max_abs_diff=diffs[reference_key],
                shape={"batch": 1, "length": length,
                       "features": sizes["lstm_features"],
                       "units": sizes["lstm_units"],
                       "layers": sizes["lstm_layers"]},
            )  # fmt: skip
            log(f"{r['name']:<28s} {r['setting']:<20s} ratio {r['ratio']:.2f}")
            rows.append(r)
    return rows
