"""The feed-forward activations of the zoo's Transformers, by name.

A family's hyperparameters name the activation with a string (a config stays
plain JSON); `get` turns the name into what the layers take. The names are
those of the checkpoints the families load: `"gelu_approximate"` is the tanh
approximation of the original BERT and GPT code, keras-hub and Hugging Face's
`gelu_new`; `"gelu"` is the exact `x Phi(x)`.

Example:
    >>> from zoo import activations
    >>> activations.get("T5", "relu", ("relu", "gelu"))
    'relu'
    >>> activations.get("Bert", "gelu_approximate").__name__
    'gelu_approximate'
"""

import keras


@keras.saving.register_keras_serializable(package="keras_seq_zoo")
def gelu_approximate(x):
    """GELU, tanh approximation (as in BERT, GPT and GPT-2):

    0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
    """
    return keras.activations.gelu(x, approximate=True)


# Name -> what `keras.layers.Dense(activation=...)` takes.
ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "gelu_approximate": gelu_approximate}


def get(model, name, allowed=tuple(ACTIVATIONS)):
    """The activation called `name`; `ValueError` naming `model` unless it is
    one of `allowed`."""
    if name not in allowed:
        raise ValueError(
            f"{model}: activation must be one of {sorted(allowed)}, got {name!r}."
        )
    return ACTIVATIONS[name]


__all__ = ["ACTIVATIONS", "gelu_approximate", "get"]
