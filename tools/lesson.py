"""keras-seq-lesson: the course's RNN lesson, measured.

Usage: keras-seq-lesson SUBCOMMAND [--quick] [--output_dir=DIR] [flags]

Subcommands (each writes SUBCOMMAND.png, .json, .csv and .md to --output_dir):

  gradients   ||dL/dh_t|| and ||dh_T/dh_t|| against T - t for SimpleRNN,
              LSTM and GRU on the adding problem, at init and after training.
  exploding   a SimpleRNN with W_hh scaled to spectral radius > 1, trained by
              SGD without and with --clipnorm; the NaN guard stops the first.
  adding      test MSE of SimpleRNN, LSTM, GRU on the adding problem for
              T in {50, 100, 200, 400} at the same budget (--seeds).
  truncation  truncated-BPTT windows on copy_memory.
  all         the four, then SUBCOMMAND pages joined into README.md.

--quick runs a small setting (well under 3 minutes on 2 CPU cores); without
it, the full setting whose results are in docs/lessons/ (regenerate them with
`keras-seq-lesson all --output_dir=docs/lessons`).

Example:
    keras-seq-lesson exploding --quick --output_dir=/tmp/lesson
"""

import os

from absl import flags, logging

from . import flag_utils

PROGRAM = "keras-seq-lesson"
FLAGS = flags.FLAGS
SUBCOMMANDS = ("gradients", "exploding", "adding", "truncation")

flags.DEFINE_bool("quick", False, "Run the small setting (CI).")
flags.DEFINE_string("output_dir", "lesson", "Where the PNG, JSON, CSV, MD go.")
flags.DEFINE_string("data_dir", None, "Where the datasets are prepared.")
flags.DEFINE_integer(
    "seed", 0, "Seed of weights and data (gradients, exploding, truncation)."
)
flags.DEFINE_list("seeds", ["0"], "Seeds of the adding table (comma-separated).")
flags.DEFINE_float(
    "clipnorm", 1.0, "exploding: global clipnorm of the clipped run.", lower_bound=0.0
)
flags.DEFINE_float(
    "spectral_radius", 1.5, "exploding: rho(W_hh) of the SimpleRNN.", lower_bound=0.0
)

INTRO = """# The RNN lesson, measured

The course's first section (vanilla RNN, backpropagation through time,
vanishing and exploding gradients) and the reason for LSTM and GRU, as
numbers and pictures from this package (`keras_seq.diagnostics`).
Regenerate everything on this page with

    keras-seq-lesson all --output_dir=docs/lessons

"""


def _seeds():
    try:
        seeds = tuple(int(s) for s in FLAGS.seeds)
    except ValueError:
        flag_utils.fail(PROGRAM, f"--seeds={','.join(FLAGS.seeds)}: integers only.")
    if not seeds:
        flag_utils.fail(PROGRAM, "--seeds: give at least one seed.")
    return seeds


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) != 2 or argv[1] not in SUBCOMMANDS + ("all",):
        flag_utils.fail(
            PROGRAM,
            f"give one subcommand of {list(SUBCOMMANDS) + ['all']}, got "
            f"{argv[1:] or 'none'}.",
        )
    if FLAGS.clipnorm <= 0:
        flag_utils.fail(PROGRAM, f"--clipnorm={FLAGS.clipnorm}: must be > 0.")
    seeds = _seeds()
    from keras_seq.diagnostics import lesson
    from keras_seq.diagnostics.plots import MissingMatplotlibError

    runs = {
        "gradients": lambda: lesson.gradients(
            FLAGS.output_dir, FLAGS.quick, FLAGS.seed, FLAGS.data_dir
        ),
        "exploding": lambda: lesson.exploding(
            FLAGS.output_dir,
            FLAGS.quick,
            FLAGS.seed,
            FLAGS.data_dir,
            spectral_radius=FLAGS.spectral_radius,
            clipnorm=FLAGS.clipnorm,
        ),
        "adding": lambda: lesson.adding(
            FLAGS.output_dir, FLAGS.quick, seeds, FLAGS.data_dir
        ),
        "truncation": lambda: lesson.truncation(
            FLAGS.output_dir, FLAGS.quick, FLAGS.seed, FLAGS.data_dir
        ),
    }
    names = SUBCOMMANDS if argv[1] == "all" else (argv[1],)
    try:
        for name in names:
            runs[name]()
            stem = os.path.join(FLAGS.output_dir, name)
            print(f"{name}: wrote {stem}.{{png,json,csv,md}}")
    except MissingMatplotlibError as e:
        flag_utils.fail(PROGRAM, str(e))
    if argv[1] == "all":
        pages = [INTRO]
        for name in SUBCOMMANDS:
            with open(
                os.path.join(FLAGS.output_dir, f"{name}.md"), encoding="utf-8"
            ) as f:
                pages.append(f"## {name}\n\n{f.read()}")
        path = os.path.join(FLAGS.output_dir, "README.md")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write("\n\n".join(pages))
        os.replace(path + ".tmp", path)
        print(f"all: wrote {path}")


def run():
    flag_utils.run(main)


if __name__ == "__main__":
    run()
