"""`ZooModel`: the base class of every zoo model.

A zoo model is a functional `keras.Model` subclass whose constructor takes
plain hyperparameters and stores each as a same-named attribute (the style of
keras-hub's backbones). `ZooModel` gives it, once for all families:

- constructor arguments stored as same-named attributes (after the
  subclass's `__init__`, for those it did not store itself).
- `get_config()`: `name`, `trainable`, the dtype policy and
  `hyperparameters` (every named constructor argument, read back from the
  attribute of the same name); a family that stores something else extends it
  through `super().get_config()`.
- `from_config(config)`: rebuilds the model under the dtype policy it was
  saved with, so a model built as `mixed_float16` reloads as `mixed_float16`
  whatever the global policy is; hyperparameters saved under an old name
  (`renamed_hyperparameters`, old -> new) are read under the new one.
- `check_hyperparameters(hyperparameters)`: a family's checks of its
  constructor's arguments, run before its `__init__` builds anything.
- construction under the model's dtype policy: every subclass's `__init__`
  runs inside `dtype_policy_scope(dtype)`, so the layers a family creates get
  the model's policy whether or not they are passed `dtype=` explicitly.
- `id_inputs(*names)`: the functional model's int32 id inputs.
- small checks of hyperparameters (`check_positive_int`,
  `check_non_negative_int`, `check_rate`, `check_divisible`,
  `check_token_id`, `check_choice`) that name the model and the argument.
- `RECURRENT_LAYERS`: the recurrent layer of each `cell` name of the
  recurrent families (`char_rnn`, `rnn_classifier`).

Example:

    >>> import keras
    >>> from zoo.base import ZooModel
    >>> class Tiny(ZooModel):
    ...     def __init__(self, vocabulary_size, d_model=8, **kwargs):
    ...         token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    ...         x = keras.layers.Embedding(vocabulary_size, d_model)(token_ids)
    ...         logits = keras.layers.Dense(vocabulary_size)(x)
    ...         super().__init__(inputs={"token_ids": token_ids}, outputs=logits,
    ...                          **kwargs)
    >>> config = Tiny(10, dtype="mixed_float16").get_config()
    >>> config["d_model"], config["dtype"]["config"]["name"]
    (8, 'mixed_float16')
"""

import contextlib
import functools
import inspect

import keras

from keras_seq.layers import GRU, LSTM, SimpleRNN


@contextlib.contextmanager
def dtype_policy_scope(dtype):
    """Sets Keras's global dtype policy to `dtype` for a while (`None`: as is).

    The previous policy is restored on exit, also on an exception.
    """
    if dtype is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_policy(dtype))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _policy(dtype):
    if isinstance(dtype, dict):
        return keras.dtype_policies.deserialize(dtype)
    return keras.dtype_policies.get(dtype)


def _constructed_in_dtype_scope(cls, init):
    signature = inspect.signature(init)
    names = _hyperparameter_names(signature)
    # The class's own check, for its own constructor's arguments (a subclass
    # with other arguments does not inherit it).
    check = cls.__dict__.get("check_hyperparameters")

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):  # noqa: N807 (it is the __init__)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        hyperparameters = {name: bound.arguments[name] for name in names}
        if check is not None:
            check(self, hyperparameters)
        dtype = kwargs.get("dtype")
        if dtype is not None:
            kwargs["dtype"] = dtype = _policy(dtype)
        with dtype_policy_scope(dtype):
            init(self, *args, **kwargs)
        # Constructor arguments become same-named attributes (unless the
        # constructor stored them itself): `get_config` reads them back.
        for name, value in hyperparameters.items():
            if not hasattr(self, name):
                setattr(self, name, value)

    # Keras reads the constructor's arguments with `inspect.getfullargspec`,
    # which does not follow `__wrapped__`: give it the real signature.
    __init__.__signature__ = signature
    return __init__


def _hyperparameter_names(signature):
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(
        p.name
        for p in signature.parameters.values()
        if p.kind in kinds and p.name not in ("self", "name", "dtype", "trainable")
    )


