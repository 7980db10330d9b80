"""The keras-seq model zoo: ready models built only from `keras_seq.layers`.

Every family is one module of this package that defines:

    PRESETS: dict[str, dict]   plain hyperparameters per preset ("tiny" first)
    build_model(**hparams) -> keras.Model   a built model

`build(name, preset, **overrides)` merges the overrides into the preset and
calls the family's `build_model`; unknown names, presets or override keys are a
`ValueError` that lists what exists.

Example:
    >>> import zoo
    >>> zoo.list_models()  # doctest: +SKIP
    ['bert', 'char_rnn', 'gpt', 'rnn_classifier', 'seq2seq_attention', 't5',
     'transformer']
    >>> model = zoo.build("char_rnn", preset="tiny", cell="gru")  # doctest: +SKIP
"""

import importlib
import importlib.util

import keras_seq  # noqa: F401  (sets the Keras backend before keras is imported)

# Family name -> module of this package. A family is listed once its module exists.
_FAMILIES = (
    "char_rnn",
    "rnn_classifier",
    "seq2seq_attention",
    "transformer",
    "bert",
    "gpt",
    "t5",
)


def _module(name):
    if name not in list_models():
        raise ValueError(f"Unknown zoo model {name!r}. Known models: {list_models()}.")
    return importlib.import_module(f"zoo.{name}")


def list_models():
    """Returns the names of the model families, sorted."""
    found = []
    for name in _FAMILIES:
        if importlib.util.find_spec(f"zoo.{name}") is not None:
            found.append(name)
    return sorted(found)


def presets(name):
    """Returns `{preset_name: hyperparameters}` for the family `name` (a copy)."""
    return {k: dict(v) for k, v in _module(name).PRESETS.items()}


def preset_config(name, preset="tiny", **overrides):
    """The hyperparameters `build` would use: the preset with overrides applied."""
    known = presets(name)
    if preset not in known:
        raise ValueError(
            f"Unknown preset {preset!r} for zoo model {name!r}. "
            f"Known presets: {sorted(known)}."
        )
    config = known[preset]
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ValueError(
            f"Unknown override(s) {unknown} for zoo model {name!r} "
            f"(preset {preset!r}). Known keys: {sorted(config)}."
        )
    config.update(overrides)
    return config


def build(name, preset="tiny", **overrides):
    """Builds the zoo model `name` from `preset`, with `overrides` applied.

    Args:
        name: a family from `list_models()`.
        preset: a preset of that family, from `presets(name)`.
        **overrides: hyperparameters that replace the preset's.

    Returns:
        A built `keras.Model`.
    """
    config = preset_config(name, preset, **overrides)
    return _module(name).build_model(**config)


def load(path, compile=False):
    """Loads a `.keras` file of a zoo model (`safe_mode=True`).

    Importing every family module first registers their classes, so this
    works in a process that has not built a zoo model yet.
    """
    import keras

    for name in list_models():
        importlib.import_module(f"zoo.{name}")
    return keras.saving.load_model(path, compile=compile, safe_mode=True)


__all__ = ["build", "list_models", "load", "preset_config", "presets"]
