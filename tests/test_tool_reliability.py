"""The tools' bad inputs, as a table: exit 2, one line, nothing touched.

Every case runs a tool as its command line would (flag parser and `main`),
in one process per tool (`tests/tool_runner.py`) so TensorFlow starts once.
Each asserts exit status 2, exactly one line on stderr, `<tool>: error:`
followed by text naming the flag, file or value at fault, and that the
watched `--model_dir` / `--output` trees are byte-for-byte what they were.
A few cases also run as real processes, to show that TensorFlow's start-up
logs stay out of stderr.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from tool_runner import run_cases, tree_hash

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "CI": "1"}
ENV.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the tools must be quiet on their own


def _run_tool(*args, timeout=600, check=True):
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def files(corpus, tmp_path_factory):
    """Data files and directories the cases point at; one trained run."""
    root = tmp_path_factory.mktemp("bad_input")
    f = {"root": root, "corpus": corpus}

    def write(name, content, mode="w"):
        path = root / name
        if mode == "wb":
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return str(path)

    f["one_line"] = write("one_line.txt", "just one short line\n")
    f["empty"] = write("empty.txt", "")
    f["not_utf8"] = write("latin1.txt", b"caf\xe9 au lait\nline two\n", "wb")
    f["no_tab"] = write("pairs.tsv", "a\tb\nno tab here\n")
    f["bad_csv"] = write("rows.csv", "text,label\none,two,three\n")
    f["a_file"] = write("a_file", "not a directory\n")
    f["prompts"] = write("prompts.txt", "the quick\n")
    junk = root / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("someone's notes\n")
    f["junk"] = str(junk)
    run = root / "run"
    _run_tool(
        "-m",
        "tools.train",
        "--model=char_rnn",
        f"--dataset=text:{corpus}",
        f"--model_dir={run}",
        "--steps=4",
        "--checkpoint_every=2",
        "--batch_size=8",
        "--sequence_length=32",
        "--override=hidden_dim=16",
        "--nojit_compile",
    )
    f["run"] = str(run)
    truncated = root / "truncated"
    shutil.copytree(run, truncated)
    model = truncated / "model.keras"
    model.write_bytes(model.read_bytes()[:1000])
    f["truncated"] = str(truncated)
    return f


def _run_flags(f, *extra):
    """The fixture run's flags, with `extra` appended."""
    return [
        "--model=char_rnn",
        f"--dataset=text:{f['corpus']}",
        f"--model_dir={f['run']}",
        "--steps=4",
        "--checkpoint_every=2",
        "--batch_size=8",
        "--sequence_length=32",
        "--override=hidden_dim=16",
        "--nojit_compile",
        *extra,
    ]


def _new(f):
    return str(f["root"] / "new_run")


