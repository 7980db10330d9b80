"""The long short-term memory layer."""

import keras

from keras_seq.layers._rnn_base import RecurrentLayer, cell_property, check_units
from keras_seq.layers.lstm_cell import LSTMCell


@keras.saving.register_keras_serializable(package="keras_seq")
class LSTM(RecurrentLayer):
    """An LSTM over a sequence: `keras.layers.RNN(LSTMCell(...))`.

    At each step (see `LSTMCell`), with `σ` the sigmoid:

        f_t  = σ(W_f·[h_{t-1}, x_t] + b_f)
        i_t  = σ(W_i·[h_{t-1}, x_t] + b_i)
        C~_t = tanh(W_C·[h_{t-1}, x_t] + b_C)
        C_t  = f_t * C_{t-1} + i_t * C~_t
        o_t  = σ(W_o·[h_{t-1}, x_t] + b_o)
        h_t  = o_t * tanh(C_t)

    Weights (`kernel` `(features, 4 * units)`,
    `recurrent_kernel` `(units, 4 * units)`, `bias` `(4 * units,)`, gates
    i, f, c, o) have the shapes and order of `keras.layers.LSTM`. With
    `return_state=True` the layer returns `output, h_T, C_T`.

    Args:
        units: positive int, the size of `h_t` and `C_t`.
        activation: the activation in place of `tanh`. Defaults to `"tanh"`.
        recurrent_activation: the activation in place of `σ`. Defaults to
            `"sigmoid"`.
        use_bias: bool, whether to add the biases. Defaults to `True`.
        kernel_initializer: initializer of `kernel`. Defaults to
            `"glorot_uniform"`.
        recurrent_initializer: initializer of `recurrent_kernel`. Defaults to
            `"orthogonal"`.
        bias_initializer: initializer of `bias`. Defaults to `"zeros"`.
        unit_forget_bias: bool, start `b_f` at 1. Defaults to `True`.
        kernel_regularizer: optional regularizer of `kernel`.
        recurrent_regularizer: optional regularizer of `recurrent_kernel`.
        bias_regularizer: optional regularizer of `bias`.
        activity_regularizer: optional regularizer of the layer's output.
        kernel_constraint: optional constraint of `kernel`.
        recurrent_constraint: optional constraint of `recurrent_kernel`.
        bias_constraint: optional constraint of `bias`.
        dropout: float in [0, 1), the fraction of input features dropped
            (one mask per batch, all steps and gates). Defaults to `0.0`.
        recurrent_dropout: float in [0, 1), the fraction of `h_{t-1}` dropped
            in the recurrent matmul. Defaults to `0.0`.
        seed: optional int, the seed of the dropout masks.
        return_sequences: bool, return `h_t` for every step instead of the
            last. Defaults to `False`.
        return_state: bool, also return the final `h_T`, `C_T`. Defaults to
            `False`.
        go_backwards: bool, process the sequence in reverse (and return the
            reversed sequence). Defaults to `False`.
        stateful: bool, start each batch from the previous batch's final
            states (needs a fixed batch size). Defaults to `False`.
        unroll: bool, unroll the time loop (needs a fixed length). Defaults
            to `False`.
        **kwargs: other `keras.layers.RNN` arguments (`name`, `dtype`,
            `zero_output_for_mask`, ...).

    Call arguments:
        sequences: `(batch, timesteps, features)`.
        initial_state: optional `[h_0, C_0]`.
        mask: optional boolean `(batch, timesteps)`; at masked steps the states
            are carried through unchanged.
        training: bool, whether dropout is applied.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import LSTM
    >>> out, h, c = LSTM(4, return_sequences=True, return_state=True)(
    ...     np.ones((2, 5, 3), "float32"))
    >>> out.shape, h.shape, c.shape
    (TensorShape([2, 5, 4]), TensorShape([2, 4]), TensorShape([2, 4]))

    References:
        - [Hochreiter & Schmidhuber, 1997](
          https://doi.org/10.1162/neco.1997.9.8.1735), Long Short-Term Memory.
        - [Gers et al., 2000](https://doi.org/10.1162/089976600300015015),
          the forget gate.
    """

    # The cell the layer runs; a subclass may set its own subclass of
    # `LSTMCell` (see docs/extending.md).
    cell_class = LSTMCell

    recurrent_activation = cell_property("recurrent_activation")
    unit_forget_bias = cell_property("unit_forget_bias")

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
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
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
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
            name="lstm_cell",
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
