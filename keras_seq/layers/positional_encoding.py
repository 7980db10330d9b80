"""The Transformer's fixed sinusoidal positional encoding."""

import keras
import numpy as np
from keras import ops

from keras_seq.layers import _attention_utils as utils


def sinusoid_table(max_length, d_model):
    """The paper's encoding table `(max_length, d_model)`, in float64 numpy.

    PE(pos, 2i)     = sin(pos / 10000^(2i / d_model))
    PE(pos, 2i + 1) = cos(pos / 10000^(2i / d_model))
    """
    pos = np.arange(max_length, dtype="float64")[:, np.newaxis]
    two_i = np.arange(0, d_model, 2, dtype="float64")[np.newaxis, :]
    angles = pos / np.power(10000.0, two_i / d_model)
    table = np.zeros((max_length, d_model), dtype="float64")
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return table


@keras.saving.register_keras_serializable(package="keras_seq")
class PositionalEncoding(keras.layers.Layer):
    """Adds the sinusoidal positional encoding: `x + PE[start : start + T]`.

        PE(pos, 2i)     = sin(pos / 10000^(2i / d_model))
        PE(pos, 2i + 1) = cos(pos / 10000^(2i / d_model))

    Even features get the sine, odd features the cosine. The table has no
    weights; it is built once from `max_length` and `d_model`. The paper also
    scales the token embeddings by `sqrt(d_model)` and applies dropout to the
    sum: both are the caller's. Masks pass through unchanged.

    Args:
        max_length: int, the number of positions in the table.
        d_model: int, the feature size; must match the inputs' last axis.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, T, d_model)`, e.g. scaled token embeddings.
        start_index: int or int scalar tensor, the position of the first input
            step (the cache index in cached decoding). Defaults to 0.

    Returns:
        `inputs + PE[start_index : start_index + T]`, shape of `inputs`.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import PositionalEncoding
    >>> pe = PositionalEncoding(max_length=10, d_model=4)
    >>> np.asarray(pe(np.zeros((1, 2, 4))), "float64")[0].round(3).tolist()
    [[0.0, 1.0, 0.0, 1.0], [0.841, 0.54, 0.01, 1.0]]

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762),
          "Attention Is All You Need", section 3.5.
    """

    def __init__(self, max_length, d_model, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.d_model = d_model
        self.supports_masking = True
        self._table = sinusoid_table(max_length, d_model).astype("float32")

    def build(self, inputs_shape):
        _check_inputs(self, inputs_shape, self.d_model)

    def call(self, inputs, start_index=0):
        _check_inputs(self, inputs.shape, self.d_model)
        _check_range(self, inputs.shape[1], start_index, self.max_length)
        length = ops.shape(inputs)[1]
        table = ops.convert_to_tensor(self._table)
        # PE[start_index : start_index + T], broadcast over the batch.
        pe = ops.slice(table, (start_index, 0), (length, self.d_model))
        return inputs + ops.cast(pe, inputs.dtype)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_length": self.max_length, "d_model": self.d_model})
        return config


def _check_inputs(layer, shape, d_model):
    where = utils.describe(layer)
    utils.check_rank(where, "inputs", shape, (3,))
    if shape[-1] is not None and shape[-1] != d_model:
        raise ValueError(
            f"{where}: inputs must have last dimension {d_model}, got shape "
            f"{tuple(shape)}."
        )


def _check_range(layer, length, start_index, max_length):
    """`start_index + length <= max_length`, where both are static."""
    if length is None or not isinstance(start_index, int):
        return
    if start_index < 0 or start_index + length > max_length:
        raise ValueError(
            f"{utils.describe(layer)}: positions [{start_index}, "
            f"{start_index + length}) are outside the table of max_length="
            f"{max_length}."
        )