# (id, args given the files, text the one stderr line must contain)
TRAIN = [
    ("unknown_model", lambda f: ["--model=nope"], "--model='nope'"),
    ("unknown_dataset", lambda f: ["--dataset=nope"], "Unknown dataset 'nope'"),
    ("unknown_config", lambda f: ["--dataset=arithmetic/nope"], "unknown config"),
    (
        "dataset_does_not_fit",
        lambda f: ["--model=rnn_classifier", "--dataset=date_normalization"],
        "does not fit",
    ),
    ("unknown_preset", lambda f: ["--preset=huge"], "Unknown preset 'huge'"),
    ("unknown_override", lambda f: ["--override=nope=1"], "Unknown override"),
    ("override_no_value", lambda f: ["--override=cell"], "expected key=value"),
    (
        "override_not_an_int",
        lambda f: ["--model=gpt", "--override=num_layers=abc"],
        "--override=num_layers='abc'",
    ),
    (
        "override_heads_do_not_divide",
        lambda f: [
            "--model=gpt",
            f"--dataset=text:{f['corpus']}",
            "--override=num_heads=3",
        ],
        "num_heads=3",
    ),
    (
        "override_vocabulary_too_small",
        lambda f: [
            "--model=gpt",
            f"--dataset=text:{f['corpus']}",
            "--override=vocabulary_size=1",
        ],
        "vocabulary_size=1",
    ),
    (
        "override_dropout_above_one",
        lambda f: [
            "--model=gpt",
            f"--dataset=text:{f['corpus']}",
            "--override=dropout=2",
        ],
        "--override=dropout=2",
    ),
    ("steps_zero", lambda f: ["--steps=0"], "--steps"),
    ("epochs_zero", lambda f: ["--epochs=0"], "--epochs"),
    ("batch_size_negative", lambda f: ["--batch_size=-1"], "--batch_size"),
    ("learning_rate_negative", lambda f: ["--learning_rate=-1"], "--learning_rate"),
    ("unknown_schedule", lambda f: ["--schedule=nope"], "--schedule"),
    ("unknown_tokenizer", lambda f: ["--tokenizer=nope"], "--tokenizer"),
    ("unknown_strategy", lambda f: ["--strategy=nope"], "--strategy"),
    ("unknown_flag", lambda f: ["--no_such_flag=1"], "no_such_flag"),
    ("positional_argument", lambda f: ["extra"], "unexpected arguments"),
    (
        "gpt_sequence_longer_than_positions",
        lambda f: [
            "--model=gpt",
            f"--dataset=text:{f['corpus']}",
            "--sequence_length=64",
        ],
        "--sequence_length=64",
    ),
    (
        "bert_sequence_longer_than_positions",
        lambda f: [
            "--model=bert",
            f"--dataset=text:{f['corpus']}",
            "--sequence_length=80",
        ],
        "--sequence_length=80",
    ),
    (
        "transformer_sequence_needs_room_for_eos",
        lambda f: ["--model=transformer", "--sequence_length=32"],
        "--sequence_length=32",
    ),
    (
        "gpt_copy_memory_longer_than_positions",
        lambda f: ["--model=gpt", "--dataset=copy_memory"],
        "max_sequence_length",
    ),
    (
        "tokenizer_for_id_data",
        lambda f: ["--model=char_rnn", "--dataset=copy_memory", "--tokenizer=char"],
        "--tokenizer=char",
    ),
    (
        "one_line_text",
        lambda f: ["--model=char_rnn", f"--dataset=text:{f['one_line']}"],
        "one_line.txt",
    ),
    (
        "batch_larger_than_the_data",
        lambda f: [
            "--model=char_rnn",
            f"--dataset=text:{f['corpus']}",
            "--batch_size=100000",
        ],
        "--batch_size=100000",
    ),
    (
        "missing_text_file",
        lambda f: [f"--dataset=text:{f['root']}/missing.txt", "--model=char_rnn"],
        "missing.txt: no such file",
    ),
    (
        "empty_text_file",
        lambda f: [f"--dataset=text:{f['empty']}", "--model=char_rnn"],
        "empty.txt: the file is empty",
    ),
    (
        "text_file_not_utf8",
        lambda f: [f"--dataset=text:{f['not_utf8']}", "--model=char_rnn"],
        "latin1.txt:1: not valid UTF-8",
    ),
    ("pairs_without_tab", lambda f: [f"--dataset=pairs:{f['no_tab']}"], "pairs.tsv:2"),
    (
        "labeled_csv_with_three_fields",
        lambda f: [f"--dataset=labeled:{f['bad_csv']}", "--model=rnn_classifier"],
        "rows.csv:2",
    ),
    ("init_from_missing", lambda f: ["--init_from=/no/such.keras"], "--init_from"),
    ("model_dir_is_a_file", lambda f: [f"--model_dir={f['a_file']}"], "is a file"),
    (
        "model_dir_below_a_file",
        lambda f: [f"--model_dir={f['a_file']}/run"],
        "is below a file",
    ),
    (
        "model_dir_holds_no_run",
        lambda f: [f"--model_dir={f['junk']}", "--overwrite"],
        "holds no keras-seq run",
    ),
    (
        "resume_with_another_sequence_length",
        lambda f: _run_flags(f, "--sequence_length=24"),
        "sequence_length: 32 -> 24",
    ),
    (
        "resume_with_another_override",
        lambda f: _run_flags(f, "--override=cell=gru"),
        "holds another run",
    ),
    (
        "resume_with_fewer_steps",
        lambda f: _run_flags(f, "--steps=2"),
        "steps: 4 -> 2 (fewer)",
    ),
    (
        "resume_with_another_seed",
        lambda f: _run_flags(f, "--seed=7"),
        "seed: 0 -> 7",
    ),
]

