"""TFLite export: builtin ops only, run in ai_edge_litert's interpreter.

The references are the Keras model's own outputs (`model(...)`) and its
`generate()`; the decoding loop through the `decode_step` signature is written
out here as an app would write it.
"""

import json
import os

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from export_runs import make_model_dir

from keras_seq.export import ExportError, load_run
from keras_seq.export.fused_lstm import FUSED_OP
from keras_seq.export.tflite import export_tflite
from keras_seq.export.verify import tflite_operators, tflite_task_metric


def _interpreter(directory):
    with open(directory / "model.tflite", "rb") as f:
        content = f.read()
    operators = tflite_operators(content)
    assert operators and not [op for op in operators if op.startswith("CUSTOM")]
    assert not [op for op in operators if "FLEX" in op.upper()]
    return Interpreter(model_content=content), operators


def _greedy(interpreter, init_inputs, buffer, start, eos):
    """An app's decoding loop over init_cache / decode_step."""
    step = interpreter.get_signature_runner("decode_step")
    cache = interpreter.get_signature_runner("init_cache")(**init_inputs)
    names = interpreter.get_signature_list()["decode_step"]["inputs"]
    tokens = buffer.copy()
    for t in range(tokens.shape[1] - 1):
        args = {"token_ids": tokens[:, t : t + 1], **cache}
        if "index" in names:
            args["index"] = np.int32(t)
        out = step(**args)
        cache = {k: v for k, v in out.items() if k != "logits"}
        if t + 1 >= start:
            logits = out["logits"].copy()
            logits[:, 0] = -np.inf  # never the pad id
            keep = buffer[:, t + 1] != 0
            tokens[:, t + 1] = np.where(keep, buffer[:, t + 1], logits.argmax(-1))
    stopped = np.cumsum((tokens == eos) & (buffer == 0), axis=1)
    after = (stopped - ((tokens == eos) & (buffer == 0))) > 0
    tokens[after] = 0
    return tokens


def test_char_rnn_float_and_quantized_run_in_litert(tmp_path):
    run = load_run(make_model_dir(tmp_path, "char_rnn"))
    model, eos = run.model, run.tokenizer.special_ids["eos"]
    quantize = ["none", "float16", "dynamic", "int8"]
    reports = export_tflite(
        run, tmp_path / "out", batch_size=2, max_length=10, quantize=quantize
    )
    assert [r["quantize"] for r in reports] == quantize
    ids = np.asarray([[5, 6, 7, 8, 9, 0, 0, 0, 0, 0], [7, 9, 11, 4, 5, 6, 7, 8, 9, 10]])
    ids = ids.astype("int32")
    buffer = np.zeros((2, 10), "int32")
    buffer[0, :3], buffer[1, :5] = [5, 6, 7], [8, 9, 10, 11, 12]
    keras_logits = np.asarray(model({"token_ids": ids}))
    keras_tokens = model.generate(buffer, 10, stop_token_ids=[eos], jit_compile=False)
    for q in quantize:
        directory = tmp_path / "out" / ("tflite" if q == "none" else f"tflite_{q}")
        interpreter, operators = _interpreter(directory)
        metadata = json.loads((directory / "metadata.json").read_text())
        assert metadata["quantize"] == q and (directory / "tokenizer").is_dir()
        # 2 LSTM layers, each (h, c).
        assert [c["shape"] for c in metadata["cache"]] == [[2, 16]] * 4
        step = metadata["signature_defs"]["decode_step"]
        assert {"token_ids", "cache_0", "cache_3"} <= set(step["inputs"])
        assert sorted(step["outputs"]) == [f"cache_{i}" for i in range(4)] + ["logits"]
        logits = interpreter.get_signature_runner("logits")(token_ids=ids)["logits"]
        tokens = _greedy(interpreter, {"token_ids": buffer}, buffer, 3, eos)
        assert "WHILE" not in operators  # fused or unrolled time loops
        # The LSTMs are fused, except in the decode step (one token: nothing
        # to fuse) and for int8 (TF 2.21's calibrator fails on the fused op).
        assert (FUSED_OP in operators) == (q != "int8")
        paths = metadata["verification"]["lstm_paths"]["lstm_1"]
        if q != "int8":
            assert paths == ["fused (T=10)", "unrolled: a single step"]
        if q == "none":
            np.testing.assert_allclose(logits, keras_logits, atol=1e-4)
            np.testing.assert_array_equal(tokens, keras_tokens)
        else:
            # Quantized: close, not equal; same shapes, prompts kept.
            assert np.abs(logits - keras_logits).max() < 0.5
            np.testing.assert_array_equal(tokens[buffer != 0], buffer[buffer != 0])
    assert "QUANTIZE" in _interpreter(tmp_path / "out" / "tflite_int8")[1]
    assert "DEQUANTIZE" in _interpreter(tmp_path / "out" / "tflite_float16")[1]


