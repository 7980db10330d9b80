"""The keras-seq model zoo: ready models built only from `keras_seq.layers`.

Every built-in family is one module of this package that defines:

    PRESETS: dict[str, dict]   plain hyperparameters per preset ("tiny" first)
    FACTS: dict                what it trains on and how it answers text
                               (`zoo.family.Family`)
    build_model(**hparams) -> keras.Model   a built model (a `ZooModel`)

`register(name, build_model, presets, **facts)` adds a family from outside the
package (the tools import it with `--module=`; see docs/extending.md).
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

import keras_seq  # noqa: F401  (sets the Keras backend before keras is imported)
from zoo.base import ZooModel, dtype_policy_scope
from zoo.family import Family

# The built-in families: name -> module of this package, which defines
# `PRESETS`, `FACTS` and `build_model`.
_BUILTIN = (
    "char_rnn",
    "rnn_classifier",
    "seq2seq_attention",
    "transformer",
    "t5",
    "bert",
    "gpt",
)
# Families registered with `register` (users'), by name.
_REGISTERED = {}


def register(name, build_model, presets, *, module=None, **facts):
    """Registers a model family, so `zoo.build(name)` and the tools take it.

    Args:
        name: the family's name (not one of the built-in families).
        build_model: `build_model(**hyperparameters) -> keras.Model`.
        presets: `{preset: {hyperparameter: value}}`; `"tiny"` is the
            default preset.
        module: the module that defines the model's classes (default: the
            module of `build_model`), imported before a `.keras` file of the
            family is loaded.
        **facts: the family's facts (`zoo.family`): `tasks`,
            `default_sequence_length`, `text_interface`,
            `validation_metrics`, `training_defaults`,
            `fine_tuning_defaults`.

    Returns:
        The registered `zoo.family.Family`.

    Raises:
        ValueError: a name of a built-in family, or bad facts.
    """
    if name in _BUILTIN:
        raise ValueError(f"zoo.register: {name!r} is a built-in zoo family.")
    family = Family(
        name=name,
        build_model=build_model,
        presets={k: dict(v) for k, v in presets.items()},
        module=module or getattr(build_model, "__module__", None),
        **facts,
    )
    _REGISTERED[name] = family
    return family


def family(name):
    """The `Family` named `name` (its facts, presets and `build_model`)."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in _BUILTIN:
        raise ValueError(f"Unknown zoo model {name!r}. Known models: {list_models()}.")
    module = importlib.import_module(f"zoo.{name}")
    return Family(
        name=name,
        build_model=module.build_model,
        presets=module.PRESETS,
        module=module.__name__,
        **module.FACTS,
    )


def list_models():
    """Returns the names of the model families (built-in and registered)."""
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def families_for_task(task):
    """The families that train on `task`: built-ins in zoo order, then users'."""
    names = [*_BUILTIN, *sorted(_REGISTERED)]
    return tuple(n for n in names if family(n).batch_format(task) is not None)


def presets(name):
    """Returns `{preset_name: hyperparameters}` for the family `name` (a copy)."""
    return {k: dict(v) for k, v in family(name).presets.items()}


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


def validation_metric(name, task):
    """`(metric, mode)` the family `name` keeps its best model by on `task`:
    a key of `keras_seq.training.evaluation.evaluate`'s result, and `"min"`
    or `"max"` (which way is better). See `Family.validation_metric`."""
    return family(name).validation_metric(task)


def build(name, preset="tiny", dtype=None, **overrides):
    """Builds the zoo model `name` from `preset`, with `overrides` applied.

    Args:
        name: a family from `list_models()`.
        preset: a preset of that family, from `presets(name)`.
        dtype: optional dtype policy of the model (e.g. `"mixed_float16"`);
            default: Keras's global policy. The global policy is unchanged.
        **overrides: hyperparameters that replace the preset's.

    Returns:
        A built `keras.Model`.
    """
    from zoo import sizes

    config = preset_config(name, preset, **overrides)
    sizes.check_fits_in_memory(name, config)
    with dtype_policy_scope(dtype):
        return family(name).build_model(**config)


def import_family_module(name):
    """Imports the module defining family `name` (registers its classes)."""
    module = family(name).module
    if module:
        importlib.import_module(module)


def load(path, compile=False):
    """Loads a `.keras` file of a zoo model (`safe_mode=True`).

    Importing every family module first registers their classes, so this
    works in a process that has not built a zoo model yet.
    """
    import keras

    for name in list_models():
        import_family_module(name)
    return keras.saving.load_model(path, compile=compile, safe_mode=True)


def count_params(name, preset="tiny", **overrides):
    """The exact parameter count of `build(name, preset, **overrides)`.

    Computed from the hyperparameters, without allocating any weight (see
    `zoo.sizes`).
    """
    from zoo import sizes

    return sizes.count_params(name, preset, **overrides)


def from_preset(source, **overrides):
    """A zoo model with a checkpoint's weights (see `zoo.pretrained`)."""
    from zoo import pretrained

    return pretrained.from_preset(source, **overrides)


def preset_hyperparameters(source, **overrides):
    """`(family, hyperparameters)` of a checkpoint, from its `config.json` only
    (see `zoo.pretrained.preset_hyperparameters`)."""
    from zoo import pretrained

    return pretrained.preset_hyperparameters(source, **overrides)


def tokenizer_from_preset(source):
    """A checkpoint's tokenizer, a keras-hub tokenizer (see `zoo.pretrained`)."""
    from zoo import pretrained

    return pretrained.tokenizer_from_preset(source)


def save_preset(model, tokenizer, directory, format="keras_hub", **kwargs):
    """Writes a zoo model as a keras-hub or Hugging Face checkpoint."""
    from zoo import pretrained

    return pretrained.save_preset(model, tokenizer, directory, format=format, **kwargs)


__all__ = [
    "Family",
    "ZooModel",
    "build",
    "count_params",
    "families_for_task",
    "family",
    "from_preset",
    "import_family_module",
    "list_models",
    "load",
    "preset_config",
    "preset_hyperparameters",
    "presets",
    "register",
    "save_preset",
    "tokenizer_from_preset",
    "validation_metric",
]