EVALUATE = [
    ("no_model_dir", lambda f: [], "model_dir"),
    (
        "missing_model_dir",
        lambda f: [f"--model_dir={f['root']}/nothing"],
        "no such directory",
    ),
    ("not_a_run", lambda f: [f"--model_dir={f['junk']}"], "no config.json"),
    (
        "truncated_model",
        lambda f: [f"--model_dir={f['truncated']}"],
        "model.keras: truncated",
    ),
    (
        "dataset_does_not_fit",
        lambda f: [f"--model_dir={f['run']}", "--dataset=date_normalization"],
        "does not fit",
    ),
    (
        "split_the_data_lacks",
        lambda f: [f"--model_dir={f['run']}", "--split=test"],
        "no split 'test'",
    ),
    ("unknown_split", lambda f: [f"--model_dir={f['run']}", "--split=dev"], "--split"),
]

EXPORT = [
    ("no_model_dir", lambda f: [], "--model_dir is required"),
    ("not_a_run", lambda f: [f"--model_dir={f['junk']}"], "no config.json"),
    (
        "truncated_model",
        lambda f: [f"--model_dir={f['truncated']}"],
        "model.keras: truncated",
    ),
    (
        "unknown_quantization",
        lambda f: [f"--model_dir={f['run']}", "--format=tflite", "--quantize=int4"],
        "--quantize=int4",
    ),
    (
        "output_is_a_file",
        lambda f: [f"--model_dir={f['run']}", f"--output={f['a_file']}"],
        "is a file",
    ),
    (
        "existing_version",
        lambda f: [f"--model_dir={f['run']}", "--version=1"],
        "exists; pass --overwrite",
    ),
    (
        "zero_temperature",
        lambda f: [f"--model_dir={f['run']}", "--temperature=0"],
        "--temperature",
    ),
    (
        "unknown_format",
        lambda f: [f"--model_dir={f['run']}", "--format=onnx"],
        "--format",
    ),
]

GENERATE = [
    ("no_model", lambda f: ["--prompt=the"], "exactly one of --model_dir"),
    (
        "two_models",
        lambda f: [
            f"--model_dir={f['run']}",
            f"--saved_model={f['run']}/export",
            "--prompt=a",
        ],
        "exactly one of --model_dir",
    ),
    ("no_prompt", lambda f: [f"--model_dir={f['run']}"], "give --prompt"),
    (
        "missing_input_file",
        lambda f: [f"--model_dir={f['run']}", "--input_file=/no/such.txt"],
        "--input_file=/no/such.txt",
    ),
    (
        "prompt_all_out_of_vocabulary",
        lambda f: [f"--model_dir={f['run']}", "--prompt=ЖЖЖ"],
        "--prompt='ЖЖЖ': every token is outside",
    ),
    (
        "prompt_longer_than_max_length",
        lambda f: [
            f"--model_dir={f['run']}",
            "--prompt=" + "the quick " * 5,
            "--max_length=20",
        ],
        "leaves room for 19 prompt tokens",
    ),
    (
        "no_saved_model_there",
        lambda f: [f"--saved_model={f['junk']}", "--prompt=the"],
        "no SavedModel",
    ),
    (
        "truncated_model",
        lambda f: [f"--model_dir={f['truncated']}", "--prompt=the"],
        "model.keras: truncated",
    ),
    (
        "max_length_one",
        lambda f: [f"--model_dir={f['run']}", "--prompt=a", "--max_length=1"],
        "--max_length",
    ),
    (
        "unknown_sampler",
        lambda f: [f"--model_dir={f['run']}", "--prompt=a", "--sampler=nope"],
        "--sampler",
    ),
]

TABLES = {"train": TRAIN, "evaluate": EVALUATE, "export": EXPORT, "generate": GENERATE}


