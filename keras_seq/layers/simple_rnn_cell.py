"""The vanilla (Elman) recurrent cell."""

import keras
from keras import ops

from keras_seq.layers._rnn_base import RecurrentCell, unpack_states


@keras.saving.register_keras_serializable(package="keras_seq")
class SimpleRNNCell(RecurrentCell):
    """One step of the vanilla RNN, for `keras.layers.RNN`.

    With inputs as row vectors (`x_t` of shape `(batch, features)`):

        h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)

    computed as `tanh(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`, so
    `kernel` is `W_xh` transposed, shape `(features, units)`, `recurrent_kernel`
    is `W_hh` transposed, shape `(units, units)`, and `bias` is `b_h`, shape
    `(units,)`: the layout of `keras.layers.SimpleRNNCell`, so `get_weights()`
    and `set_weights()` move weights between the two. The output is `h_t`,
    which is also the only state.

    Dropout is variational (Gal & Ghahramani): one mask on `x_t` and one on
    `h_{t-1}` per batch, reused at every timestep, only when `training=True`.

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
        kernel_constraint: optional constraint of `W_xh`.
        recurrent_constraint: optional constraint of `W_hh`.
        bias_constraint: optional constraint of `b_h`.
        dropout: float in [0, 1), the fraction of input features dropped.
            Defaults to `0.0`.
        recurrent_dropout: float in [0, 1), the fraction of `h_{t-1}` dropped
            in the recurrent matmul. Defaults to `0.0`.
        seed: optional int, the seed of the dropout masks.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, features)`, the input `x_t` of one step.
        states: `[h_{t-1}]` (or `h_{t-1}`), shape `(batch, units)`.
        training: bool, whether dropout is applied.

    Example:

    >>> import numpy as np, keras
    >>> from keras_seq.layers import SimpleRNNCell
    >>> rnn = keras.layers.RNN(SimpleRNNCell(4), return_sequences=True)
    >>> rnn(np.ones((2, 5, 3), "float32")).shape
    TensorShape([2, 5, 4])

    References:
        - [Elman, 1990](https://doi.org/10.1207/s15516709cog1402_1), Finding
          Structure in Time.
        - [Gal & Ghahramani, 2016](https://arxiv.org/abs/1512.05287), dropout
          in recurrent networks.
    """

    num_gates = 1

    def recurrent_step(self, x_proj, states, training=False):
        """One step from `x_proj = W_xh x_t + b_h` and `states = [h_{t-1}]`."""
        (h_tm1,), nested = unpack_states(states)
        h_tm1 = self.drop_recurrent(h_tm1, training)
        # h_t = tanh(W_hh h_{t-1} + W_xh x_t + b_h)
        h = self.activation(x_proj + ops.matmul(h_tm1, self.recurrent_kernel))
        return h, ([h] if nested else h)
