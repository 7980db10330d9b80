"""keras-seq-benchmark: our layers and models against their references.

Runs the sections of `keras_seq.benchmarks` (recurrent layers, attention,
generation, training throughput and MFU, TFLite deployment), prints one line
per comparison, and writes the JSON document and the Markdown table. Every row
is `ours / reference` measured side by side in this process.

Example:
    keras-seq-benchmark                       # full run -> docs/benchmarks.*
    keras-seq-benchmark --quick --output_json=/tmp/b.json --output_md=
    keras-seq-benchmark --sections=recurrent,attention --repeats=11
    keras-seq-benchmark --sizes=published --output_json=docs/benchmarks_published.json \
        --output_md=/tmp/published.md  # table: docs/benchmarks.md "Published sizes"
"""

from absl import flags

from keras_seq.benchmarks import SECTIONS

from . import flag_utils

PROGRAM = "keras-seq-benchmark"
FLAGS = flags.FLAGS

flags.DEFINE_bool("quick", False, "Tiny sizes: a smoke test of every section.")
flags.DEFINE_enum(
    "sizes",
    "reduced",
    ["reduced", "published"],
    "reduced: the quick or full sizes; published: BERT-base, GPT-2 124M, "
    "T5-small, LSTM/GRU at batch 32, 256 units, T=512 (tens of minutes on 2 "
    "cores; sections without published sizes are skipped).",
)
flags.DEFINE_list(
    "sections", list(SECTIONS), f"Comma-separated sections, of {', '.join(SECTIONS)}."
)
flags.register_validator(
    "sections",
    lambda names: bool(names) and set(names) <= set(SECTIONS),
    message=f"--sections takes a non-empty list of {', '.join(SECTIONS)}",
)
flags.DEFINE_integer(
    "warmup", None, "Untimed calls before timing (default per size).", lower_bound=1
)
flags.DEFINE_integer(
    "repeats", None, "Timed calls, median reported (default per size).", lower_bound=1
)
flags.DEFINE_string("output_json", "docs/benchmarks.json", "JSON output ('': none).")
flags.DEFINE_string("output_md", "docs/benchmarks.md", "Markdown output ('': none).")


def main(argv):
    if len(argv) > 1:
        flag_utils.fail(PROGRAM, f"unexpected arguments {argv[1:]}")
    from keras_seq.benchmarks import report, suite

    document = suite.run(
        quick=FLAGS.quick,
        sections=FLAGS.sections,
        warmup=FLAGS.warmup,
        repeats=FLAGS.repeats,
        sizes=FLAGS.sizes,
        log=lambda line: print(line, flush=True),
    )
    print(report.table(document["rows"]))
    for failure in document["failures"]:
        print(f"FAILED {failure['name']} {failure['setting']}: {failure['error']}")
    if FLAGS.output_json:
        report.write_json(FLAGS.output_json, document)
        print(f"wrote {FLAGS.output_json}")
    if FLAGS.output_md:
        report.write_markdown(FLAGS.output_md, document)
        print(f"wrote {FLAGS.output_md}")


def run():
    flag_utils.run(main)


if __name__ == "__main__":
    run()
