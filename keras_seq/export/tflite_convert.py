"""Converts a SavedModel to TFLite in a process of its own (TensorFlow only).

The TFLite converter leaks memory on every conversion, so `keras_seq.export.
tflite` runs each export's conversions here, in a fresh process:

    python -I tflite_convert.py REQUEST.json

`REQUEST.json`:

    {"saved_model": DIR, "signatures": ["logits", ...],
     "jobs": [{"quantize": "none" | "float16" | "dynamic" | "int8",
               "output": PATH.tflite}, ...],
     "representative": NPZ or null}

Every job converts with `TFLITE_BUILTINS` only (a model that needs Flex or
custom ops fails here, it is never written). Quantization:

- `none`: float32.
- `float16`: float16 weights (dequantized at load by the interpreter).
- `dynamic`: int8 weights, float activations (dynamic range).
- `int8`: int8 weights and activations calibrated on the representative
  samples (`NPZ` keys `"<signature>|<i>|<input>"`), float fallback for ops
  without an int8 kernel; inputs and outputs stay float32/int32.

On failure it prints the error and exits 1; each output is written to a
temporary name and renamed, so a failed job leaves no file.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _representative(path):
    """`(signature, {input: array})` samples, in the order they were saved."""
    samples = {}
    with np.load(path) as data:
        for key in data.files:
            signature, index, name = key.split("|")
            samples.setdefault((signature, int(index)), {})[name] = data[key]

    def generate():
        for (signature, _), inputs in sorted(samples.items()):
            yield signature, inputs

    return generate


def convert(request):
    for job in request["jobs"]:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            request["saved_model"], signature_keys=request["signatures"]
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        quantize = job["quantize"]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif quantize == "int8":
            if not request.get("representative"):
                raise ValueError("int8 quantization needs representative samples")
            converter.representative_dataset = _representative(
                request["representative"]
            )
        elif quantize not in ("none", "dynamic"):
            raise ValueError(f"unknown quantization {quantize!r}")
        flatbuffer = converter.convert()
        tmp = job["output"] + ".tmp"
        with open(tmp, "wb") as f:
            f.write(flatbuffer)
        os.replace(tmp, job["output"])


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    try:
        convert(request)
    except Exception as e:  # reported to the parent by the exit status
        message = str(e).strip().splitlines()
        sys.stderr.write("tflite conversion failed: " + " | ".join(message[-20:]))
        sys.exit(1)


if __name__ == "__main__":
    main()
