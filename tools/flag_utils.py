"""What every keras-seq absl tool shares: strict flag parsing, one-line errors."""

import importlib
import importlib.util
import os
import sys

from absl import app, flags


def parse_flags_or_exit(argv):
    """absl flag parsing that exits 2 with one line on a bad flag."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        program = argv[0].rsplit("/", 1)[-1]
        sys.stderr.write(f"{program}: error: {e}\n")
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
    """Prints `program: error: message` and exits with status 2."""
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
        if not sep or not key:
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


def run(main):
    """`app.run(main)` with our flag parser."""
    app.run(main, flags_parser=parse_flags_or_exit)
