"""keras-seq-train: train any zoo model on any dataset, resumably.

With no flags it trains the default model (seq2seq with Bahdanau attention) on
the embedded `date_normalization` dataset, evaluates it on the test split,
exports a verified SavedModel (what keras-seq-export writes) into
<model_dir>/export/N, and prints where everything went.

Everything is checked before anything is written; a bad request exits with
status 2 and one line, and leaves --model_dir as it was. The sequence length
defaults per family and never exceeds what the model's positions take.

A --model_dir that already holds a run:
  - the same flags resume it from its latest checkpoint (a finished run with
    nothing missing is left as is);
  - more --steps (or --epochs) continue training it; the new model is
    exported as the next export/N;
  - anything else (another model, preset, override, dataset, tokenizer,
    sequence length, batch size, optimizer setting or seed; fewer steps) is
    refused unless --overwrite, which deletes the old run first;
  - a non-empty directory without a config.json is never written to.

During training it evaluates the validation split every `--validate_every`
steps and keeps the best weights (`--validation_metric`, `--early_stopping`).

--steps, --batch_size, --learning_rate, --schedule, --weight_decay and
--sequence_length default to what the family chose for the preset, from
measurements or the paper (e.g. char_rnn --preset=small: 1000 steps of 32
windows of 50 characters at 6e-3; gpt --preset=gpt2: 6e-4, cosine), or for
fine-tuning an --init_from checkpoint (bert: 5e-5, batch 32, as in the paper),
else to the tool's own defaults (600, 128, 3e-3, constant, 0); config.json
records the values used.

Fine-tuning a pretrained checkpoint (the model and tokenizer are the
checkpoint's; see docs/pretrained.md):
    keras-seq-train --init_from=./gpt2_dir --dataset=text:corpus.txt \\
        --steps=200 --learning_rate=5e-5 --model_dir=runs/gpt2-ft

Example:
    keras-seq-train --model=char_rnn --dataset=text:corpus.txt --steps=500 \\
        --model_dir=runs/char --override=cell=gru --override=num_layers=2
"""

import json
import os

from absl import flags

from . import flag_utils

PROGRAM = "keras-seq-train"
FLAGS = flags.FLAGS
flag_utils.define_module_flag()

