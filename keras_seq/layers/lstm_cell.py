"""The long short-term memory cell."""

import keras
from keras import ops

from keras_seq.layers._rnn_base import RecurrentCell


@keras.saving.register_keras_serializable(package="keras_seq")
class LSTMCell(RecurrentCell):
    """One step of the LSTM, for `keras.layers.RNN`.

    With `[h_{t-1}, x_t]` the concatenation of the previous output and the
    input, `σ` the sigmoid and `*` the elementwise product:

        f_t  = σ(W_f·[h_{t-1}, x_t] + b_f)       forget gate
        i_t  = σ(W_i·[h_{t-1}, x_t] + b_i)       input gate
        C~_t = tanh(W_C·[h_{t-1}, x_t] + b_C)    candidate cell state
        C_t  = f_t * C_{t-1} + i_t * C~_t        cell state
        o_t  = σ(W_o·[h_{t-1}, x_t] + b_o)       output gate
        h_t  = o_t * tanh(C_t)                   output

    Each `W_g·[h_{t-1}, x_t]` is split as `x_t @ kernel_g + h_{t-1} @
    recurrent_kernel_g`. The four gates are stored side by side in the order
    i, f, c, o: `kernel` `(features, 4 * units)`, `recurrent_kernel`
    `(units, 4 * units)`, `bias` `(4 * units,)`, the layout of
    `keras.layers.LSTMCell`, so `get_weights()` and `set_weights()` move
    weights between the two. The states are `[h_t, C_t]`.

    Dropout is variational (Gal & Ghahramani): one mask on `x_t` and one on
    `h_{t-1}` per batch, shared by the four gates and reused at every timestep,
    only when `training=True`.

    Args:
        units: positive int, the size of `h_t` and `C_t`.
        activation: the activation in place of `tanh` (for `C~_t` and
            `tanh(C_t)`). Defaults to `"tanh"`.
        recurrent_activation: the activation in place of `σ` (the gates).
            Defaults to `"sigmoid"`.
        use_bias: bool, whether to add the biases `b_g`. Defaults to `True`.
        kernel_initializer: initializer of the input kernels. Defaults to
            `"glorot_uniform"`.
        recurrent_initializer: initializer of the recurrent kernels. Defaults
            to `"orthogonal"`.
        bias_initializer: initializer of the biases. Defaults to `"zeros"`.
        unit_forget_bias: bool. If `True`, `b_f` starts at 1 (and the other
            biases from `bias_initializer`), as recommended by Jozefowicz et
            al. Defaults to `True`.
        kernel_regularizer: optional regularizer of `kernel`.
        recurrent_regularizer: optional regularizer of `recurrent_kernel`.
        bias_regularizer: optional regularizer of `bias`.
        kernel_constraint: optional constraint of `kernel`.
        recurrent_constraint: optional constraint of `recurrent_kernel`.
        bias_constraint: optional constraint of `bias`.
        dropout: float in [0, 1), the fraction of input features dropped.
            Defaults to `0.0`.
        recurrent_dropout: float in [0, 1), the fraction of `h_{t-1}` dropped
            in the recurrent matmul. Defaults to `0.0`.
        seed: optional int, the seed of the dropout masks.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, features)`, the input `x_t` of one step.
        states: `[h_{t-1}, C_{t-1}]`, each `(batch, units)`.
        training: bool, whether dropout is applied.

    Example:

    >>> import numpy as np, keras
    >>> from keras_seq.layers import LSTMCell
    >>> rnn = keras.layers.RNN(LSTMCell(4), return_state=True)
    >>> h, h_last, c_last = rnn(np.ones((2, 5, 3), "float32"))
    >>> h.shape, c_last.shape
    (TensorShape([2, 4]), TensorShape([2, 4]))

    References:
        - [Hochreiter & Schmidhuber, 1997](
          https://doi.org/10.1162/neco.1997.9.8.1735), Long Short-Term Memory.
        - [Gers et al., 2000](https://doi.org/10.1162/089976600300015015),
          the forget gate.
        - [Jozefowicz et al., 2015](
          https://proceedings.mlr.press/v37/jozefowicz15.pdf), forget bias 1.
    """

    num_gates = 4

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
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(
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
            **kwargs,
        )
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.state_size = [self.units, self.units]

    def bias_initializer_fn(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def forget_bias_initializer(shape, dtype=None):
            # [b_i, b_f = 1, b_c, b_o]
            return ops.concatenate(
                [
                    init((units,), dtype=dtype),
                    ops.ones((units,), dtype=dtype),
                    init((2 * units,), dtype=dtype),
                ]
            )

        return forget_bias_initializer

    def recurrent_step(self, x_proj, states, training=False):
        """One step from `x_proj = x_t W_x + b` and `states = [h_{t-1}, C_{t-1}]`."""
        h_tm1, c_tm1 = states
        h_tm1 = self.drop_recurrent(h_tm1, training)
        # W_g·[h_{t-1}, x_t] + b_g for g = i, f, c, o at once.
        z = x_proj + ops.matmul(h_tm1, self.recurrent_kernel)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        sigma, tanh = self.recurrent_activation, self.activation
        f = sigma(z_f)  # f_t = σ(W_f·[h_{t-1}, x_t] + b_f)
        i = sigma(z_i)  # i_t = σ(W_i·[h_{t-1}, x_t] + b_i)
        c_tilde = tanh(z_c)  # C~_t = tanh(W_C·[h_{t-1}, x_t] + b_C)
        c = f * c_tm1 + i * c_tilde  # C_t = f_t * C_{t-1} + i_t * C~_t
        o = sigma(z_o)  # o_t = σ(W_o·[h_{t-1}, x_t] + b_o)
        h = o * tanh(c)  # h_t = o_t * tanh(C_t)
        return h, [h, c]

    def cell_config(self):
        return {
            **super().cell_config(),
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "unit_forget_bias": self.unit_forget_bias,
        }
