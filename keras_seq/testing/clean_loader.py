"""Loads SavedModels the way TF Serving does: with TensorFlow only.

Run as a script (`python -I clean_loader.py`): `-I` keeps the checkout and the
user site off `sys.path`, and the script itself never imports Keras, keras_seq
or zoo, so a SavedModel that still needs our Python classes fails here.

Protocol, one JSON object per line on stdin:
    {"export_dir": ..., "inputs": "in.npz", "outputs": "out.npz"}
For each request it loads the SavedModel, calls its `serve` endpoint with the
arrays of `inputs` (`arr_0, arr_1, ...`; one array is passed as is, several as
one list, as Keras exports them; with `"named": true` the arrays are passed as
one dict keyed by their names, as Keras exports dict-input models), also runs the
`serving_default` signature, writes the flattened `serve` outputs to `outputs`
and answers one JSON line: {"ok": true, ...} or {"ok": false, "error": ...}.

With `"calls": [{"signature": NAME, "inputs": ..., "outputs": ...}, ...]` it
instead loads the SavedModel once and, for each call, runs that named
signature with the arrays of `inputs` as keyword arguments (by their names in
the npz file; strings as numpy bytes) and writes its outputs to `outputs` by
output name (strings as numpy bytes); a call with `"repeats": N` also times N
more runs and its reply has `latency_ms` (the median). `"text_ops": true` imports
`tensorflow_text` first (a SavedModel with a subword tokenizer needs its ops,
as TF Serving has them built in).
"""

import json
import os
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

FORBIDDEN = ("keras_seq", "zoo", "keras")


def _run(request):
    if request.get("text_ops"):
        import tensorflow_text  # noqa: F401
    loaded = tf.saved_model.load(request["export_dir"])
    if "calls" in request:
        return _run_signatures(loaded, request)
    signature = loaded.signatures["serving_default"]
    if request.get("named"):
        # A Keras model with dict inputs exports `serve(dict_of_inputs)`, and
        # its signature takes the inputs by name.
        with np.load(request["inputs"]) as data:
            named = {name: data[name] for name in data.files}
        outputs = tf.nest.flatten(loaded.serve(named))
        signature_outputs = signature(**named)
    else:
        with np.load(request["inputs"]) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
        # A Keras model with several inputs exports `serve(list_of_inputs)`.
        args = arrays if len(arrays) == 1 else [arrays]
        outputs = tf.nest.flatten(loaded.serve(*args))
        signature_outputs = signature(**_signature_kwargs(signature, arrays))
    np.savez(request["outputs"], *[np.asarray(o) for o in outputs])
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    return {
        "ok": True,
        "num_outputs": len(outputs),
        "num_signature_outputs": len(signature_outputs),
        "imported": leaked,
    }


def _run_signatures(loaded, request):
    replies = []
    for call in request["calls"]:
        name = call["signature"]
        if name not in loaded.signatures:
            raise KeyError(f"no signature {name!r}; it has {sorted(loaded.signatures)}")
        signature = loaded.signatures[name]
        with np.load(call["inputs"]) as data:
            named = {k: tf.constant(data[k]) for k in data.files}
        outputs = signature(**named)
        times = []
        for _ in range(int(call.get("repeats", 0))):
            start = time.perf_counter()
            signature(**named)
            times.append(time.perf_counter() - start)
        arrays = {}
        for key, value in outputs.items():
            value = value.numpy()
            if value.dtype == object:  # tf.string -> fixed-width bytes, no pickle
                value = value.astype(bytes)
            arrays[key] = value
        np.savez(call["outputs"], **arrays)
        reply = {"outputs": sorted(arrays)}
        if times:
            reply["latency_ms"] = 1000 * float(np.median(times))
        replies.append(reply)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
    return {"ok": True, "calls": replies, "imported": leaked}


def _signature_kwargs(signature, arrays):
    specs = signature.structured_input_signature[1]
    if len(specs) != len(arrays):
        raise ValueError(
            f"serving_default takes {sorted(specs)}, got {len(arrays)} arrays"
        )
    # Keras names signature inputs after the model's inputs, which the test
    # helper names `input_0`, `input_1`, ... so sorting by index keeps order.
    names = sorted(specs, key=lambda name: int(name.rsplit("_", 1)[-1]))
    return {name: array for name, array in zip(names, arrays)}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = _run(json.loads(line))
        except Exception as e:  # reported to the parent, which raises
            reply = {"ok": False, "error": f"{e!r}\n{traceback.format_exc()}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
