"""keras-seq-export: a trained model directory -> TF Serving and TFLite artifacts.

Every artifact is verified against the Keras model before it is reported
(and before it is renamed into place): the SavedModel in a process that never
imports keras_seq, the TFLite file in the LiteRT interpreter. The size and the
latency of one example are printed.

Layout under `--output` (default `<model_dir>/export`):

    <version>/              SavedModel for TF Serving (serving_default on ids,
                            serve_text on strings, generate when sampled)
    tflite/model.tflite     float32, fixed batch and length, builtin ops only
    tflite_<quantize>/      float16 | dynamic | int8 variants

A pretrained checkpoint exports straight away with --preset=SOURCE (a keras-hub
preset or Hugging Face directory, a preset name or handle; --output is then
required): the model and the checkpoint's tokenizer, verified on built-in probe
texts.

Example:
    keras-seq-export --model_dir=runs/char --format=both --quantize=none,int8
    keras-seq-export --preset=./gpt2_dir --output=exports/gpt2 --format=both
"""

import json
import os

from absl import flags

from . import flag_utils

PROGRAM = "keras-seq-export"
FLAGS = flags.FLAGS
flag_utils.define_module_flag()
FORMATS = ("saved_model", "tflite", "both")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
SAMPLERS = ("greedy", "top_k", "top_p", "beam")

flags.DEFINE_string("model_dir", None, "A keras-seq-train model directory.")
flags.DEFINE_string(
    "preset",
    None,
    "Export a pretrained checkpoint instead of a model directory: a keras-hub "
    "preset or Hugging Face directory (gpt2, bert, t5), a keras-hub preset name "
    "or a kaggle:// / hf:// handle (those need the network).",
)
flags.DEFINE_enum("format", "saved_model", FORMATS, "What to export.")
flags.DEFINE_string("output", None, "Output directory (default <model_dir>/export).")
flags.DEFINE_integer(
    "version",
    None,
    "SavedModel version directory (default: one past the highest there).",
    lower_bound=1,
)
flags.DEFINE_list(
    "quantize",
    ["none"],
    "TFLite quantizations, comma-separated: none, float16, dynamic, int8 "
    "(int8 calibrates on the training data).",
)
flags.DEFINE_integer("batch_size", 1, "Fixed TFLite batch size.", lower_bound=1)
flags.DEFINE_integer(
    "max_length",
    None,
    "Generation buffer / TFLite length (default: the run's sequence length).",
    lower_bound=1,
)
flags.DEFINE_enum(
    "sampler", "greedy", SAMPLERS, "Sampler of the SavedModel's generate signature."
)
flags.DEFINE_float("temperature", 1.0, "Sampling temperature.", lower_bound=0.0)
flags.DEFINE_integer("top_k", 5, "k of the top_k sampler.", lower_bound=1)
flags.DEFINE_float("top_p", 0.9, "p of the top_p sampler.", lower_bound=0.0)
flags.DEFINE_integer("num_beams", 4, "Beam width of the beam sampler.", lower_bound=1)
flags.DEFINE_bool("overwrite", False, "Replace existing outputs.")
flags.DEFINE_bool("verify", True, "Verify every artifact against the Keras model.")


def _check_request(output, version):
    """Flag checks that need no TensorFlow: fail fast, write nothing."""
    from keras_seq.training import run_dir

    try:
        if not FLAGS.preset:
            run_dir.read_config(FLAGS.model_dir)
            run_dir.check_model(FLAGS.model_dir)
        run_dir.check_writable(output, "output")
    except run_dir.RunDirError as e:
        flag_utils.fail(PROGRAM, str(e))
    bad = [q for q in FLAGS.quantize if q not in QUANTIZATIONS]
    if bad or not FLAGS.quantize:
        flag_utils.fail(
            PROGRAM, f"--quantize={','.join(FLAGS.quantize)}: use {QUANTIZATIONS}."
        )
    if FLAGS.temperature <= 0 or not 0 < FLAGS.top_p <= 1:
        flag_utils.fail(PROGRAM, "--temperature must be > 0 and --top_p in (0, 1].")
    paths = []
    if FLAGS.format in ("saved_model", "both"):
        paths.append(os.path.join(output, str(version)))
    if FLAGS.format in ("tflite", "both"):
        paths += [
            os.path.join(output, "tflite" if q == "none" else f"tflite_{q}")
            for q in FLAGS.quantize
        ]
    existing = [p for p in paths if os.path.lexists(p)]
    if existing and not FLAGS.overwrite:
        flag_utils.fail(
            PROGRAM,
            f"{', '.join(existing)} exists; pass --overwrite to replace it "
            "(it was left as is).",
        )


