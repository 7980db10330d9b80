"""Checkpoint tensors <-> zoo model variables, both directions from one table.

A family describes a checkpoint format as a list of `Entry`s: one stored
tensor (by name) and the model variables it fills, with the transform to our
layout and its inverse. Loading checks every tensor (present, right shape)
before assigning any, so a bad checkpoint leaves nothing half loaded; saving
applies the inverse transforms.

A family's `CONFIG_KEYS` (our hyperparameter -> (Hugging Face config key,
keras-hub config key), `None` where a format has none) is read by
`read_config` and written by `write_config`, column 0 or 1.
"""

import numpy as np


class Entry:
    """One stored tensor and the variables it fills.

    Args:
        key: str, the tensor's name in the checkpoint.
        variables: list of model variables.
        to_ours: `f(array) -> list of arrays`, one per variable (default: the
            array itself).
        from_ours: `f(list of arrays) -> array`, the inverse (default: the
            one array).
        optional: bool, a tensor the checkpoint may lack (a task head); the
            variables then keep their initial values.
    """

    def __init__(self, key, variables, to_ours=None, from_ours=None, optional=False):
        self.key = key
        self.variables = list(variables)
        self.to_ours = to_ours or (lambda a: [a])
        self.from_ours = from_ours or (lambda arrays: arrays[0])
        self.optional = optional

    def stored_shape(self):
        """The shape the checkpoint tensor must have for these variables."""
        zeros = [np.broadcast_to(np.float32(0), tuple(v.shape)) for v in self.variables]
        return tuple(np.shape(self.from_ours(zeros)))


def transpose(a):
    return [np.transpose(a)]


def transposed(arrays):
    return np.transpose(arrays[0])


def scaled(factor):
    """(to_ours, from_ours) for `ours = stored * factor`."""
    return (lambda a: [a * factor]), (lambda arrays: arrays[0] / factor)


def load(entries, reader, source, family):
    """Checks then assigns every entry from `reader`; returns skipped keys.

    Raises:
        ValueError: a required tensor is missing, or a tensor's shape is not
            the one the model needs (both shapes named).
    """
    missing = [e.key for e in entries if not e.optional and e.key not in reader]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(
            f"Checkpoint {source}: tensor {missing[0]!r} is missing{more}; a "
            f"{family} checkpoint with this config.json needs it."
        )
    present = [e for e in entries if e.key in reader]
    for entry in present:
        expected, got = entry.stored_shape(), tuple(reader.shape(entry.key))
        if expected != got:
            raise ValueError(
                f"Checkpoint {source}: tensor {entry.key!r} has shape {got}, but "
                f"the {family} model built from its config.json needs {expected}."
            )
    values = []
    for entry in present:
        for variable, value in zip(
            entry.variables, entry.to_ours(reader.get(entry.key))
        ):
            values.append((variable, value))
    for variable, value in values:
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return [e.key for e in entries if e.key not in reader]


def read_config(config, config_keys, column, source, defaults=None, required=()):
    """Our hyperparameters from a checkpoint's `config` dict.

    Args:
        config: dict, the checkpoint's config.
        config_keys: the family's `CONFIG_KEYS`.
        column: 0 (Hugging Face) or 1 (keras-hub).
        source: the checkpoint, for errors.
        defaults: dict, values for keys the config lacks (or sets to null).
        required: our names that must be read (else `ValueError` naming the
            checkpoint's key).
    """
    hparams = dict(defaults or {})
    for ours, keys in config_keys.items():
        key = keys[column]
        if key is not None and config.get(key) is not None:
            hparams[ours] = config[key]
    for ours in required:
        if ours not in hparams:
            raise ValueError(
                f"Checkpoint {source}: config.json lacks {config_keys[ours][column]!r}."
            )
    return hparams


def write_config(model, config_keys, column):
    """`{checkpoint key: model attribute}` for the keys of one column."""
    return {
        keys[column]: getattr(model, ours)
        for ours, keys in config_keys.items()
        if keys[column] is not None
    }


def export(entries):
    """`{key: array}` of every entry, from the model's current values."""
    return {
        e.key: np.asarray(e.from_ours([np.asarray(v.numpy()) for v in e.variables]))
        for e in entries
    }


def copy_pairs(pairs, to_ours=True):
    """Copies between keras-hub variables and ours.

    Args:
        pairs: list of `(theirs, ours, factor)`: `ours = reshape(theirs) *
            factor` (a reshape moves keras-hub's `(d, heads, depth)` kernels
            to our `(d, d)`).
        to_ours: direction.
    """
    values = []
    for theirs, ours, factor in pairs:
        src, dst = (theirs, ours) if to_ours else (ours, theirs)
        value = np.asarray(src.numpy(), dtype="float32")
        value = value * factor if to_ours else value / factor
        if value.size != np.prod(dst.shape):
            raise ValueError(
                f"keras-hub variable {theirs.path} {tuple(theirs.shape)} does not "
                f"fit {ours.path} {tuple(ours.shape)}."
            )
        values.append((dst, value.reshape(dst.shape)))
    for dst, value in values:
        dst.assign(value.astype(dst.dtype))
