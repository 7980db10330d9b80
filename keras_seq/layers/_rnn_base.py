"""Shared machinery of the recurrent cells and layers (private).

`RecurrentCell` holds what `SimpleRNNCell`, `LSTMCell` and `GRUCell` share:
arguments, weights `kernel`, `recurrent_kernel`, `bias` (laid out as in Keras's
cells), dropout, input checks and config. Each cell writes its own equations in
`recurrent_step`.

`RecurrentLayer` is the base of `SimpleRNN`, `LSTM` and `GRU`: a
`keras.layers.RNN` around one of our cells, with input checks and the cell's
arguments as attributes. (Computing `x_t W_x + b` for all timesteps before the
loop was measured slower under XLA on CPU, see docs/benchmarks.md, so each step
runs the cell as `keras.layers.RNN(cell)` would.)
"""

import abc
import numbers

import keras
from keras import ops

# Keras's private API, imported here and nowhere else: `keras.layers.RNN`
# pre-generates dropout masks (outside its time loop, which XLA needs) only for
# cells that are instances of this mixin; it is a helper that caches one mask
# per batch, not a reference layer.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell


def check_units(layer_name, units):
    """Raises `ValueError` unless `units` is a positive integer."""
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
        raise ValueError(
            f"{layer_name}: `units` must be a positive integer, got units={units!r}."
        )


def check_rate(layer_name, name, rate):
    """Raises `ValueError` unless `0 <= rate < 1`."""
    is_number = isinstance(rate, numbers.Real) and not isinstance(rate, bool)
    if not is_number or not 0.0 <= rate < 1.0:
        raise ValueError(
            f"{layer_name}: `{name}` must be a float in [0, 1), got {name}={rate!r}."
        )


def check_input_shape(layer, shape, rank, input_dim=None):
    """Raises `ValueError` if `shape` has the wrong rank or feature size.

    Args:
        layer: the layer, named in the message.
        shape: the input shape (a tuple, `None` for unknown sizes).
        rank: the expected rank: 2 for a cell's `(batch, features)`, 3 for a
            layer's `(batch, timesteps, features)`.
        input_dim: the feature size the layer was built for, if built.
    """
    shape = tuple(shape)
    layout = "(batch, features)" if rank == 2 else "(batch, timesteps, features)"
    where = f"{type(layer).__name__} {layer.name!r}"
    if len(shape) != rank:
        raise ValueError(
            f"{where} expects inputs of rank {rank}, {layout}; got an input of "
            f"shape {shape} (rank {len(shape)})."
        )
    if shape[-1] is None:
        raise ValueError(
            f"{where}: the feature size (last axis) of the inputs must be known; "
            f"got an input of shape {shape}."
        )
    if input_dim is not None and shape[-1] != input_dim:
        raise ValueError(
            f"{where} was built for inputs with {input_dim} features, {layout}; "
            f"got an input of shape {shape}."
        )