def test_gpt_decode_step_with_per_layer_caches(tmp_path):
    run = load_run(make_model_dir(tmp_path, "gpt"))
    model, eos = run.model, run.tokenizer.special_ids["eos"]
    export_tflite(
        run, tmp_path / "out", batch_size=2, max_length=12, verify_export=False
    )
    directory = tmp_path / "out" / "tflite"
    interpreter, _ = _interpreter(directory)
    metadata = json.loads((directory / "metadata.json").read_text())
    # One 5-D cache (B, 2, L, heads, depth) per layer (zoo.decoder_stack).
    assert [c["shape"] for c in metadata["cache"]] == [[2, 2, 12, 2, 8]] * 2
    step = metadata["signature_defs"]["decode_step"]
    assert sorted(step["inputs"]) == ["cache_0", "cache_1", "index", "token_ids"]
    ids = np.asarray([[5, 6, 7, 8, 9, 10] + [0] * 6, [11, 12, 13] + [0] * 9], "int32")
    logits = interpreter.get_signature_runner("logits")(token_ids=ids)["logits"]
    np.testing.assert_allclose(logits, model({"token_ids": ids}), atol=1e-4)
    buffer = np.zeros((2, 12), "int32")
    buffer[0, :4], buffer[1, :2] = [5, 6, 7, 8], [9, 10]
    tokens = _greedy(interpreter, {"token_ids": buffer}, buffer, 2, eos)
    expected = model.generate(buffer, 12, stop_token_ids=[eos], jit_compile=False)
    np.testing.assert_array_equal(tokens, expected)


@pytest.mark.parametrize("family", ["seq2seq_attention", "transformer", "t5"])
def test_seq2seq_encoder_then_decode_steps(tmp_path, family):
    run = load_run(make_model_dir(tmp_path, family))
    model, eos = run.model, run.tokenizer.special_ids["eos"]
    export_tflite(
        run, tmp_path / "out", batch_size=2, max_length=8, verify_export=False
    )
    interpreter, _ = _interpreter(tmp_path / "out" / "tflite")
    source = np.asarray([[5, 6, 7, eos, 0, 0, 0, 0], [8, 9, eos] + [0] * 5], "int32")
    decoder = np.asarray([[2, 7, 6, 5, 0, 0, 0, 0], [2, 9, 8, 0, 0, 0, 0, 0]], "int32")
    inputs = {"encoder_token_ids": source, "decoder_token_ids": decoder}
    logits = interpreter.get_signature_runner("logits")(**inputs)["logits"]
    np.testing.assert_allclose(logits, model(inputs), atol=1e-4)
    buffer = np.zeros((2, 8), "int32")
    buffer[:, 0] = model.start_token_id
    tokens = _greedy(interpreter, {"encoder_token_ids": source}, buffer, 1, eos)
    expected = model.generate(
        {"encoder_token_ids": source}, 8, stop_token_ids=[eos], jit_compile=False
    )
    np.testing.assert_array_equal(tokens, expected)


