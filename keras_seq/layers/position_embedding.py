"""A learned position embedding."""

import keras
from keras import ops

from keras_seq.layers import _attention_utils as utils
from keras_seq.layers.positional_encoding import _check_range


@keras.saving.register_keras_serializable(package="keras_seq")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of the position: `x + E[start : start + T]`.

    `E` is a `(max_length, d)` table of weights, `d` the inputs' last
    dimension, as in BERT and GPT-2. Masks pass through unchanged.

    Args:
        max_length: int, the number of positions in the table.
        initializer: initializer of the table. Defaults to `"glorot_uniform"`
            (BERT uses `TruncatedNormal(stddev=0.02)`).
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, T, d)`, e.g. token embeddings.
        start_index: int or int scalar tensor, the position of the first input
            step (the cache index in cached decoding). Defaults to 0.

    Returns:
        `inputs + E[start_index : start_index + T]`, shape of `inputs`.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import PositionEmbedding
    >>> layer = PositionEmbedding(max_length=16)
    >>> tuple(layer(np.zeros((2, 5, 8), "float32"), start_index=3).shape)
    (2, 5, 8)

    References:
        - [Devlin et al., 2019](https://arxiv.org/abs/1810.04805), BERT,
          section 3 (input representation).
        - [Gehring et al., 2017](https://arxiv.org/abs/1705.03122), learned
          position embeddings.
    """

    def __init__(self, max_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.initializer = initializer
        self.supports_masking = True

    def build(self, inputs_shape):
        where = utils.describe(self)
        utils.check_rank(where, "inputs", inputs_shape, (3,))
        if inputs_shape[-1] is None:
            raise ValueError(f"{where}: the last axis of the inputs must be known.")
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.max_length, inputs_shape[-1]),
            initializer=utils.clone_initializer(self.initializer),
        )
        self.input_spec = keras.InputSpec(ndim=3, axes={-1: inputs_shape[-1]})

    def call(self, inputs, start_index=0):
        _check_range(self, inputs.shape[1], start_index, self.max_length)
        length, features = ops.shape(inputs)[1], self.embeddings.shape[-1]
        table = ops.cast(self.embeddings, inputs.dtype)
        # E[start_index : start_index + T], broadcast over the batch.
        return inputs + ops.slice(table, (start_index, 0), (length, features))

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_length": self.max_length,
                "initializer": utils.serialize_initializer(self.initializer),
            }
        )
        return config