def _watched(tool, f, args):
    watch = [f["run"], f["truncated"], f["junk"], f["a_file"]]
    if tool == "train":
        given = [a.split("=", 1)[1] for a in args if a.startswith("--model_dir=")]
        if not given:
            args.append(f"--model_dir={_new(f)}")
        if not any(a.startswith("--data_dir=") for a in args):
            args.append(f"--data_dir={f['root'] / 'tfds'}")
        watch.append(given[0] if given else _new(f))
    return args, watch


@pytest.fixture(scope="module")
def results(files):
    """Every table's cases, run once per tool."""
    out = {}
    for tool, table in TABLES.items():
        cases = []
        for _, make_args, _ in table:
            args, watch = _watched(tool, files, list(make_args(files)))
            cases.append({"args": args, "watch": watch})
        for (name, _, _), result in zip(table, run_cases(tool, cases)):
            out[(tool, name)] = result
    return out


def _cases():
    for tool, table in TABLES.items():
        for name, _, expected in table:
            yield pytest.param(tool, name, expected, id=f"{tool}-{name}")


def test_the_table_has_at_least_40_cases():
    assert sum(len(t) for t in TABLES.values()) >= 40


@pytest.mark.parametrize("tool, name, expected", list(_cases()))
def test_bad_input_exits_2_with_one_line_and_touches_nothing(
    results, tool, name, expected
):
    result = results[(tool, name)]
    assert result["traceback"] is None, result["traceback"]
    lines = result["stderr"].strip().splitlines()
    assert result["code"] == 2, result
    assert len(lines) == 1, result["stderr"]
    assert lines[0].startswith(f"keras-seq-{tool}: error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert result["changed"] == [], result["changed"]


def test_a_real_process_prints_only_the_one_line(files):
    """No TensorFlow or absl start-up lines around the error."""
    for args, expected in [
        (
            [
                "tools.train",
                "--model=gpt",
                f"--dataset=text:{files['corpus']}",
                "--sequence_length=64",
            ],
            "--sequence_length=64",
        ),
        (["tools.export", "--model_dir=/no/such/run"], "no such directory"),
    ]:
        result = _run_tool("-m", *args, check=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert expected in result.stderr, result.stderr


@pytest.mark.parametrize("tool", ["train", "evaluate", "export", "generate"])
def test_help_lists_the_tools_flags(tool):
    """As the installed command runs it (the tool is not `__main__`)."""
    result = _run_tool(
        "-c",
        f"import sys; sys.argv = ['keras-seq-{tool}', '--help']; "
        f"from tools import {tool}; {tool}.run()",
    )
    listed = [line for line in result.stdout.splitlines() if line.startswith("  --")]
    assert "  --model_dir: " in result.stdout or tool == "generate", result.stdout
    assert "--verbosity" in result.stdout
    assert len(listed) >= 5, result.stdout


# --- The run directory: resume rules and faults ------------------------------


def _tree(path):
    return tree_hash(str(path))


def _copy(files, name):
    target = files["root"] / name
    shutil.copytree(files["run"], target)
    return target


def _flags_for(files, model_dir, *extra):
    flags = _run_flags(files, *extra)
    return [
        a if not a.startswith("--model_dir=") else f"--model_dir={model_dir}"
        for a in flags
    ]


@pytest.fixture(scope="module")
def resumed(files):
    """Runs that resume copies of the fixture run, in one train process."""
    dirs = {
        name: _copy(files, name)
        for name in ("same", "more", "overwrite", "corrupt", "truncated_model")
    }
    before = {name: _tree(path) for name, path in dirs.items()}
    # The newest checkpoint (step 4) is torn: its data file holds garbage.
    for data in (dirs["corrupt"] / "checkpoints").glob("ckpt-4.data-*"):
        data.write_bytes(b"torn")
    keras_file = dirs["truncated_model"] / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:500])
    cases = [
        {"args": _flags_for(files, dirs["same"])},
        {"args": _flags_for(files, dirs["more"], "--steps=6")},
        {"args": _flags_for(files, dirs["overwrite"], "--seed=7", "--overwrite")},
        {"args": _flags_for(files, dirs["corrupt"], "--steps=6", "--noexport")},
        {"args": _flags_for(files, dirs["truncated_model"], "--noexport")},
    ]
    results = dict(zip(dirs, run_cases("train", cases)))
    return dirs, before, results


