"""keras-seq-evaluate: the metrics of a trained model, as JSON.

Prints the family's metrics (loss, accuracy; perplexity and bits per
character, byte or token for language models, with `unit` saying which;
greedy-decoding exact match and BLEU for seq2seq; MSE for regression) on
stdout and writes them to `<model_dir>/metrics-<split>.json`.

`--kneser_ney_order=3` adds the bits per character of an interpolated
Kneser-Ney character 3-gram fit on the same train split: the baseline a
character-level model should beat.

Example:
    keras-seq-evaluate --model_dir=runs/seq2seq_attention-date_normalization
    keras-seq-evaluate --model_dir=runs/char --split=validation --kneser_ney_order=3
"""

import json
import os

from absl import flags

from . import flag_utils

PROGRAM = "keras-seq-evaluate"
FLAGS = flags.FLAGS
flag_utils.define_module_flag()

flags.DEFINE_string("model_dir", None, "A directory written by keras-seq-train.")
flags.DEFINE_string("dataset", None, "Dataset spec (default: the one trained on).")
flags.DEFINE_string("data_dir", None, "Where TFDS datasets live (default: the run's).")
flags.DEFINE_enum(
    "split", None, ["train", "validation", "test"], "Split (default test)."
)
flags.DEFINE_integer(
    "batch_size", None, "Batch size (default: the run's).", lower_bound=1
)
flags.DEFINE_string(
    "plot",
    None,
    "Instead of evaluating, draw the run's loss and metric curves from its "
    "TensorBoard logs to this PNG (needs matplotlib).",
)
flags.DEFINE_integer(
    "kneser_ney_order",
    0,
    "Also report the bits per character of an interpolated Kneser-Ney "
    "character n-gram of this order fit on the train split (text data; "
    "0: off), as kneser_ney_bits_per_character.",
    lower_bound=0,
)
flags.mark_flag_as_required("model_dir")


def _plot(path):
    from keras_seq.diagnostics import plots
    from keras_seq.diagnostics.tensorboard_logs import read_scalars

    logs = os.path.join(FLAGS.model_dir, "logs")
    try:
        scalars = read_scalars(logs)
        plots.plot_curves(scalars, path, title=os.path.basename(FLAGS.model_dir))
    except plots.MissingMatplotlibError as e:
        flag_utils.fail(PROGRAM, f"--plot: {e}")
    except (ValueError, OSError) as e:
        flag_utils.fail(PROGRAM, f"--plot={path}: {e}")
    print(f"curves of {sorted(scalars)}: {path}")


def main(argv):
    if len(argv) > 1:
        flag_utils.fail(PROGRAM, f"unexpected arguments {argv[1:]}")
    if FLAGS.plot:
        return _plot(FLAGS.plot)
    flag_utils.import_user_modules(PROGRAM, FLAGS.module)
    from keras_seq.training import run_dir
    from keras_seq.training.evaluation import evaluate_model_dir

    try:
        metrics, split = evaluate_model_dir(
            FLAGS.model_dir,
            FLAGS.dataset,
            FLAGS.split,
            FLAGS.data_dir,
            FLAGS.batch_size,
            kneser_ney_order=FLAGS.kneser_ney_order,
        )
    except ValueError as e:
        flag_utils.fail(PROGRAM, str(e))
    run_dir.write_json(FLAGS.model_dir, f"metrics-{split}.json", metrics)
    print(json.dumps(metrics, indent=2, sort_keys=True))


def run():
    flag_utils.run(main)


if __name__ == "__main__":
    run()
