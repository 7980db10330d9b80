"""What every keras-seq absl tool shares: strict flag parsing, `--help` that
lists the tool's flags, one-line errors, and quiet TensorFlow start-up."""

import importlib
import importlib.util
import os
import sys

from absl import app, flags, logging

HELP_FLAGS = ("--help", "-help", "--helpshort", "-?", "-h")
VERBOSITY_HELP = (
    "  --verbosity: -1 (default) keeps TensorFlow's C++ and absl start-up logs "
    "out of the output; 0 (INFO) or more shows them.\n"
    "  --helpfull: every flag, the libraries' included."
)


def _program(argv):
    return os.path.basename(argv[0]) if argv else "keras-seq"


def print_help(module_name, argv):
    """The tool's docstring and its own flags, on stdout."""
    module = sys.modules.get(module_name)
    doc = (getattr(module, "__doc__", None) or "").strip()
    # absl files the flags of the `__main__` module under sys.argv[0].
    key = sys.argv[0] if module_name == "__main__" else module_name
    print(f"usage: {_program(argv)} [flags]\n")
    if doc:
        print(doc + "\n")
    print("flags:")
    print(flags.FLAGS.module_help(key) or "  (none)")
    print(VERBOSITY_HELP)


def parse_flags_or_exit(argv, module_name=None):
    """absl flag parsing that exits 2 with one line on a bad flag."""
    program = _program(argv)
    if module_name and any(a in HELP_FLAGS for a in argv[1:]):
        print_help(module_name, argv)
        sys.exit(0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        message = " ".join(str(e).split())
        sys.stderr.write(f"{program}: error: {message}\n")
        sys.exit(2)


def define_module_flag():
    """Defines `--module`, the user modules a tool imports before it runs.

    A module registers its own zoo families (`zoo.register`) when imported,
    so `--module=my_models --model=my_family` trains a family defined outside
    this package, and evaluate/export/generate load its model_dir.
    """
    if "module" in flags.FLAGS:  # another tool of this process defined it
        return
    flags.DEFINE_multi_string(
        "module",
        [],
        "A Python module to import first (dotted name on sys.path, or a .py "
        "file), e.g. one that calls zoo.register(...); repeatable.",
    )


def import_user_modules(program, modules):
    """Imports each of `modules`; exits 2 with one line if one fails."""
    for name in modules or []:
        try:
            if name.endswith(".py"):
                if not os.path.isfile(name):
                    raise ImportError(f"no such file {name!r}")
                module_name = os.path.splitext(os.path.basename(name))[0]
                spec = importlib.util.spec_from_file_location(module_name, name)
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(name)
        except Exception as e:  # the user's code: any error is reported
            fail(program, f"--module={name}: cannot import it: {type(e).__name__}: {e}")


def fail(program, message):
    """Prints `program: error: message` (one line) and exits with status 2."""
    message = " ".join(str(message).split())
    sys.stderr.write(f"{program}: error: {message}\n")
    sys.exit(2)


def parse_overrides(items):
    """["num_layers=2", "cell=gru", "dropout=0.1"] -> typed dict.

    Values are read as int, float, bool (`true`/`false`) or `none`, else kept
    as strings.
    """
    overrides = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--override={item!r}: expected key=value")
        overrides[key.strip()] = _typed(raw.strip())
    return overrides


def _typed(raw):
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def verbose():
    """Whether the user asked for logs (`--verbosity` given)."""
    return flags.FLAGS["verbosity"].present > 0


def silence_native_stderr():
    """Points file descriptor 2 at /dev/null, and `sys.stderr` at the real one.

    TensorFlow's C++ libraries (and XLA, oneDNN) log through absl straight to
    file descriptor 2, before and regardless of `TF_CPP_MIN_LOG_LEVEL`; Python
    writes (our one-line errors, warnings, tracebacks) still reach stderr.
    """
    global _silenced
    if _silenced:
        return
    sys.stderr.flush()
    real = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(real, "w", buffering=1, errors="backslashreplace")
    _silenced = True


_silenced = False


def start_tensorflow():
    """Imports TensorFlow, Keras and keras_seq; quiet unless `--verbosity`."""
    quiet = not verbose()
    if quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.set_verbosity(logging.ERROR)
        silence_native_stderr()
    import tensorflow as tf

    import keras_seq  # noqa: F401
    import zoo  # noqa: F401

    if quiet:
        import tensorflow_datasets as tfds

        tf.get_logger().setLevel("ERROR")
        tfds.disable_progress_bar()  # preparing an embedded dataset: no bars


def run(main):
    """`app.run(main)` with our flag parser, `--help` and quiet start-up."""
    module_name = main.__module__

    def parser(argv):
        return parse_flags_or_exit(argv, module_name)

    def with_tensorflow(argv):
        start_tensorflow()
        return main(argv)

    app.run(with_tensorflow, flags_parser=parser)
