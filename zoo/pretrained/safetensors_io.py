"""Reading and writing `.safetensors` checkpoints (single file or sharded).

A Hugging Face checkpoint stores its tensors in `model.safetensors`, or in
shards listed by `model.safetensors.index.json` (`{"weight_map": {name:
file}}`). Tensors may be float32, float16 or bfloat16; they are read as
float32 numpy arrays. Shapes are read from the headers first, so a checkpoint
that does not fit the model is rejected before any tensor data is read.
"""

import json
import os

import numpy as np

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
FLOAT_DTYPES = ("F32", "F16", "BF16")


def _safetensors():
    try:
        import safetensors
    except ImportError as e:  # pragma: no cover (a dependency of keras-seq)
        raise ImportError(
            "Reading .safetensors checkpoints needs the `safetensors` package: "
            "pip install safetensors."
        ) from e
    return safetensors


class SafetensorsReader:
    """The tensors of a checkpoint, by name, with an optional name prefix.

    Args:
        source: a `zoo.pretrained.source.Source`.
        strip_prefixes: prefixes removed from stored names (e.g.
            `"transformer."` of `GPT2LMHeadModel`).
    """

    def __init__(self, source, strip_prefixes=()):
        safetensors = _safetensors()
        self.source = source
        if source.has(INDEX_FILE):
            weight_map = source.json(INDEX_FILE).get("weight_map")
            if not isinstance(weight_map, dict):
                raise ValueError(
                    f"Checkpoint {source}: {INDEX_FILE} has no 'weight_map'."
                )
            files = sorted(set(weight_map.values()))
        elif source.has(SINGLE_FILE):
            files = [SINGLE_FILE]
        else:
            raise ValueError(
                f"Checkpoint {source}: missing file {SINGLE_FILE!r} (or a sharded "
                f"{INDEX_FILE!r})."
            )
        self._handles = {}
        self._location = {}  # our name -> (file, stored name)
        for name in files:
            handle = safetensors.safe_open(source.path(name), framework="np")
            self._handles[name] = handle
            for stored in handle.keys():  # noqa: SIM118 (safe_open has no __iter__)
                key = stored
                for prefix in strip_prefixes:
                    if key.startswith(prefix):
                        key = key[len(prefix) :]
                        break
                self._location[key] = (name, stored)

    def __contains__(self, key):
        return key in self._location

    def keys(self):
        return sorted(self._location)

    def shape(self, key):
        name, stored = self._location[key]
        return tuple(self._handles[name].get_slice(stored).get_shape())

    def dtype(self, key):
        name, stored = self._location[key]
        return self._handles[name].get_slice(stored).get_dtype()

    def get(self, key):
        """The tensor `key` as a float32 numpy array."""
        dtype = self.dtype(key)
        if dtype not in FLOAT_DTYPES:
            raise ValueError(
                f"Checkpoint {self.source}: tensor {key!r} has dtype {dtype}; "
                f"only {FLOAT_DTYPES} are supported."
            )
        name, stored = self._location[key]
        return np.asarray(self._handles[name].get_tensor(stored), dtype="float32")


def write_safetensors(tensors, directory, max_shard_bytes=None, dtype="float32"):
    """Writes `{name: array}` as `model.safetensors` or as shards plus an index.

    Args:
        tensors: dict of numpy arrays.
        directory: an existing directory.
        max_shard_bytes: optional int; above it, the tensors are split into
            `model-0000i-of-0000n.safetensors` files and an index is written.
        dtype: `"float32"`, `"float16"` or `"bfloat16"`.
    """
    from safetensors.numpy import save_file

    if dtype == "bfloat16":
        import ml_dtypes

        np_dtype = ml_dtypes.bfloat16
    else:
        np_dtype = np.dtype(dtype)
    tensors = {k: np.ascontiguousarray(v).astype(np_dtype) for k, v in tensors.items()}
    metadata = {"format": "pt"}
    total = sum(v.nbytes for v in tensors.values())
    if max_shard_bytes is None or total <= max_shard_bytes:
        save_file(tensors, os.path.join(directory, SINGLE_FILE), metadata=metadata)
        return [SINGLE_FILE]
    shards, current, size = [], {}, 0
    for key, value in tensors.items():
        if current and size + value.nbytes > max_shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[key] = value
        size += value.nbytes
    shards.append(current)
    weight_map, names = {}, []
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(directory, name), metadata=metadata)
        names.append(name)
        weight_map.update(dict.fromkeys(shard, name))
    with open(os.path.join(directory, INDEX_FILE), "w", encoding="utf-8") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    return names
