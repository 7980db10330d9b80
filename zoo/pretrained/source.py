"""Where a checkpoint comes from: a local directory or a keras-hub handle.

`Source(source)` gives the files of a checkpoint by name. A local directory is
read in place. Anything else (a keras-hub preset name such as
`"gpt2_base_en"`, a `kaggle://...` or `hf://owner/name` handle) is resolved by
keras-hub's own downloader and cache, file by file; that needs the network.
"""

import json
import os

KERAS_HUB = "keras_hub"
TRANSFORMERS = "transformers"


class Source:
    """The files of one checkpoint.

    Args:
        source: str, a local directory, a keras-hub preset name or a
            `kaggle://` / `hf://` handle.

    Example:
        >>> Source("/no/such/dir")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ValueError: ...
    """

    def __init__(self, source):
        if not isinstance(source, (str, os.PathLike)) or not str(source):
            raise ValueError(
                f"A checkpoint source must be a directory, a keras-hub preset name "
                f"or a kaggle:// / hf:// handle; got {source!r}."
            )
        self.source = str(source)
        self.is_local = "://" not in self.source and (
            os.path.isabs(self.source)
            or self.source.startswith(".")
            or os.sep in self.source
            or os.path.exists(self.source)
        )
        if self.is_local and not os.path.isdir(self.source):
            raise ValueError(
                f"Checkpoint directory {self.source!r} does not exist (or is not a "
                "directory)."
            )

    def __str__(self):
        return self.source

    def has(self, name):
        """Whether the checkpoint holds the file `name`."""
        if self.is_local:
            return os.path.isfile(os.path.join(self.source, name))
        try:
            self.path(name)
        except ValueError:
            return False
        return True

    def path(self, name):
        """The local path of file `name` (downloaded first for a handle)."""
        if self.is_local:
            path = os.path.join(self.source, name)
            if not os.path.isfile(path):
                raise ValueError(f"Checkpoint {self.source!r}: missing file {name!r}.")
            return path
        from keras_hub.src.utils.preset_utils import get_file

        try:
            return get_file(self.source, name)
        except FileNotFoundError as e:
            raise ValueError(
                f"Checkpoint {self.source!r}: missing file {name!r}."
            ) from e

    def json(self, name):
        """The parsed JSON file `name`."""
        path = self.path(name)
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"Checkpoint {self.source!r}: {name} is not valid JSON ({e})."
            ) from e

    def format(self):
        """`"keras_hub"` or `"transformers"`, from `config.json`."""
        config = self.json("config.json")
        if "registered_name" in config:
            return KERAS_HUB
        if "model_type" in config:
            return TRANSFORMERS
        raise ValueError(
            f"Checkpoint {self.source!r}: config.json is neither a keras-hub preset "
            "config (no 'registered_name') nor a Hugging Face config (no "
            "'model_type')."
        )
