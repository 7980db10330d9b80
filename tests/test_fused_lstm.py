"""Our LSTMs in TFLite become the fused UNIDIRECTIONAL_SEQUENCE_LSTM kernel.

The reference is the Keras model itself (`keras.layers.RNN`'s loop over our
cells), on right-padded token ids: each converted model must match it, run
twice in a row (the fused op keeps its states in TFLite variable tensors), use
builtin ops only and no `WHILE`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_seq.export.fused_lstm import FUSED_OP, write_saved_model
from keras_seq.export.tflite import _convert
from keras_seq.export.verify import tflite_operators
from keras_seq.layers import LSTM

B, T, VOCAB = 2, 9, 30


def _model(units=6, activation="tanh"):
    """Embedding (pad id 0 masked) -> every LSTM form the zoo uses."""
    ids = keras.Input((T,), batch_size=B, dtype="int32", name="token_ids")
    x = keras.layers.Embedding(VOCAB, 5, mask_zero=True)(ids)
    a = LSTM(units, return_sequences=True, name="forward")(x)
    b = keras.layers.Bidirectional(
        LSTM(units, return_sequences=True, activation=activation), name="bi"
    )(a)
    c, h, cell = LSTM(
        units, return_sequences=True, return_state=True, go_backwards=True,
        name="backward",
    )(b)  # fmt: skip
    last = keras.layers.Bidirectional(LSTM(units, return_state=True), name="top")(c)
    outputs = {"a": a, "b": b, "c": c, "h": h, "cell": cell}
    outputs.update({f"top_{i}": t for i, t in enumerate(last)})
    model = keras.Model(ids, outputs)
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(rng.normal(size=w.shape) * 0.25)
    return model


def _ids(seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, (B, T)).astype("int32")
    ids[0, 5:] = 0  # right padding
    return ids


def _convert_model(model, tmp_path, masks, quantize=("none",)):
    spec = tf.TensorSpec((B, T), tf.int32, name="token_ids")
    paths = write_saved_model(model, spec, str(tmp_path / "sm"), masks)
    files = {q: str(tmp_path / f"{q}.tflite") for q in quantize}
    _convert(str(tmp_path / "sm"), ["logits"], files, None)
    out = {}
    for q, f in files.items():
        with open(f, "rb") as fh:
            content = fh.read()
        operators = tflite_operators(content)
        assert not [op for op in operators if "CUSTOM" in op or "FLEX" in op]
        out[q] = (Interpreter(model_content=content), operators, len(content))
    return paths, out


def _check_matches(model, interpreter, atol):
    runner = interpreter.get_signature_runner("logits")
    for seed in (1, 2):  # two calls: no state carried between invocations
        ids = _ids(seed)
        got = runner(token_ids=ids)
        for name, expected in model(ids).items():
            np.testing.assert_allclose(got[name], expected, atol=atol, err_msg=name)


def test_lstm_forms_convert_to_the_fused_op_and_match_keras(tmp_path):
    model = _model(units=32)  # 32 units: kernels large enough to quantize
    paths, out = _convert_model(model, tmp_path, "right_padded", ("none", "dynamic"))
    fused = [p for p in paths if paths[p] == [f"fused (T={T})"]]
    assert len(fused) == 6, paths  # forward, 2 x bi, backward, 2 x top
    interpreter, operators, float_size = out["none"]
    assert FUSED_OP in operators and "WHILE" not in operators
    _check_matches(model, interpreter, atol=1e-5)
    # Dynamic range: int8 weights in the hybrid fused kernel.
    interpreter, operators, size = out["dynamic"]
    assert FUSED_OP in operators and "WHILE" not in operators
    assert size < float_size / 2
    _check_matches(model, interpreter, atol=0.05)


def test_fallbacks_are_reported_and_still_match(tmp_path):
    # A non-default activation and masks not known to be right padding.
    model = _model(activation="relu")
    paths, out = _convert_model(model, tmp_path, "unrolled")
    assert paths["bi/forward_lstm"] == ["unrolled: activation is not tanh"]
    assert paths["forward"] == ["unrolled: a mask not known to be right padding"]
    interpreter, operators, _ = out["none"]
    assert FUSED_OP not in operators and "WHILE" not in operators
    _check_matches(model, interpreter, atol=1e-5)


def test_unknown_mask_policy_is_refused():
    from keras_seq.export.fused_lstm import fused_lstm_layers

    layers = fused_lstm_layers(_model(), masks="left")
    with pytest.raises(ValueError, match="masks='left'"):
        layers.__enter__()


def test_a_cell_of_another_class_keeps_the_unrolled_path():
    from keras_seq.export.fused_lstm import why_not_fused
    from keras_seq.layers import LSTMCell

    class OtherCell(LSTMCell):
        pass

    class OtherLSTM(LSTM):
        cell_class = OtherCell

    x = np.zeros((B, T, 5), "float32")
    layer, other = LSTM(4), OtherLSTM(4)
    layer(x), other(x)
    assert why_not_fused(layer, x, None, False) is None
    assert why_not_fused(other, x, None, False) == "cell OtherCell is not LSTMCell"
