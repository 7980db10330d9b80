"""The gated recurrent unit cell."""

import keras
from keras import ops

from keras_seq.layers._rnn_base import RecurrentCell, unpack_states


@keras.saving.register_keras_serializable(package="keras_seq")
class GRUCell(RecurrentCell):
    """One step of the GRU, for `keras.layers.RNN`.

    With `σ` the sigmoid, `*` the elementwise product, `W_g` the input kernels
    and `U_g` the recurrent kernels:

        z_t = σ(W_z x_t + U_z h_{t-1} + b_z)          update gate
        r_t = σ(W_r x_t + U_r h_{t-1} + b_r)          reset gate
        h~_t = tanh(W_h x_t + U_h (r_t * h_{t-1}) + b_h)        reset_after=False
        h~_t = tanh(W_h x_t + b_h + r_t * (U_h h_{t-1} + b'_h))  reset_after=True
        h_t = z_t * h_{t-1} + (1 - z_t) * h~_t

    `reset_after=False` applies the reset gate before the recurrent matmul
    (Cho et al. v3); `reset_after=True` (the default, as in Keras and cuDNN)
    applies it after, with separate input and recurrent biases `b` and `b'`
    for all three blocks. Note the Keras convention of the last line: `z_t`
    keeps the old state (some texts write `(1 - z_t) * h_{t-1} + z_t * h~_t`,
    the same model with `z_t` renamed `1 - z_t`).

    The blocks are stored side by side in the order z, r, h: `kernel`
    `(features, 3 * units)`, `recurrent_kernel` `(units, 3 * units)`, `bias`
    `(3 * units,)`, or `(2, 3 * units)` (rows `b`, `b'`) with
    `reset_after=True`: the layout of `keras.layers.GRUCell`, so
    `get_weights()` and `set_weights()` move weights between the two.

    Dropout is variational (Gal & Ghahramani): one mask on `x_t` and one on
    `h_{t-1}` (in the recurrent matmuls) per batch, shared by the gates and
    reused at every timestep, only when `training=True`.

    Args:
        units: positive int, the size of `h_t`.
        activation: the activation in place of `tanh` (for `h~_t`). Defaults
            to `"tanh"`.
        recurrent_activation: the activation in place of `σ` (the gates).
            Defaults to `"sigmoid"`.
        use_bias: bool, whether to add the biases. Defaults to `True`.
        kernel_initializer: initializer of `kernel`. Defaults to
            `"glorot_uniform"`.
        recurrent_initializer: initializer of `recurrent_kernel`. Defaults to
            `"orthogonal"`.
        bias_initializer: initializer of `bias`. Defaults to `"zeros"`.
        kernel_regularizer: optional regularizer of `kernel`.
        recurrent_regularizer: optional regularizer of `recurrent_kernel`.
        bias_regularizer: optional regularizer of `bias`.
        kernel_constraint: optional constraint of `kernel`.
        recurrent_constraint: optional constraint of `recurrent_kernel`.
        bias_constraint: optional constraint of `bias`.
        dropout: float in [0, 1), the fraction of input features dropped.
            Defaults to `0.0`.
        recurrent_dropout: float in [0, 1), the fraction of `h_{t-1}` dropped
            in the recurrent matmuls. Defaults to `0.0`.
        reset_after: bool, where the reset gate applies (see above). Defaults
            to `True`.
        seed: optional int, the seed of the dropout masks.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, features)`, the input `x_t` of one step.
        states: `[h_{t-1}]` (or `h_{t-1}`), shape `(batch, units)`.
        training: bool, whether dropout is applied.

    Example:

    >>> import numpy as np, keras
    >>> from keras_seq.layers import GRUCell
    >>> rnn = keras.layers.RNN(GRUCell(4, reset_after=False))
    >>> rnn(np.ones((2, 5, 3), "float32")).shape
    TensorShape([2, 4])

    References:
        - [Cho et al., 2014](https://arxiv.org/abs/1406.1078), Learning Phrase
          Representations using RNN Encoder-Decoder.
        - [Chung et al., 2014](https://arxiv.org/abs/1412.3555), Empirical
          Evaluation of Gated Recurrent Neural Networks.
    """

    num_gates = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        reset_after=True,
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
        self.reset_after = reset_after

    def bias_shape(self):
        width = 3 * self.units
        return (2, width) if self.reset_after else (width,)

    def input_bias(self):
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]  # b; the row b' is added in recurrent_step.

    def recurrent_step(self, x_proj, states, training=False):
        """One step from `x_proj = W x_t + b` and `states = [h_{t-1}]`."""
        (h_tm1,), nested = unpack_states(states)
        h_dropped = self.drop_recurrent(h_tm1, training)
        sigma, tanh, u = self.recurrent_activation, self.activation, self.units
        x_z, x_r, x_h = ops.split(x_proj, 3, axis=-1)
        if self.reset_after:
            # U h_{t-1} + b' for the three blocks at once.
            rec = ops.matmul(h_dropped, self.recurrent_kernel)
            if self.use_bias:
                rec = rec + self.bias[1]
            rec_z, rec_r, rec_h = ops.split(rec, 3, axis=-1)
            z = sigma(x_z + rec_z)  # z_t = σ(W_z x_t + U_z h_{t-1} + b_z)
            r = sigma(x_r + rec_r)  # r_t = σ(W_r x_t + U_r h_{t-1} + b_r)
            # h~_t = tanh(W_h x_t + b_h + r_t * (U_h h_{t-1} + b'_h))
            h_tilde = tanh(x_h + r * rec_h)
        else:
            rec = ops.matmul(h_dropped, self.recurrent_kernel[:, : 2 * u])
            rec_z, rec_r = ops.split(rec, 2, axis=-1)
            z = sigma(x_z + rec_z)  # z_t = σ(W_z x_t + U_z h_{t-1} + b_z)
            r = sigma(x_r + rec_r)  # r_t = σ(W_r x_t + U_r h_{t-1} + b_r)
            # h~_t = tanh(W_h x_t + U_h (r_t * h_{t-1}) + b_h)
            h_tilde = tanh(
                x_h + ops.matmul(r * h_dropped, self.recurrent_kernel[:, 2 * u :])
            )
        h = z * h_tm1 + (1 - z) * h_tilde  # h_t = z_t * h_{t-1} + (1 - z_t) * h~_t
        return h, ([h] if nested else h)

    def cell_config(self):
        return {
            **super().cell_config(),
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "reset_after": self.reset_after,
        }
