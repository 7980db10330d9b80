"""The vanilla recurrent layer."""

import keras

from keras_seq.layers._rnn_base import RecurrentLayer, check_units
from keras_seq.layers.simple_rnn_cell import SimpleRNNCell


@keras.saving.register_keras_serializable(package="keras_seq")
class SimpleRNN(RecurrentLayer):
    """A vanilla RNN over a sequence: `keras.layers.RNN(SimpleRNNCell(...))`.

    At each step (see `SimpleRNNCell`):

        h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)

    Weights (`kernel`, `recurrent_kernel`, `bias`) have the shapes and order of
    `keras.layers.SimpleRNN`.

    Args:
        units: positive int, the size of `h_t`.
        activation: the activation in place of `tanh`. Defaults to `"tanh"`.
        use_bias: bool, whether to add `b_h`. Defaults to `True`.
        kernel_initializer: initializer of `W_xh`. Defaults to
            `"glorot_uniform"`.
        recurrent_initializer: initializer of `W_hh`. Defaults to
            `"orthogonal"`.
        bias_initializer: initializer of `b_h`. Defaults to `"zeros"`.
        kernel_regularizer: optional regularizer of `W_xh`.
        recurrent_regularizer: optional regularizer of `W_hh`.
        bias_regularizer: optional regularizer of `b_h`.
        activity_regularizer: optional regularizer of the layer's output.
        kernel_constraint: optional constraint of `W_xh`.
        recurrent_constraint: optional constraint of `W_hh`.
        bias_constraint: optional constraint of `b_h`.
        dropout: float in [0, 1), the fraction of input features dropped
            (one mask per batch, all steps). Defaults to `0.0`.
        recurrent_dropout: float in [0, 1), the fraction of `h_{t-1}` dropped
            in the recurrent matmul. Defaults to `0.0`.
        seed: optional int, the seed of the dropout masks.
        return_sequences: bool, return `h_t` for every step instead of the
            last. Defaults to `False`.
        return_state: bool, also return the final state. Defaults to `False`.
        go_backwards: bool, process the sequence in reverse (and return the
            reversed sequence). Defaults to `False`.
        stateful: bool, start each batch from the previous batch's final
            state (needs a fixed batch size). Defaults to `False`.
        unroll: bool, unroll the time loop (needs a fixed length). Defaults
            to `False`.
        **kwargs: other `keras.layers.RNN` arguments (`name`, `dtype`,
            `zero_output_for_mask`, ...).

    Call arguments:
        sequences: `(batch, timesteps, features)`.
        initial_state: optional `[h_0]`.
        mask: optional boolean `(batch, timesteps)`; at masked steps the state
            is carried through unchanged.
        training: bool, whether dropout is applied.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import SimpleRNN
    >>> out, h = SimpleRNN(4, return_sequences=True, return_state=True)(
    ...     np.ones((2, 5, 3), "float32"))
    >>> out.shape, h.shape
    (TensorShape([2, 5, 4]), TensorShape([2, 4]))

    References:
        - [Elman, 1990](https://doi.org/10.1207/s15516709cog1402_1), Finding
          Structure in Time.
    """

    # The cell the layer runs; a subclass may set its own subclass of
    # `SimpleRNNCell` (see docs/extending.md).
    cell_class = SimpleRNNCell

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        **kwargs,
    ):
        check_units(type(self).__name__, units)
        cell = self.cell_class(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="simple_rnn_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
