"""Atomic writes: build an artifact in a temporary directory, then rename it.

A crash (or a failed verification) leaves no half-written artifact under the
final name: the temporary sibling is named `.<name>.tmp-<random>`, which TF
Serving (numeric version directories only) and our loaders ignore, and it is
removed when the `with` block raises.
"""

import contextlib
import os
import shutil
import uuid

from keras_seq.export.model_dir import ExportError


def check_writable(path, overwrite):
    """Raises `ExportError` if `path` exists and `overwrite` is False."""
    if os.path.lexists(path) and not overwrite:
        raise ExportError(
            f"{path} exists; pass --overwrite to replace it (it was left as is)."
        )


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a fresh temporary directory that becomes `path` on success.

    Args:
        path: the final directory.
        overwrite: replace an existing `path`; otherwise it is an
            `ExportError`, raised before anything is written.

    Example:

    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> with atomic_directory(os.path.join(root, "1")) as tmp:
    ...     open(os.path.join(tmp, "a.txt"), "w").close()
    >>> os.listdir(root)
    ['1']
    """
    path = os.path.abspath(os.fspath(path))
    check_writable(path, overwrite)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    try:
        yield tmp
        check_writable(path, overwrite)  # another writer may have come first
        if os.path.lexists(path):
            old = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(path, old)
            os.rename(tmp, path)
            _remove(old)
        else:
            os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            _remove(tmp)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)
