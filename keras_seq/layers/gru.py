"""The gated recurrent unit layer."""

import keras

from keras_seq.layers._rnn_base import RecurrentLayer, cell_property, check_units
from keras_seq.layers.gru_cell import GRUCell


@keras.saving.register_keras_serializable(package="keras_seq")
class GRU(RecurrentLayer):
    """A GRU over a sequence: `keras.layers.RNN(GRUCell(...))`.

    At each step (see `GRUCell`), with `σ` the sigmoid:

        z_t = σ(W_z x_t + U_z h_{t-1} + b_z)          update gate
        r_t = σ(W_r x_t + U_r h_{t-1} + b_r)          reset gate
        h~_t = tanh(W_h x_t + U_h (r_t * h_{t-1}) + b_h)        reset_after=False
        h~_t = tanh(W_h x_t + b_h + r_t * (U_h h_{t-1} + b'_h))  reset_after=True
        h_t = z_t * h_{t-1} + (1 - z_t) * h~_t

    Weights (`kernel` `(features, 3 * units)`, `recurrent_kernel` `(units, 3 * units)`,
    `bias` `(3 * units,)` or `(2, 3 * units)` with `reset_after=True`, blocks
    z, r, h) have the shapes and order of `keras.layers.GRU`.

    Args:
        units: positive int, the size of `h_t`.
        activation: the activation in place of `tanh`. Defaults to `"tanh"`.
        recurrent_activation: the activation in place of `σ`. Defaults to
            `"sigmoid"`.
        use_bias: bool, whether to add the biases. Defaults to `True`.
        kernel_initializer: initializer of `kernel`. Defaults to
            `"glorot_uniform"`.
        recurrent_initializer: initializer of `recurrent_kernel`. Defaults to
            `"orthogonal"`.
        bias_initializer: initializer of `bias`. Defaults to `"zeros"`.
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
            in the recurrent matmuls. Defaults to `0.0`.
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
        reset_after: bool, apply the reset gate after the recurrent matmul
            (see above). Defaults to `True`.
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
    >>> from keras_seq.layers import GRU
    >>> GRU(4, reset_after=False)(np.ones((2, 5, 3), "float32")).shape
    TensorShape([2, 4])

    References:
        - [Cho et al., 2014](https://arxiv.org/abs/1406.1078), Learning Phrase
          Representations using RNN Encoder-Decoder.
        - [Chung et al., 2014](https://arxiv.org/abs/1412.3555), Empirical
          Evaluation of Gated Recurrent Neural Networks.
    """

    # The cell the layer runs; a subclass may set its own subclass of
    # `GRUCell` (see docs/extending.md).
    cell_class = GRUCell

    recurrent_activation = cell_property("recurrent_activation")
    reset_after = cell_property("reset_after")

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
        reset_after=True,
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
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            reset_after=reset_after,
            seed=seed,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="gru_cell",
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