def test_existing_output_is_kept_and_bad_requests_fail(tmp_path):
    run = load_run(make_model_dir(tmp_path, "rnn_classifier"))
    existing = tmp_path / "out" / "tflite_int8"
    existing.mkdir(parents=True)
    (existing / "model.tflite").write_bytes(b"an earlier export")
    with pytest.raises(ExportError, match="tflite_int8 exists; pass --overwrite"):
        export_tflite(run, tmp_path / "out", quantize=["none", "int8"])
    # Refused before anything was written: no float model next to it either.
    assert os.listdir(tmp_path / "out") == ["tflite_int8"]
    assert (existing / "model.tflite").read_bytes() == b"an earlier export"
    with pytest.raises(ExportError, match="--quantize=int4"):
        export_tflite(run, tmp_path / "out2", quantize="int4")
    with pytest.raises(ExportError, match="--batch_size=0"):
        export_tflite(run, tmp_path / "out2", batch_size=0)
    with pytest.raises(ExportError, match="--max_length=0"):
        export_tflite(run, tmp_path / "out2", max_length=0)
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("family", ["rnn_classifier", "bert"])
def test_remaining_families_convert_with_builtins_and_match_keras(tmp_path, family):
    """The families the tests above do not decode: logits against Keras."""
    tokenizer = "word_piece" if family == "bert" else "char"
    run = load_run(make_model_dir(tmp_path, family, tokenizer=tokenizer))
    (report,) = export_tflite(run, tmp_path / "out", batch_size=2, max_length=8)
    interpreter, _ = _interpreter(tmp_path / "out" / "tflite")
    names = interpreter.get_signature_list()["logits"]["inputs"]
    rng = np.random.default_rng(0)
    inputs = {}
    for name in names:
        high = run.model.vocabulary_size if "token_ids" in name else 2
        inputs[name] = rng.integers(3 if high > 2 else 0, high, (2, 8)).astype("int32")
    got = interpreter.get_signature_runner("logits")(**inputs)["logits"]
    np.testing.assert_allclose(got, run.model(inputs), atol=1e-4)
    assert report["size_bytes"] > 0
    if family == "rnn_classifier":  # a bidirectional LSTM: two fused ops
        assert FUSED_OP in report["operators"]
        assert report["lstm_paths"] == {
            "bidirectional_0/forward_lstm_0": ["fused (T=8)"],
            "bidirectional_0/backward_lstm_0": ["fused (T=8)"],
        }


def test_seq2seq_lstm_encoder_is_fused_and_decodes(tmp_path):
    """The bidirectional LSTM encoder (its final C_T feeds the decoder)."""
    run = load_run(make_model_dir(tmp_path, "seq2seq_attention", cell="lstm"))
    (report,) = export_tflite(run, tmp_path / "out", batch_size=2, max_length=8)
    assert FUSED_OP in report["operators"] and "WHILE" not in report["operators"]
    assert report["greedy_token_agreement"] == 1.0
    # Forward and backward layers, in the logits and init_cache signatures.
    assert len(report["lstm_paths"]) == 2
    for paths in report["lstm_paths"].values():
        assert paths == ["fused (T=8)"]


def test_task_metric_counts_target_id_0_and_skips_padding_by_length():
    # GPT-2's id 0 is the real token "!": the weights (from the examples'
    # lengths), not the target ids, say which positions are padding.
    y = np.array([[0, 5, 0, 0], [3, 0, 7, 0]])
    weights = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], "float32")
    predicted = np.array([[0, 5, 9, 9], [3, 1, 7, 9]])  # one real miss: row 1
    logits = np.eye(10)[predicted]
    assert tflite_task_metric(None, logits, y, weights) == pytest.approx(4 / 5)
    assert tflite_task_metric(None, logits, y) == pytest.approx(4 / 8)
    labels = np.array([2, 4])  # classification: no weights, every example
    assert tflite_task_metric(None, np.eye(5)[[2, 1]], labels) == 0.5
