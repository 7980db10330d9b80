"""TFLite / LiteRT export: fixed shapes, builtin ops only, a decode step.

`export_tflite(run, output, batch_size=1, max_length=None, quantize=("none",))`
writes one directory per quantization, `<output>/tflite` (float32) and
`<output>/tflite_<quantize>` (`float16`, `dynamic`, `int8`), each holding
`model.tflite`, `metadata.json` (shapes, signatures, cache layout, special
ids, label names, the verification report) and `tokenizer/` (a copy: string
ops are not TFLite builtins, so the app tokenizes).

Shapes are fixed: batch `B = batch_size`, length `L = max_length` (with
fixed shapes the recurrent layers' loops and the key/value cache updates lower
to builtin `WHILE`, `GATHER`, `DYNAMIC_UPDATE_SLICE`... ops; a dynamic batch
would need Flex ops, which the pip LiteRT runtime cannot run). Our `LSTM`
layers become TFLite's fused `UNIDIRECTIONAL_SEQUENCE_LSTM` kernel where the
result is the same (`keras_seq.export.fused_lstm`; each report's
`lstm_paths` says which path every LSTM took), the other recurrent layers
unroll. Signatures:

- `logits`: the model's inputs, each `(B, L)` int32 (padded with the
  metadata's `pad_id`) ->
  `{"logits": (B, L, V)}` (`(B, C)` for a classifier).
- generative models only:
  - `init_cache`: `{"token_ids": (B, L)}` for a language model (only its
    shape matters: the cache starts at zero), `{"encoder_token_ids": (B,
    L)}` for a seq2seq model (runs the encoder once) -> `{"cache_0": ...,
    "cache_1": ...}`.
  - `decode_step`: `{"token_ids": (B, 1), "index": () int32, "cache_i"...}`
    -> `{"logits": (B, V), "cache_i"...}`: feeds the token at position
    `index` and gives the logits of position `index + 1`. (A recurrent
    model's step does not read `index`, and its signature may lack it.)

  Greedy decoding in an app: fill a `(B, L)` buffer with the prompt
  (language model) or the start id (seq2seq), call `init_cache`, then for
  `t = 0 ... L - 2` call `decode_step` on `buffer[:, t]` at index `t`, and
  where position `t + 1` is not prompt (keep the prompt's mask: a GPT-2
  checkpoint's pad id is a real token), write the arg-max of the logits
  (never the model's pad id, `model_pad_id` in the metadata, when it has
  one); stop a row at `</s>`.
  `keras_seq.export.verify.tflite_greedy` is that loop.

Conversion runs in a fresh process (`tflite_convert.py`: the converter leaks
memory), from a SavedModel of these signatures written with
`keras.export.ExportArchive`. `int8` calibrates on samples of the training
split (the model's inputs, and caches taken from the Keras model decoding
them). Every file is verified (`keras_seq.export.verify.verify_tflite`)
before its directory is renamed into place.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_seq.data import save_tokenizer
from keras_seq.export import verify
from keras_seq.export.atomic import atomic_directory, check_writable
from keras_seq.export.fused_lstm import fused_lstm_layers
from keras_seq.export.model_dir import ExportError, input_specs
from keras_seq.export.text import TextModel
from keras_seq.version import __version__

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
CONVERTER = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "tflite_convert.py"
)
REPRESENTATIVE_BATCHES = 4
REPRESENTATIVE_STEPS = 6


def output_dir(output, quantize):
    """`<output>/tflite` or `<output>/tflite_<quantize>`."""
    name = "tflite" if quantize == "none" else f"tflite_{quantize}"
    return os.path.abspath(os.path.join(os.fspath(output), name))


def export_tflite(
    run,
    output,
    *,
    batch_size=1,
    max_length=None,
    quantize=("none",),
    overwrite=False,
    verify_export=True,
    num_examples=4,
):
    """Converts `run`'s model to TFLite, one directory per quantization.

    Args:
        run: a `keras_seq.export.model_dir.Run`.
        output: the base output directory.
        batch_size: the fixed batch `B`.
        max_length: the fixed length `L` (default: the run's sequence
            length).
        quantize: a list of `QUANTIZATIONS` (or one string).
        overwrite: replace existing output directories.
        verify_export: check each file against the Keras model before it is
            renamed into place (`keras_seq.export.verify.verify_tflite`).
        num_examples: held-out examples the verification compares.

    Returns:
        One report dict per quantization: `path`, `size_bytes`,
        `latency_ms` (one `logits` call), the comparisons' results.

    Raises:
        ExportError: a bad request, an existing output without `overwrite`,
            a failed conversion or verification; nothing is left under the
            final paths of the quantizations that failed.
    """
    if isinstance(quantize, str):
        quantize = [quantize]
    quantize = list(dict.fromkeys(quantize))
    bad = [q for q in quantize if q not in QUANTIZATIONS]
    if bad or not quantize:
        raise ExportError(
            f"--quantize={','.join(quantize)}: each must be one of {QUANTIZATIONS}."
        )
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ExportError(f"--batch_size={batch_size!r}: must be a positive int.")
    length = run.check_length("max_length", max_length)
    targets = {q: output_dir(output, q) for q in quantize}
    for path in targets.values():
        check_writable(path, overwrite)

    spec = TFLiteSpec(run, batch_size, length)
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        saved_model = os.path.join(tmp, "saved_model")
        files = {q: os.path.join(tmp, f"model_{q}.tflite") for q in quantize}
        lstm_paths = {}
        fused = {q: f for q, f in files.items() if q != "int8"}
        if fused:
            spec.write_saved_model(saved_model)
            _convert(saved_model, spec.signature_names, fused, None)
            lstm_paths = {q: spec.lstm_paths for q in fused}
        if "int8" in quantize:
            # TF 2.21's int8 calibrator fails on the fused LSTM op
            # ("tensor.data.raw != nullptr"): int8 keeps the unrolled loops.
            unfused = os.path.join(tmp, "saved_model_int8")
            spec.write_saved_model(unfused, fuse_lstm=False)
            representative = os.path.join(tmp, "representative.npz")
            np.savez(representative, **spec.representative_samples())
            _convert(
                unfused,
                spec.signature_names,
                {"int8": files["int8"]},
                representative,
            )
            lstm_paths["int8"] = spec.lstm_paths
        for q in quantize:
            with atomic_directory(targets[q], overwrite) as out:
                shutil.move(files[q], os.path.join(out, "model.tflite"))
                if run.tokenizer is not None:
                    # Written from the tokenizer: a checkpoint (--preset)
                    # has no run directory to copy it from.
                    save_tokenizer(run.tokenizer, os.path.join(out, "tokenizer"))
                metadata = spec.metadata(q)
                metadata["signature_defs"] = _signature_defs(out)
                report = {"path": targets[q], "quantize": q}
                if lstm_paths[q]:
                    report["lstm_paths"] = lstm_paths[q]
                if verify_export:
                    report.update(
                        verify.verify_tflite(
                            spec, os.path.join(out, "model.tflite"), q, num_examples
                        )
                    )
                report["size_bytes"] = os.path.getsize(
                    os.path.join(out, "model.tflite")
                )
                metadata["verification"] = report
                with open(os.path.join(out, "metadata.json"), "w") as f:
                    json.dump(metadata, f, indent=2, sort_keys=True, default=str)
            reports.append(report)
    return reports


def _signature_defs(directory):
    """`{signature: {"inputs": [...], "outputs": [...]}}` as LiteRT reads it."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=os.path.join(directory, "model.tflite"))
    return interpreter.get_signature_list()