class ZooModel(keras.Model):
    """Base of the zoo's models (see the module docstring).

    A subclass builds its layers and the functional graph in `__init__`, then
    calls `super().__init__(inputs=..., outputs=..., **kwargs)` (`kwargs`
    holding `name`, `dtype`, `trainable`); its constructor arguments are then
    stored as same-named attributes.

    A subclass may define `check_hyperparameters(self, hyperparameters)`: it
    is called with `{argument: value}` (every named argument of that class's
    own `__init__`, defaults applied) before that `__init__` runs, and raises
    a `ValueError` naming the model and the argument (see the `check_*`
    helpers). It applies to the class that defines it only: a subclass with
    another `__init__` defines its own.
    """

    # Old hyperparameter name -> current one: configs saved before a rename
    # (e.g. `.keras` files) still load.
    renamed_hyperparameters = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _constructed_in_dtype_scope(cls, cls.__dict__["__init__"])

    @classmethod
    def hyperparameter_names(cls):
        """The named arguments of the constructor (not `name`, `dtype`...)."""
        return _hyperparameter_names(inspect.signature(cls.__init__))

    @property
    def hyperparameters(self):
        """`{argument: value}`: the constructor's arguments, as stored."""
        return {k: getattr(self, k) for k in self.hyperparameter_names()}

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            **self.hyperparameters,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for old, new in cls.renamed_hyperparameters.items():
            if old in config and new not in config:
                config[new] = config.pop(old)
        if config.get("dtype") is not None:
            config["dtype"] = _policy(config["dtype"])
        return cls(**config)


# The `cell` hyperparameter of the recurrent families -> its keras_seq layer.
RECURRENT_LAYERS = {"rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


def id_inputs(*names):
    """`{name: keras.Input((None,), dtype="int32", name=name)}`: the token-id
    sequences a zoo model takes (pad id 0), in order."""
    return {name: keras.Input((None,), dtype="int32", name=name) for name in names}


def _where(model):
    return model if isinstance(model, str) else type(model).__name__


def check_positive_int(model, **values):
    """Raises `ValueError` unless each value is a positive int (not a bool)."""
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(
                f"{_where(model)}: {key} must be a positive int, got {value!r}."
            )


def check_non_negative_int(model, **values):
    """Raises `ValueError` unless each value is an int >= 0 (not a bool)."""
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(
                f"{_where(model)}: {key} must be an int >= 0, got {value!r}."
            )


def check_rate(model, **values):
    """Raises `ValueError` unless each value is a float in [0, 1)."""
    for key, value in values.items():
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not is_number or not 0 <= value < 1:
            raise ValueError(
                f"{_where(model)}: {key} must be in [0, 1), got {value!r}."
            )


def check_divisible(model, d_model_name, d_model, num_heads):
    """Raises `ValueError` unless `num_heads` divides the model width."""
    if d_model % num_heads:
        raise ValueError(
            f"{_where(model)}: {d_model_name}={d_model} is not divisible by "
            f"num_heads={num_heads}."
        )


def check_token_id(model, vocabulary_size, low=1, **values):
    """Raises `ValueError` unless each value is an id in [low, vocabulary_size)
    (`low=1`: not the pad id 0)."""
    for key, value in values.items():
        if not isinstance(value, int) or not low <= value < vocabulary_size:
            raise ValueError(
                f"{_where(model)}: {key} must be an id in [{low}, "
                f"vocabulary_size={vocabulary_size}) (0 is the pad id), got "
                f"{value!r}."
            )


def check_choice(model, **values):
    """Raises `ValueError` unless each value is one of its choices: called as
    `check_choice(model, cell=(cell, RECURRENT_LAYERS))`."""
    for key, (value, choices) in values.items():
        if value not in choices:
            raise ValueError(
                f"{_where(model)}: {key} must be one of {sorted(choices)}, got "
                f"{value!r}."
            )


__all__ = [
    "RECURRENT_LAYERS",
    "ZooModel",
    "check_choice",
    "check_divisible",
    "check_non_negative_int",
    "check_positive_int",
    "check_rate",
    "check_token_id",
    "dtype_policy_scope",
    "id_inputs",
]