flags.DEFINE_string(
    "model", "seq2seq_attention", "Zoo model family (zoo.list_models())."
)
flags.DEFINE_string("preset", "tiny", "Preset of the family (zoo.presets(model)).")
flags.DEFINE_multi_string(
    "override", [], "key=value replacing a preset hyperparameter; repeatable."
)
flags.DEFINE_string(
    "dataset",
    "date_normalization",
    "Embedded name, text:PATH, pairs:PATH, labeled:PATH or tfds:NAME.",
)
flags.DEFINE_string("data_dir", None, "Where TFDS datasets are prepared and read.")
flags.DEFINE_string(
    "model_dir", None, "Output directory (default runs/<model>-<dataset>)."
)
# --steps, --batch_size, --learning_rate, --schedule and --weight_decay default
# to what the family chose for the preset (its `training_defaults` fact; from
# an --init_from checkpoint, its `fine_tuning_defaults`), else to the tool's own
# defaults (keras_seq.training.trainer.TOOL_DEFAULTS).
_CHOSEN = "default: the family's choice for the preset, else"
flags.DEFINE_integer(
    "steps",
    None,
    f"Training steps (ignored when --epochs is set; {_CHOSEN} 600).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "epochs", None, "Passes over the training split (overrides --steps).", lower_bound=1
)
flags.DEFINE_integer(
    "batch_size", None, f"Global batch size ({_CHOSEN} 128).", lower_bound=1
)
flags.DEFINE_float(
    "learning_rate", None, f"Peak learning rate ({_CHOSEN} 3e-3).", lower_bound=0.0
)
flags.DEFINE_enum(
    "schedule",
    None,
    ["constant", "warmup_rsqrt", "cosine"],
    f"Learning-rate schedule ({_CHOSEN} constant).",
)
flags.DEFINE_float(
    "weight_decay",
    None,
    "Decoupled weight decay (AdamW; biases and norms are not decayed; "
    f"{_CHOSEN} 0: Adam).",
    lower_bound=0.0,
)
flags.DEFINE_integer(
    "warmup_steps", None, "Warm-up steps (default 10% of training).", lower_bound=1
)
flags.DEFINE_float(
    "clipnorm", 1.0, "Gradient clipping by norm (0: off).", lower_bound=0.0
)
flags.DEFINE_integer("seed", 0, "Seed for weights, shuffling and dropout.")
flags.DEFINE_bool("mixed_precision", False, "Train under the mixed_float16 policy.")
flags.DEFINE_bool("jit_compile", True, "Compile the train step with XLA.")
flags.DEFINE_enum(
    "strategy",
    "default",
    ["default", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy; multi_worker: run one process per worker, each with "
    "TF_CONFIG set, all with the same flags and a shared --model_dir; tpu: the "
    "TPU that TPUClusterResolver finds (TPU_NAME or a TPU VM).",
)
flags.DEFINE_string(
    "init_from",
    None,
    "A .keras model or .weights.h5 file to start from, or a pretrained "
    "checkpoint to fine-tune: a keras-hub preset or Hugging Face directory "
    "(gpt2, bert, t5), a keras-hub preset name or a kaggle:// / hf:// handle "
    "(those need the network); --model defaults to its family and its "
    "tokenizer is saved in --model_dir.",
)
flags.DEFINE_integer(
    "checkpoint_every", 250, "Steps between checkpoints.", lower_bound=1
)
flags.DEFINE_enum(
    "tokenizer",
    "auto",
    ["auto", "char", "byte", "word_piece", "sentence_piece"],
    "Tokenizer for text datasets (auto: the data's own vocabulary, else characters).",
)
flags.DEFINE_integer(
    "vocabulary_size",
    None,
    "Vocabulary size for trained subword tokenizers.",
    lower_bound=4,
)
flags.DEFINE_integer(
    "sequence_length",
    None,
    "Window or maximum length (default per family).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "gradient_stats_every",
    0,
    "Log gradient norms (per layer, global before/after clipping, BPTT through "
    "time) to logs/gradients every N steps, warning once on vanishing or "
    "exploding gradients (0: off).",
    lower_bound=0,
)
flags.DEFINE_bool(
    "export",
    True,
    "Export a verified SavedModel into model_dir/export/N (as keras-seq-export).",
)
flags.DEFINE_bool(
    "overwrite",
    False,
    "Replace the run in --model_dir when the flags do not resume it.",
)
flags.DEFINE_integer(
    "validate_every",
    100,
    "Steps between evaluations on the validation split, also made at the start "
    "and the end (0: no validation, the last weights are kept).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "validation_batches",
    8,
    "Batches of the validation split each evaluation reads (0: all of it).",
    lower_bound=0,
)
flags.DEFINE_string(
    "validation_metric",
    "auto",
    "Metric the kept model is the best of (auto: the family's, e.g. loss for "
    "language models, exact_match for seq2seq, accuracy for classifiers).",
)
flags.DEFINE_integer(
    "early_stopping",
    None,
    "Stop after this many evaluations without a better validation metric.",
    lower_bound=1,
)
flags.DEFINE_float(
    "validation_fraction",
    None,
    "text:/pairs:/labeled: files: the fraction held out for validation "
    "(default 0.1); kept in config.json.",
)


def main(argv):
    if len(argv) > 1:
        flag_utils.fail(PROGRAM, f"unexpected arguments {argv[1:]}")
    flag_utils.import_user_modules(PROGRAM, FLAGS.module)
    from keras_seq.training import run_dir
    from keras_seq.training.checkpointer import NonFiniteLossError
    from keras_seq.training.trainer import (
        TrainConfig,
        TrainError,
        is_checkpoint,
        train,
    )

    try:
        overrides = flag_utils.parse_overrides(FLAGS.override)
    except ValueError as e:
        flag_utils.fail(PROGRAM, str(e))
    dataset_tag = FLAGS.dataset.replace(":", "_").replace("/", "_").strip("_")
    # A checkpoint to fine-tune decides the family unless --model is given.
    model = FLAGS.model
    if is_checkpoint(FLAGS.init_from) and not FLAGS["model"].present:
        model = None
    config = TrainConfig(
        model=model,
        preset=FLAGS.preset,
        overrides=overrides,
        dataset=FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        model_dir=FLAGS.model_dir
        or os.path.join("runs", f"{model or 'pretrained'}-{dataset_tag}"),
        steps=FLAGS.steps,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        schedule=FLAGS.schedule,
        warmup_steps=FLAGS.warmup_steps,
        clipnorm=FLAGS.clipnorm or None,
        weight_decay=FLAGS.weight_decay,
        seed=FLAGS.seed,
        mixed_precision=FLAGS.mixed_precision,
        jit_compile=FLAGS.jit_compile,
        strategy=FLAGS.strategy,
        init_from=FLAGS.init_from,
        checkpoint_every=FLAGS.checkpoint_every,
        tokenizer=FLAGS.tokenizer,
        vocabulary_size=FLAGS.vocabulary_size,
        sequence_length=FLAGS.sequence_length,
        export=FLAGS.export,
        gradient_stats_every=FLAGS.gradient_stats_every,
        validate_every=FLAGS.validate_every,
        validation_batches=FLAGS.validation_batches,
        validation_metric=FLAGS.validation_metric,
        early_stopping=FLAGS.early_stopping,
        validation_fraction=FLAGS.validation_fraction,
        overwrite=FLAGS.overwrite,
    )
    try:
        metrics = train(config)
    except (TrainError, NonFiniteLossError) as e:
        flag_utils.fail(PROGRAM, str(e))
    print(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"model_dir: {os.path.abspath(config.model_dir)}")
    versions = run_dir.export_versions(run_dir.path(config.model_dir, run_dir.EXPORT))
    names = [
        run_dir.CONFIG,
        run_dir.MODEL,
        run_dir.METRICS,
        run_dir.TOKENIZER,
        run_dir.CHECKPOINTS,
        run_dir.BEST,
        run_dir.LOGS,
    ] + ([f"{run_dir.EXPORT}/{versions[-1]}"] if versions else [])
    for name in names:
        path = os.path.join(config.model_dir, name)
        if os.path.exists(path):
            print(f"  {name:13s} {os.path.abspath(path)}")


def run():
    flag_utils.run(main)


if __name__ == "__main__":
    run()
