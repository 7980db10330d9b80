"""What every keras-seq absl tool shares: strict flag parsing, one-line errors."""

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
