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
"""

import json
import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

FORBIDDEN = ("keras_seq", "zoo", "keras")


def _run(request):
    loaded = tf.saved_model.load(request["export_dir"])
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
