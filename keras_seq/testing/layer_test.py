"""`run_layer_test`: the properties every keras-seq layer must have.

Every layer test in this repository calls it, and so can users who subclass
our layers. It checks, for one layer class and one set of constructor args:

1. `get_config` round trip: `from_config(get_config())` gives the same config,
   and every plain constructor argument appears in the config unchanged.
2. An eager call gives the expected output shapes and finite values.
3. `.keras` save/load (with `safe_mode=True`) gives equal outputs.
4. A `fit` step with `jit_compile=True` runs and changes the weights.
5. Under the `mixed_float16` policy the outputs are float16 and the variables
   float32.
6. `model.export(...)` writes a SavedModel that loads and runs in a process
   that never imports keras_seq (see `saved_model_check.py`) with equal outputs.
"""

import os
import tempfile

import keras
import numpy as np
from keras import ops

from keras_seq.testing.saved_model_check import run_saved_model_in_clean_process

_PLAIN = (bool, int, float, str, type(None))


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    *,
    call_kwargs=None,
    expected_output_shape=None,
    expected_mixed_precision_dtype="float16",
    run_training_check=True,
    run_mixed_precision_check=True,
    run_saved_model_check=True,
    atol=1e-5,
):
    """Checks the standard layer properties; raises `AssertionError` if not.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_data: a numpy array (one input), a tuple/list of arrays (passed
            positionally, e.g. `(q, k, v)`), or a dict of arrays (passed as
            keyword arguments, e.g. `{"query": q, "value": v}`).
        call_kwargs: dict of extra non-tensor call arguments
            (e.g. `{"return_attention_scores": True}`).
        expected_output_shape: the output shape, or a nested structure of
            shapes matching the outputs.
        expected_mixed_precision_dtype: dtype of float outputs under
            `mixed_float16` (a nested structure to give one per output).
        run_training_check: run a `jit_compile=True` fit step.
        run_mixed_precision_check: run the `mixed_float16` check.
        run_saved_model_check: export a SavedModel and reload it without
            keras_seq.
        atol: tolerance for the reloaded models' outputs.

    Returns:
        The outputs of the eager call, as numpy arrays.
    """
    call_kwargs = dict(call_kwargs or {})
    _check_config_round_trip(layer_cls, init_kwargs)

    model, arrays = _functional_model(layer_cls(**init_kwargs), input_data, call_kwargs)
    expected = _to_numpy(model(_model_args(arrays)))
    if expected_output_shape is not None:
        shapes = [tuple(x.shape) for x in keras.tree.flatten(expected)]
        want = _flatten_shapes(expected_output_shape)
        assert shapes == want, (
            f"{layer_cls.__name__}: output shapes {shapes}, expected {want}"
        )
    for x in keras.tree.flatten(expected):
        if np.issubdtype(x.dtype, np.floating):
            assert np.all(np.isfinite(x)), (
                f"{layer_cls.__name__} gave non-finite outputs"
            )

    _check_keras_round_trip(model, arrays, expected, atol)
    if run_training_check:
        _check_fit_step_jit(layer_cls, init_kwargs, input_data, call_kwargs, expected)
    if run_mixed_precision_check:
        _check_mixed_precision(
            layer_cls,
            init_kwargs,
            input_data,
            call_kwargs,
            expected_mixed_precision_dtype,
        )
    if run_saved_model_check:
        _check_saved_model(model, arrays, expected, atol)
    return expected


def _check_config_round_trip(layer_cls, init_kwargs):
    name = layer_cls.__name__
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config, f"{name}.get_config() lacks constructor arg {key!r}"
        if isinstance(value, _PLAIN):
            assert config[key] == value, (
                f"{name}.get_config()[{key!r}] is {config[key]!r}, "
                f"constructed with {value!r}"
            )
        assert hasattr(layer, key), f"{name} does not store {key!r} as an attribute"
        # Strings may name objects (activation="relu" is stored as a function).
        if isinstance(value, _PLAIN) and not isinstance(value, str):
            assert getattr(layer, key) == value, (
                f"{name}.{key} is {getattr(layer, key)!r}, constructed with {value!r}"
            )
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, (
        f"{name}.from_config(get_config()) changed the config:\n"
        f"{config}\n!=\n{clone.get_config()}"
    )
    serialized = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is layer_cls, f"{name} does not deserialize to itself"