def _convert(saved_model, signatures, files, representative):
    request = {
        "saved_model": saved_model,
        "signatures": signatures,
        "jobs": [{"quantize": q, "output": path} for q, path in files.items()],
        "representative": representative,
    }
    request_path = os.path.join(os.path.dirname(saved_model), "convert.json")
    with open(request_path, "w") as f:
        json.dump(request, f)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-I", CONVERTER, request_path],
        capture_output=True,
        text=True,
        env=env,
        cwd=os.path.dirname(saved_model),
    )
    if result.returncode != 0:
        marker = "tflite conversion failed: "
        lines = [x for x in result.stderr.splitlines() if x.startswith(marker)]
        why = lines[-1][len(marker) :] if lines else result.stderr.strip()[-2000:]
        raise ExportError(f"TFLite conversion (builtin ops only) failed: {why}")


@contextlib.contextmanager
def unrolled_time_loops(model):
    """Sets `unroll=True` on every recurrent layer of `model` for a while.

    With the fixed length the time loops unroll into plain builtin ops: no
    `WHILE` subgraphs, which the int8 calibrator of TF 2.21 crashes on (a
    segmentation fault), and straight-line code runs faster.

    Keras's unrolled loop zeroes the outputs at masked steps with the mask in
    the wrong order when `go_backwards=True` (its `tf.while_loop` does it
    right). A backward layer is therefore unrolled with
    `zero_output_for_mask=False`: it then carries its previous output over
    masked steps, and as our inputs are right-padded, the padded steps come
    first when read backwards and carry the zero initial output: the same
    zeros. (Verification compares with the Keras model on held-out data.)
    """
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(getattr(layer, "unroll", None), bool)
    ]
    saved = [
        (layer.unroll, getattr(layer, "zero_output_for_mask", None)) for layer in layers
    ]
    for layer in layers:
        layer.unroll = True
        if getattr(layer, "go_backwards", False) and layer.zero_output_for_mask:
            layer.zero_output_for_mask = False
    try:
        yield
    finally:
        for layer, (unroll, zero_output) in zip(layers, saved):
            layer.unroll = unroll
            if zero_output is not None:
                layer.zero_output_for_mask = zero_output


