"""keras-seq-generate: sample from a trained LM, translate with a seq2seq model.

Reads prompts (a language model) or sources (a seq2seq model) from
`--prompt` (repeatable) or `--input_file` (one per line) and prints one output
per line: the continuation, or the decoded target (a classifier prints
`label<TAB>score`). It runs the `.keras` model of `--model_dir`, or, with
`--saved_model`, an exported SavedModel (`keras-seq-export`) with TensorFlow
alone; the same flags and seed give the same text either way.

A SavedModel fixes its sampler and max_length at export: greedy runs its
`serve_text` signature, other samplers its `generate` signature, which must
have been exported with the same sampler flags.

Example:
    keras-seq-generate --model_dir=runs/char --prompt="The " --sampler=top_k \\
        --top_k=10 --temperature=0.8 --seed=1
"""

import json
import os
import random
import re
import sys

from absl import flags

from . import flag_utils

PROGRAM = "keras-seq-generate"
FLAGS = flags.FLAGS
flag_utils.define_module_flag()
SAMPLERS = ("greedy", "top_k", "top_p", "beam")
METADATA = os.path.join("assets.extra", "keras_seq_export.json")

flags.DEFINE_string("model_dir", None, "A keras-seq-train model directory.")
flags.DEFINE_string(
    "saved_model",
    None,
    "Run this exported SavedModel (a version directory, or the base directory "
    "for its highest version) instead of the .keras model.",
)
flags.DEFINE_string(
    "preset",
    None,
    "A checkpoint to generate from directly: a keras-hub preset or Hugging Face "
    "directory (gpt2 or t5), a keras-hub preset name or kaggle:// / hf:// handle "
    "(those need the network).",
)
flags.DEFINE_multi_string("prompt", [], "A prompt or source text; repeatable.")
flags.DEFINE_string("input_file", None, "A UTF-8 file with one input per line.")
flags.DEFINE_enum("sampler", "greedy", SAMPLERS, "How the next token is chosen.")
flags.DEFINE_float("temperature", 1.0, "Divides the logits.", lower_bound=0.0)
flags.DEFINE_integer("top_k", 5, "k of the top_k sampler.", lower_bound=1)
flags.DEFINE_float("top_p", 0.9, "p of the top_p sampler.", lower_bound=0.0)
flags.DEFINE_integer("num_beams", 4, "Beam width of the beam sampler.", lower_bound=1)
flags.DEFINE_integer("seed", None, "Random seed of the samplers.")
flags.DEFINE_string(
    "attention_plot",
    None,
    "Also draw the attention on the first input to this PNG: output steps "
    "against input tokens (seq2seq_attention; the last cross-attention of "
    "transformer/t5), or the last self-attention (gpt, bert). Needs "
    "--model_dir and matplotlib.",
)
flags.DEFINE_enum(
    "attention_heads", "mean", ["mean", "each"], "Heads' mean, or a panel per head."
)
flags.DEFINE_integer(
    "max_length",
    None,
    "Tokens in the buffer, prompt included (default: the run's sequence length).",
    lower_bound=2,
)