def _functional_model(layer, input_data, call_kwargs):
    """Wraps `layer` in a functional model with inputs named input_0, ..."""
    if isinstance(input_data, dict):
        names = list(input_data)
        arrays = [np.asarray(input_data[k]) for k in names]
    elif isinstance(input_data, (tuple, list)):
        names = None
        arrays = [np.asarray(x) for x in input_data]
    else:
        names = None
        arrays = [np.asarray(input_data)]
    inputs = [
        keras.Input(shape=a.shape[1:], dtype=str(a.dtype), name=f"input_{i}")
        for i, a in enumerate(arrays)
    ]
    if names is not None:
        outputs = layer(**dict(zip(names, inputs)), **call_kwargs)
    elif isinstance(input_data, (tuple, list)):
        outputs = layer(*inputs, **call_kwargs)
    else:
        outputs = layer(inputs[0], **call_kwargs)
    model_inputs = inputs[0] if len(inputs) == 1 else inputs
    return keras.Model(model_inputs, outputs), arrays


def _check_keras_round_trip(model, arrays, expected, atol):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
    _assert_close(
        expected, _to_numpy(reloaded(_model_args(arrays))), atol, ".keras round trip"
    )


def _check_fit_step_jit(layer_cls, init_kwargs, input_data, call_kwargs, expected):
    model, arrays = _functional_model(layer_cls(**init_kwargs), input_data, call_kwargs)
    flat = keras.tree.flatten(expected)
    trainable = [i for i, x in enumerate(flat) if np.issubdtype(x.dtype, np.floating)]
    if not model.trainable_weights or not trainable:
        return
    train_model = keras.Model(
        model.inputs, [keras.tree.flatten(model.outputs)[i] for i in trainable]
    )
    targets = [np.ones_like(flat[i]) for i in trainable]
    before = [w.numpy().copy() for w in train_model.trainable_weights]
    train_model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True
    )
    history = train_model.fit(
        _model_args(arrays), targets, batch_size=len(arrays[0]), epochs=1, verbose=0
    )
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), (
        f"{layer_cls.__name__}: jit_compile fit step gave loss {loss}"
    )
    after = [w.numpy() for w in train_model.trainable_weights]
    changed = [not np.array_equal(b, a) for b, a in zip(before, after)]
    assert any(changed), (
        f"{layer_cls.__name__}: a jit_compile fit step changed no weight"
    )


def _check_mixed_precision(layer_cls, init_kwargs, input_data, call_kwargs, dtypes):
    layer = layer_cls(**{**init_kwargs, "dtype": "mixed_float16"})
    model, arrays = _functional_model(layer, input_data, call_kwargs)
    outputs = model(_model_args(arrays))
    flat = keras.tree.flatten(outputs)
    if isinstance(dtypes, str):
        dtypes = [dtypes] * len(flat)
    else:
        dtypes = keras.tree.flatten(dtypes)
    name = layer_cls.__name__
    for i, (out, dtype) in enumerate(zip(flat, dtypes)):
        if "float" in str(out.dtype):
            actual = keras.backend.standardize_dtype(out.dtype)
            assert actual == dtype, (
                f"{name}: output {i} is {actual} under mixed_float16, want {dtype}"
            )
    for w in layer.weights:
        if "float" in str(w.dtype):
            assert keras.backend.standardize_dtype(w.dtype) == "float32", (
                f"{name}: variable {w.path} is {w.dtype} under mixed_float16"
            )


def _check_saved_model(model, arrays, expected, atol):
    with tempfile.TemporaryDirectory() as tmp:
        export_dir = os.path.join(tmp, "saved_model")
        model.export(export_dir, format="tf_saved_model", verbose=False)
        outputs = run_saved_model_in_clean_process(export_dir, arrays)
    _assert_close(
        keras.tree.flatten(expected),
        outputs,
        atol,
        "SavedModel reloaded without keras_seq",
    )


def _model_args(arrays):
    return arrays[0] if len(arrays) == 1 else arrays


def _to_numpy(outputs):
    return keras.tree.map_structure(
        lambda x: np.asarray(ops.convert_to_numpy(x)), outputs
    )


def _flatten_shapes(shapes):
    """(2, 3) -> [(2, 3)]; [(2, 3), {"a": (2,)}] -> [(2, 3), (2,)]."""
    if isinstance(shapes, (tuple, list)) and all(isinstance(s, int) for s in shapes):
        return [tuple(shapes)]
    if isinstance(shapes, dict):
        shapes = [shapes[k] for k in sorted(shapes)]
    return [s for part in shapes for s in _flatten_shapes(part)]


def _assert_close(expected, actual, atol, what):
    expected = keras.tree.flatten(expected)
    actual = keras.tree.flatten(actual)
    assert len(expected) == len(actual), (
        f"{what}: {len(actual)} outputs, expected {len(expected)}"
    )
    for i, (e, a) in enumerate(zip(expected, actual)):
        np.testing.assert_allclose(
            a, e, atol=atol, rtol=0, err_msg=f"{what}: output {i}"
        )
