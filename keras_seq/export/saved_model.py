"""SavedModel export in TF Serving layout, with the tokenizer in the graph.

`export_saved_model(run, output, version=1)` writes `<output>/<version>/`
(`saved_model.pb`, `variables/`, `assets.extra/keras_seq_export.json`) with
these signatures:

- `serving_default` (also the `serve` function): the model on token ids, the
  model's input dict (`token_ids`, or `encoder_token_ids` and
  `decoder_token_ids`, ...; `(batch, length)` int32, padded with the
  tokenizer's pad id, any batch and length) -> `{"logits": ...}`
  (`{"outputs": ...}` for a regression model).
- `serve_text` (text models): `text` `(batch,)` string ->
  for a language model the greedy continuation of each prompt, for a seq2seq
  model the greedy decoding of each source (`{"text", "token_ids"}`); for a
  classifier `{"label", "label_id", "scores"}`. Tokenization, the whole
  decoding loop (a `tf.while_loop` with the key/value or recurrent cache) and
  detokenization run inside the graph.
- `generate` (generative models exported with a sampler other than greedy):
  `text` `(batch,)` string and `seed` int32 scalar -> `{"text",
  "token_ids"}`, sampled with the sampler, temperature, k, p or beams given
  at export; the same seed gives what `model.generate(..., seed=seed,
  jit_compile=False)` gives.

It loads with `tf.saved_model.load` (and in TF Serving, and with
`saved_model_cli`) in a process that never imports keras_seq or zoo; a
subword tokenizer needs `tensorflow_text`'s ops there (TF Serving has them).
Before the directory is renamed into place, `keras_seq.export.verify` checks
it in such a process against the Keras model.

Example:

```python
from keras_seq.export import load_run, export_saved_model

run = load_run("runs/char")
report = export_saved_model(run, "exports/char", version=1)
# exports/char/1/saved_model.pb; report["latency_ms"], report["size_bytes"]
```
"""

import json
import os

import keras
import tensorflow as tf

from keras_seq.export import verify
from keras_seq.export.atomic import atomic_directory, check_writable
from keras_seq.export.model_dir import ExportError, input_specs
from keras_seq.export.text import TextModel
from keras_seq.version import __version__

METADATA = os.path.join("assets.extra", "keras_seq_export.json")
TEXT_SPEC = tf.TensorSpec([None], tf.string, name="text")
SEED_SPEC = tf.TensorSpec([], tf.int32, name="seed")


def export_saved_model(
    run,
    output,
    version=1,
    *,
    max_length=None,
    sampler="greedy",
    temperature=1.0,
    top_k=5,
    top_p=0.9,
    num_beams=4,
    overwrite=False,
    verify_export=True,
    num_examples=4,
):
    """Writes the SavedModel of `run` to `<output>/<version>/`, verified.

    Args:
        run: a `keras_seq.export.model_dir.Run` (`load_run(model_dir)`).
        output: the base directory TF Serving is pointed at.
        version: positive int, the version subdirectory.
        max_length: generation buffer (prompt included) of generative
            models; the most tokens a classifier reads. Default: the run's
            sequence length.
        sampler, temperature, top_k, top_p, num_beams: the `generate`
            signature's sampler (see `keras_seq.export.text.TextModel`).
        overwrite: replace an existing `<output>/<version>`.
        verify_export: compare the export with the Keras model before it is
            renamed into place (`keras_seq.export.verify`).
        num_examples: held-out examples the verification compares.

    Returns:
        A report dict: `path`, `signatures`, `size_bytes` and, when
        verified, `latency_ms` (one example through `serve_text`, or
        `serving_default`) and the comparisons' results.

    Raises:
        ExportError: a bad request, an existing output without `overwrite`,
            or a failed verification (`verify.VerificationError`); nothing is
            left under the final path then.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ExportError(f"--version={version!r}: must be a positive int.")
    path = os.path.abspath(os.path.join(os.fspath(output), str(version)))
    check_writable(path, overwrite)
    text_model = None
    if run.kind != "ids":
        text_model = TextModel(
            run,
            max_length,
            sampler=sampler,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            num_beams=num_beams,
        )
    with atomic_directory(path, overwrite) as tmp:
        archive, signatures = build_archive(run, text_model)
        archive.write_out(tmp, verbose=False)
        metadata = _metadata(run, text_model, signatures)
        _write_json(os.path.join(tmp, METADATA), metadata)
        report = {"path": path, "signatures": signatures}
        if verify_export:
            report.update(verify.verify_saved_model(run, tmp, text_model, num_examples))
        report["size_bytes"] = verify.directory_size(tmp)
        metadata["verification"] = report
        _write_json(os.path.join(tmp, METADATA), metadata)
    return report


def build_archive(run, text_model=None):
    """The `keras.export.ExportArchive` of the signatures; (archive, names)."""
    model = run.model
    archive = keras.export.ExportArchive()
    archive.track(model)
    output_name = "outputs" if "features" in run.input_names else "logits"

    def serve(inputs):
        return {output_name: model(inputs, training=False)}

    archive.add_endpoint("serve", serve, input_signature=[input_specs(run)])
    signatures = ["serving_default"]
    if text_model is None:
        return archive, signatures

    archive.track(run.tokenizer)
    greedy = text_model.make_sampler("greedy") if run.generative else None

    def serve_text(text):
        return text_model.graph_outputs(text, greedy)

    archive.add_endpoint("serve_text", serve_text, input_signature=[TEXT_SPEC])
    signatures.append("serve_text")
    if run.generative and text_model.sampler != "greedy":
        sampler = text_model.make_sampler()
        generator = getattr(sampler, "seed_generator", None)
        if generator is not None:
            archive.add_variable_collection("sampler_seed", [generator.state])

        def generate(text, seed):
            return text_model.graph_outputs(text, sampler, seed)

        archive.add_endpoint(
            "generate", generate, input_signature=[TEXT_SPEC, SEED_SPEC]
        )
        signatures.append("generate")
    return archive, signatures


def read_metadata(export_dir):
    """The `keras_seq_export.json` of an exported SavedModel, or `None`."""
    path = os.path.join(os.fspath(export_dir), METADATA)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _metadata(run, text_model, signatures):
    tokenizer = run.tokenizer
    return {
        "keras_seq_version": __version__,
        "model": run.family,
        "kind": run.kind,
        "model_dir": os.path.abspath(run.model_dir),
        "signatures": signatures,
        "inputs": run.input_names,
        "tokenizer": None if tokenizer is None else tokenizer.kind,
        "special_ids": None if tokenizer is None else tokenizer.special_ids,
        "label_names": run.label_names,
        "generation": text_model.settings() if text_model else None,
    }


def _write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True, default=str)