class TFLiteSpec:
    """The fixed-shape signatures of one run's TFLite model.

    Args:
        run: a `keras_seq.export.model_dir.Run`.
        batch_size: the fixed batch `B`.
        length: the fixed length `L`.
    """

    def __init__(self, run, batch_size, length):
        self.run = run
        self.model = run.model
        self.batch_size = batch_size
        self.length = length
        self.text_model = None
        if run.kind != "ids":
            self.text_model = TextModel(run, length)
        self.generative = run.generative
        self._memo = {}
        self.lstm_paths = {}
        self.cache_structure = None
        if self.generative:
            cache = self.model.build_cache(self._cache_inputs(self.zero_ids()))
            self.cache_structure = tf.nest.map_structure(
                lambda t: tf.TensorSpec(t.shape, t.dtype), cache
            )

    def memo(self, key, compute):
        """`compute()` once per key (verification references shared by the
        quantized variants)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def signature_names(self):
        if self.generative:
            return ["logits", "init_cache", "decode_step"]
        return ["logits"]

    @property
    def cache_specs(self):
        """The TFLite cache tensors: one per leaf of the model's cache (the
        zoo's Transformers keep one 5-D cache per layer, see
        `zoo.decoder_stack`)."""
        return [
            tf.TensorSpec(leaf.shape, leaf.dtype, f"cache_{i}")
            for i, leaf in enumerate(tf.nest.flatten(self.cache_structure))
        ]

    def pack_cache(self, tensors):
        """TFLite cache tensors -> the model's cache structure."""
        return tf.nest.pack_sequence_as(self.cache_structure, list(tensors))

    def unpack_cache(self, cache):
        """The model's cache structure -> the TFLite cache tensors."""
        return tf.nest.flatten(cache)

    def zero_ids(self):
        return np.zeros((self.batch_size, self.length), "int32")

    @property
    def init_cache_input(self):
        if self.run.kind == "language_model":
            return "token_ids"
        return "encoder_token_ids"

    def _cache_inputs(self, ids):
        """`build_cache`'s inputs: the prompt buffer, or source + a buffer."""
        if self.run.kind == "language_model":
            return {"token_ids": ids}
        buffer = ops.zeros((self.batch_size, self.length), "int32")
        return {"encoder_token_ids": ids, "decoder_token_ids": buffer}

    # === The signatures (Keras ops; traced into the SavedModel) ===

    def logits(self, inputs):
        return {"logits": self.model(inputs, training=False)}

    def init_cache(self, inputs):
        ids = inputs[self.init_cache_input]
        cache = self.model.build_cache(self._cache_inputs(ids))
        return {f"cache_{i}": c for i, c in enumerate(self.unpack_cache(cache))}

    def decode_step(self, inputs):
        cache = self.pack_cache(inputs[s.name] for s in self.cache_specs)
        logits, cache = self.model.call_with_cache(
            inputs["token_ids"], cache, inputs["index"]
        )
        outputs = {"logits": ops.squeeze(logits, axis=1)}
        for i, c in enumerate(self.unpack_cache(cache)):
            outputs[f"cache_{i}"] = c
        return outputs

    def write_saved_model(self, path, fuse_lstm=True):
        """Writes the signatures' SavedModel (the converter's input)."""
        # The archive traces its functions when it writes them out. The
        # LSTMs take the fused op where it gives the same results (our
        # inputs are right-padded), the other recurrent layers unroll.
        masks = "right_padded" if fuse_lstm else None
        fused = fused_lstm_layers(self.model, masks)
        with fused as lstm_paths, unrolled_time_loops(self.model):
            self.archive().write_out(path, verbose=False)
        self.lstm_paths = lstm_paths

    def archive(self):
        archive = keras.export.ExportArchive()
        # Not `archive.track(model)`: that also traces the model on dynamic
        # shapes, which the unrolled loops cannot take; endpoints suffice.
        specs = input_specs(self.run, self.batch_size, self.length)
        archive.add_endpoint("logits", self.logits, input_signature=[specs])
        if self.generative:
            ids = tf.TensorSpec(
                (self.batch_size, self.length), tf.int32, name=self.init_cache_input
            )
            archive.add_endpoint(
                "init_cache",
                self.init_cache,
                input_signature=[{self.init_cache_input: ids}],
            )
            step = {
                "token_ids": tf.TensorSpec((self.batch_size, 1), tf.int32, "token_ids"),
                "index": tf.TensorSpec((), tf.int32, "index"),
            }
            step.update({s.name: s for s in self.cache_specs})
            archive.add_endpoint(
                "decode_step", self.decode_step, input_signature=[step]
            )
        return archive

    # === Calibration samples (int8) ===

    def representative_samples(self):
        """`{"<signature>|<i>|<input>": array}` from the training split."""
        samples, counts = {}, {}

        def add(signature, inputs):
            i = counts[signature] = counts.get(signature, -1) + 1
            for name, value in inputs.items():
                samples[f"{signature}|{i}|{name}"] = np.asarray(value)

        count = self.batch_size * REPRESENTATIVE_BATCHES
        x, _ = self.run.held_out_batch(count, self.length, split="train")
        for b in range(REPRESENTATIVE_BATCHES):
            rows = slice(b * self.batch_size, (b + 1) * self.batch_size)
            inputs = {k: v[rows] for k, v in x.items()}
            if len(next(iter(inputs.values()))) < self.batch_size:
                break
            add("logits", inputs)
            if not self.generative:
                continue
            key = self.model.generation_prompt_key
            source = inputs[self.init_cache_input]
            add("init_cache", {self.init_cache_input: source})
            cache = self.init_cache({self.init_cache_input: source})
            cache = {k: np.asarray(v) for k, v in cache.items()}
            tokens = inputs[key]
            for t in range(min(self.length - 1, REPRESENTATIVE_STEPS)):
                step = {"token_ids": tokens[:, t : t + 1], "index": np.int32(t)}
                step.update(cache)
                add("decode_step", step)
                outputs = self.decode_step(step)
                cache = {
                    k: np.asarray(v)
                    for k, v in outputs.items()
                    if k.startswith("cache_")
                }
        return samples

    # === Metadata ===

    def metadata(self, quantize):
        run = self.run
        tokenizer = run.tokenizer
        meta = {
            "keras_seq_version": __version__,
            "model": run.family,
            "kind": run.kind,
            "model_dir": os.path.abspath(run.model_dir),
            "quantize": quantize,
            "batch_size": self.batch_size,
            "max_length": self.length,
            "inputs": run.input_names,
            "signatures": self.signature_names,
            "tokenizer": None if tokenizer is None else tokenizer.kind,
            "special_ids": None if tokenizer is None else tokenizer.special_ids,
            "label_names": run.label_names,
            # The id inputs are padded with, and whether the model reads it
            # as padding (`None`: every id is a real token, GPT-2).
            "pad_id": 0 if tokenizer is None else tokenizer.special_ids["pad"],
            "model_pad_id": getattr(self.model, "pad_token_id", 0),
        }
        if self.generative:
            meta["cache"] = [
                {"name": s.name, "shape": list(s.shape), "dtype": s.dtype.name}
                for s in self.cache_specs
            ]
            meta["start_token_id"] = self.text_model.start_id
            meta["stop_token_ids"] = list(self.text_model.stop_token_ids)
        return meta