def _ok(result):
    assert result["traceback"] is None, result["traceback"]
    assert result["code"] == 0, result["stderr"][-2000:]


def _metrics(model_dir):
    return json.loads((model_dir / "metrics.json").read_text())


def test_the_same_flags_on_a_finished_run_change_nothing(resumed):
    dirs, before, results = resumed
    _ok(results["same"])
    assert "nothing to do" in results["same"]["stdout"]
    assert _tree(dirs["same"]) == before["same"]


def test_more_steps_continue_and_export_the_next_version(resumed):
    dirs, _, results = resumed
    _ok(results["more"])
    assert "Resuming from step 4 of 6" in results["more"]["stdout"]
    assert _metrics(dirs["more"])["steps"] == 6
    assert (dirs["more"] / "export" / "2" / "saved_model.pb").is_file()
    assert (dirs["more"] / "export" / "1" / "saved_model.pb").is_file()


def test_overwrite_starts_the_run_over(resumed):
    dirs, _, results = resumed
    _ok(results["overwrite"])
    config = json.loads((dirs["overwrite"] / "config.json").read_text())
    assert config["seed"] == 7 and _metrics(dirs["overwrite"])["steps"] == 4
    assert sorted(os.listdir(dirs["overwrite"] / "export")) == ["1"]


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(resumed):
    dirs, _, results = resumed
    _ok(results["corrupt"])
    out = results["corrupt"]["stdout"]
    assert "ckpt-4" in out and "using the previous one" in out, out
    assert "Resuming from step 2 of 6" in out
    assert _metrics(dirs["corrupt"])["steps"] == 6


def test_a_truncated_model_keras_is_rebuilt_from_the_checkpoint(resumed):
    dirs, _, results = resumed
    _ok(results["truncated_model"])
    from keras_seq.training import run_dir

    assert run_dir.model_problem(dirs["truncated_model"]) is None
    assert _metrics(dirs["truncated_model"])["steps"] == 4


def test_the_main_jobs_export_is_the_verified_text_export(files):
    """export/1 of keras-seq-train is keras-seq-export's SavedModel."""
    from keras_seq.export.saved_model import read_metadata

    metadata = read_metadata(os.path.join(files["run"], "export", "1"))
    assert metadata["signatures"] == ["serving_default", "serve_text"]
    assert metadata["verification"]["serving_default_max_diff"] < 1e-4
    assert metadata["verification"]["serve_text_examples"]


def _kill_when(process, ready, deadline_s=300):
    import signal
    import time

    deadline = time.time() + deadline_s
    while not ready() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    found = ready()
    process.send_signal(signal.SIGKILL)
    process.wait()
    return found


def test_sigkill_during_checkpoint_writes_keeps_a_usable_checkpoint(files):
    """Checkpoints every step: the kill lands in or right after a write."""
    model_dir = files["root"] / "killed_in_checkpoint"
    flags = _flags_for(files, model_dir, "--steps=400", "--checkpoint_every=1")
    flags.append("--noexport")
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.train", *flags],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpts = model_dir / "checkpoints"
    assert _kill_when(process, lambda: len(list(ckpts.glob("*.index"))) >= 2), (
        "no checkpoints before the kill"
    )
    assert not (model_dir / "metrics.json").exists(), "finished before the kill"
    result = _run_tool("-m", "tools.train", *flags)
    assert "Resuming from step" in result.stdout
    assert _metrics(model_dir)["steps"] == 400


def test_sigkill_during_the_export_leaves_no_export_then_resumes_it(files):
    model_dir = _copy(files, "killed_in_export")
    shutil.rmtree(model_dir / "export")
    (model_dir / "model.keras").unlink()
    flags = _flags_for(files, model_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.train", *flags],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    export = model_dir / "export"
    assert _kill_when(process, lambda: export.is_dir() and any(export.iterdir()))
    assert not (export / "1").exists()
    result = _run_tool("-m", "tools.train", *flags)
    assert "Traceback" not in result.stderr
    assert sorted(n for n in os.listdir(export) if not n.startswith(".")) == ["1"]
    assert (export / "1" / "saved_model.pb").is_file()