def _inputs():
    texts = list(FLAGS.prompt)
    if FLAGS.input_file:
        try:
            with open(FLAGS.input_file, encoding="utf-8") as f:
                texts += [line.rstrip("\n") for line in f if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            flag_utils.fail(PROGRAM, f"--input_file={FLAGS.input_file}: {e}")
    if not texts:
        flag_utils.fail(PROGRAM, "give --prompt or --input_file.")
    return texts


def _settings():
    """The requested sampler settings, as an export records them."""
    wanted = {"sampler": FLAGS.sampler, "temperature": FLAGS.temperature}
    extra = {"top_k": "top_k", "top_p": "top_p", "beam": "num_beams"}
    if FLAGS.sampler in extra:
        wanted[extra[FLAGS.sampler]] = getattr(FLAGS, extra[FLAGS.sampler])
    return wanted


def _version_dir(path):
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [
        int(n)
        for n in (os.listdir(path) if os.path.isdir(path) else [])
        if re.fullmatch(r"\d+", n)
    ]
    if not versions:
        flag_utils.fail(PROGRAM, f"--saved_model={path}: no SavedModel there.")
    return os.path.join(path, str(max(versions)))


def _from_saved_model(texts):
    path = _version_dir(FLAGS.saved_model)
    metadata = {}
    if os.path.isfile(os.path.join(path, METADATA)):
        with open(os.path.join(path, METADATA), encoding="utf-8") as f:
            metadata = json.load(f)
    if "serve_text" not in metadata.get("signatures", []):
        flag_utils.fail(
            PROGRAM, f"--saved_model={path}: not a keras-seq-export text export."
        )
    generation = metadata.get("generation") or {}
    if FLAGS.max_length and FLAGS.max_length != generation.get("max_length"):
        flag_utils.fail(
            PROGRAM,
            f"--max_length={FLAGS.max_length}: {path} was exported with "
            f"max_length={generation.get('max_length')}; re-export to change it.",
        )
    signature = "serve_text"
    if FLAGS.sampler != "greedy" and metadata.get("kind") != "classifier":
        signature = "generate"
        exported = {k: generation.get(k) for k in _settings()}
        if "generate" not in metadata["signatures"]:
            exported = "greedy only"
        if exported != _settings():
            flag_utils.fail(
                PROGRAM,
                f"{path} samples with {exported}; asked for {_settings()}: "
                "re-export with these sampler flags (keras-seq-export --sampler=...).",
            )

    import numpy as np
    import tensorflow as tf

    if metadata.get("tokenizer") in ("word_piece", "sentence_piece"):
        import tensorflow_text  # noqa: F401  (the tokenizer's ops)
    loaded = tf.saved_model.load(path)
    text = tf.constant(texts)
    if signature == "serve_text":
        outputs = loaded.signatures["serve_text"](text=text)
        return {k: np.asarray(v) for k, v in outputs.items()}
    seed = FLAGS.seed if FLAGS.seed is not None else random.randrange(2**31)
    outputs = loaded.signatures["generate"](text=text, seed=tf.constant(seed, tf.int32))
    return {k: np.asarray(v) for k, v in outputs.items()}


def _from_keras(texts):
    from keras_seq.export import ExportError, TextModel, load_run

    try:
        run = load_run(FLAGS.model_dir)
        text_model = TextModel(
            run,
            FLAGS.max_length,
            sampler=FLAGS.sampler,
            temperature=FLAGS.temperature,
            top_k=FLAGS.top_k,
            top_p=FLAGS.top_p,
            num_beams=FLAGS.num_beams,
        )
        _check_texts(run, text_model, texts)
        outputs = text_model.keras_outputs(texts, FLAGS.sampler, FLAGS.seed)
        if FLAGS.attention_plot:
            _attention_plot(text_model, texts[0])
        return outputs
    except (ExportError, ValueError) as e:
        flag_utils.fail(PROGRAM, str(e))


def _attention_plot(text_model, text):
    from keras_seq.diagnostics.attention import plot_run_attention
    from keras_seq.diagnostics.plots import MissingMatplotlibError

    try:
        plot_run_attention(
            text_model, text, FLAGS.attention_plot, heads=FLAGS.attention_heads
        )
    except MissingMatplotlibError as e:
        flag_utils.fail(PROGRAM, f"--attention_plot: {e}")
    except ValueError as e:
        flag_utils.fail(PROGRAM, f"--attention_plot={FLAGS.attention_plot}: {e}")
    except OSError as e:
        flag_utils.fail(PROGRAM, f"--attention_plot={FLAGS.attention_plot}: {e}")
    # On stderr: stdout holds one output per input.
    print(f"attention plot: {FLAGS.attention_plot}", file=sys.stderr)


def _where(index):
    """The flag an input came from: `--prompt='...'` or `--input_file=F`."""
    if index < len(FLAGS.prompt):
        return f"--prompt={FLAGS.prompt[index]!r}"
    return f"--input_file={FLAGS.input_file} (input {index - len(FLAGS.prompt) + 1})"


def _check_texts(run, text_model, texts):
    """Refuses a prompt the model cannot continue, or one it cannot read."""
    tokenizer = run.tokenizer
    unk = tokenizer.special_ids.get("unk")
    for index, text in enumerate(texts):
        ids = [int(i) for i in tokenizer.tokenize(text).numpy()]
        if ids and unk is not None and all(i == unk for i in ids):
            flag_utils.fail(
                PROGRAM,
                f"{_where(index)}: every token is outside the model's "
                f"{tokenizer.kind} vocabulary ({tokenizer.vocabulary_size} "
                "tokens); it would read <unk> only.",
            )
        room = text_model.max_length - 1
        if run.kind == "language_model" and len(ids) > room:
            flag_utils.fail(
                PROGRAM,
                f"{_where(index)}: {len(ids)} tokens; --max_length="
                f"{text_model.max_length} leaves room for {room} prompt tokens "
                "and one to generate. Shorten it or raise --max_length (the "
                f"model takes {run.max_sequence_length or 'any number of'} "
                "positions).",
            )


def _from_preset(texts):
    import zoo
    from zoo.pretrained.text import generate_text

    try:
        model = zoo.from_preset(FLAGS.preset, dropout=0.0)
        tokenizer = zoo.tokenizer_from_preset(FLAGS.preset)
        texts = generate_text(
            model,
            tokenizer,
            texts,
            FLAGS.max_length,
            sampler=FLAGS.sampler,
            temperature=FLAGS.temperature,
            k=FLAGS.top_k,
            p=FLAGS.top_p,
            num_beams=FLAGS.num_beams,
            seed=FLAGS.seed,
        )
    except ValueError as e:
        flag_utils.fail(PROGRAM, f"--preset={FLAGS.preset}: {e}")
    return {"text": texts}


def _decode(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def main(argv):
    if len(argv) > 1:
        flag_utils.fail(PROGRAM, f"unexpected arguments {argv[1:]}")
    flag_utils.import_user_modules(PROGRAM, FLAGS.module)
    sources = [FLAGS.model_dir, FLAGS.saved_model, FLAGS.preset]
    if sum(bool(s) for s in sources) != 1:
        flag_utils.fail(
            PROGRAM, "give exactly one of --model_dir, --saved_model and --preset."
        )
    if FLAGS.attention_plot and not FLAGS.model_dir:
        flag_utils.fail(
            PROGRAM, "--attention_plot needs --model_dir (the Keras model)."
        )
    if FLAGS.temperature <= 0 or not 0 < FLAGS.top_p <= 1:
        flag_utils.fail(PROGRAM, "--temperature must be > 0 and --top_p in (0, 1].")
    texts = _inputs()
    run_model = _from_saved_model if FLAGS.saved_model else _from_keras
    if FLAGS.preset:
        run_model = _from_preset
    outputs = run_model(texts)
    if "label" in outputs:
        for label, scores in zip(outputs["label"], outputs["scores"]):
            print(f"{_decode(label)}\t{float(max(scores)):.4f}")
    else:
        for text in outputs["text"]:
            # One output per line: newlines in a text are written as \\n.
            print(_decode(text).replace("\\", "\\\\").replace("\n", "\\n"))


def run():
    flag_utils.run(main)


if __name__ == "__main__":
    run()