class RecurrentCell(keras.layers.Layer, DropoutRNNCell, abc.ABC):
    """Base of the cells: weights, dropout, checks and config.

    A subclass sets `num_gates` (how many `units`-wide blocks the kernels have)
    and implements `recurrent_step(x_proj, states, training)`, where `x_proj`
    is the input projection `x_t W_x + b_x` of one step. `call` is input
    dropout, then `project_inputs`, then `recurrent_step`.

    Dropout is variational: one input mask and one recurrent mask per batch,
    shared by all timesteps and all gates.
    """

    num_gates = 1

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
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        name = type(self).__name__
        check_units(name, units)
        check_rate(name, "dropout", dropout)
        check_rate(name, "recurrent_dropout", recurrent_dropout)
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        # Used by `DropoutRNNCell` to draw the masks.
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.state_size = self.units
        self.output_size = self.units

    # Hooks for the bias layout (GRU with `reset_after=True` differs).
    def bias_shape(self):
        return (self.num_gates * self.units,)

    def bias_initializer_fn(self):
        return self.bias_initializer

    def input_bias(self):
        """The bias added to `x_t W_x`, or `None`."""
        return self.bias

    def build(self, input_shape):
        check_input_shape(self, input_shape, rank=2)
        input_dim = input_shape[-1]
        width = self.num_gates * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.bias_initializer_fn(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def project_inputs(self, inputs):
        """`x W_x + b_x` over the last axis of `inputs`, for all gates at once."""
        x_proj = ops.matmul(inputs, self.kernel)
        bias = self.input_bias()
        if bias is not None:
            x_proj = ops.add(x_proj, bias)
        return x_proj

    def drop_inputs(self, inputs, training):
        """Applies the (cached, per-batch) input dropout mask when training."""
        if training and self.dropout > 0.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        return inputs

    def drop_recurrent(self, h_tm1, training):
        """Applies the recurrent dropout mask to `h_{t-1}` when training."""
        if training and self.recurrent_dropout > 0.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        return h_tm1

    @abc.abstractmethod
    def recurrent_step(self, x_proj, states, training=False):
        """One step: `(output, new_states)` from `x_proj = x_t W_x + b` and
        `states` (the cell's equations)."""

    def call(self, inputs, states, training=False):
        check_input_shape(self, inputs.shape, rank=2, input_dim=self.kernel.shape[0])
        inputs = self.drop_inputs(inputs, training)
        return self.recurrent_step(self.project_inputs(inputs), states, training)

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.units]
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in sizes]

    def cell_config(self):
        """The cell's own arguments (no `name`, `dtype`, `trainable`)."""
        return {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(
                self.recurrent_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(
                self.recurrent_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": keras.constraints.serialize(
                self.recurrent_constraint
            ),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }

    def get_config(self):
        return {**super().get_config(), **self.cell_config()}


def unpack_states(states):
    """`states` as a list, and whether the caller passed a bare tensor."""
    if isinstance(states, (list, tuple)):
        return list(states), True
    return [states], False


def cell_property(name):
    return property(
        lambda self: getattr(self.cell, name),
        doc=f"The cell's `{name}`.",
    )


class RecurrentLayer(keras.layers.RNN):
    """Base of the layers: `keras.layers.RNN` around one of our cells.

    Masking, `go_backwards`, `unroll`, `stateful` and `return_state` are those
    of `keras.layers.RNN(cell)`; the layer adds input checks that name it, and
    exposes the cell's arguments (`units`, `dropout`, ...) as attributes.
    """

    units = cell_property("units")
    activation = cell_property("activation")
    use_bias = cell_property("use_bias")
    kernel_initializer = cell_property("kernel_initializer")
    recurrent_initializer = cell_property("recurrent_initializer")
    bias_initializer = cell_property("bias_initializer")
    kernel_regularizer = cell_property("kernel_regularizer")
    recurrent_regularizer = cell_property("recurrent_regularizer")
    bias_regularizer = cell_property("bias_regularizer")
    kernel_constraint = cell_property("kernel_constraint")
    recurrent_constraint = cell_property("recurrent_constraint")
    bias_constraint = cell_property("bias_constraint")
    dropout = cell_property("dropout")
    recurrent_dropout = cell_property("recurrent_dropout")
    seed = cell_property("seed")

    def build(self, sequences_shape, initial_state_shape=None):
        check_input_shape(self, sequences_shape, rank=3)
        super().build(sequences_shape, initial_state_shape)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        # Functional models get their shapes here, without running `call`.
        input_dim = self.cell.kernel.shape[0] if self.cell.built else None
        check_input_shape(self, sequences_shape, rank=3, input_dim=input_dim)
        return super().compute_output_shape(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        check_input_shape(
            self, sequences.shape, rank=3, input_dim=self.cell.kernel.shape[0]
        )
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        config.update(self.cell.cell_config())
        config["activity_regularizer"] = keras.regularizers.serialize(
            self.activity_regularizer
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