def _print_report(kind, report):
    size = report.get("size_bytes", 0) / 1024
    latency = report.get("latency_ms")
    line = f"{kind}: {report['path']}  size {size:.1f} KiB"
    if latency is not None:
        line += f"  latency {latency:.2f} ms (one example)"
    print(line)
    for key in (
        "serving_default_max_diff",
        "logits_max_diff",
        "argmax_agreement",
        "greedy_token_agreement",
        "task_metric",
    ):
        if key in report:
            print(f"  {key}: {report[key]}")
    for layer, paths in report.get("lstm_paths", {}).items():
        print(f"  LSTM {layer}: {'; '.join(paths)}")
    for example in report.get("serve_text_examples", [])[:3]:
        print(f"  serve_text({example['input']!r}) -> {example['output']!r}")


def main(argv):
    if len(argv) > 1:
        flag_utils.fail(PROGRAM, f"unexpected arguments {argv[1:]}")
    flag_utils.import_user_modules(PROGRAM, FLAGS.module)
    if not FLAGS.model_dir and not FLAGS.preset:
        flag_utils.fail(PROGRAM, "--model_dir is required (or --preset=SOURCE).")
    if FLAGS.model_dir and FLAGS.preset:
        flag_utils.fail(PROGRAM, "give --model_dir or --preset, not both.")
    if FLAGS.preset and not FLAGS.output:
        flag_utils.fail(PROGRAM, "--preset needs --output (where to write).")
    from keras_seq.training import run_dir

    output = FLAGS.output or run_dir.path(FLAGS.model_dir, run_dir.EXPORT)
    version = FLAGS.version
    if version is None and not os.path.isfile(output):
        version = run_dir.next_export_version(output)
    _check_request(output, version or 1)

    from keras_seq.export import ExportError, VerificationError, load_run
    from keras_seq.export.saved_model import export_saved_model
    from keras_seq.export.tflite import export_tflite

    summary = {}
    try:
        if FLAGS.preset:
            from keras_seq.export.preset_run import load_preset

            run = load_preset(FLAGS.preset)
        else:
            run = load_run(FLAGS.model_dir)
        if FLAGS.format in ("saved_model", "both"):
            report = export_saved_model(
                run,
                output,
                version,
                max_length=FLAGS.max_length,
                sampler=FLAGS.sampler,
                temperature=FLAGS.temperature,
                top_k=FLAGS.top_k,
                top_p=FLAGS.top_p,
                num_beams=FLAGS.num_beams,
                overwrite=FLAGS.overwrite,
                verify_export=FLAGS.verify,
            )
            _print_report("saved_model", report)
            summary["saved_model"] = report
        if FLAGS.format in ("tflite", "both"):
            reports = export_tflite(
                run,
                output,
                batch_size=FLAGS.batch_size,
                max_length=FLAGS.max_length,
                quantize=FLAGS.quantize,
                overwrite=FLAGS.overwrite,
                verify_export=FLAGS.verify,
            )
            for report in reports:
                _print_report(f"tflite ({report['quantize']})", report)
            summary["tflite"] = reports
    except VerificationError as e:
        flag_utils.fail(
            PROGRAM, f"verification failed (that artifact was not written): {e}"
        )
    except ExportError as e:
        flag_utils.fail(PROGRAM, str(e))
    print(json.dumps(summary, indent=2, sort_keys=True, default=str))


def run():
    flag_utils.run(main)


if __name__ == "__main__":
    run()
