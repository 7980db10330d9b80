"""BPTT gradient norms `||dL/dh_t||` and Jacobian products `||dh_T/dh_t||`.

Backpropagation through time sends the loss gradient from the last hidden
state back through every step of the recurrence,

    dL/dh_t = dL/dh_t|direct + (dh_(t+1)/dh_t)^T dL/dh_(t+1),

so the gradient reaching an early state `h_t` carries the product of
`T - t` step Jacobians `dh_T/dh_t = J_T J_(T-1) ... J_(t+1)`, with
`J_k = dh_k/dh_(k-1)` (`diag(tanh'(.)) W_hh` for the vanilla RNN). When the
product shrinks geometrically the gradient vanishes; when it grows, it
explodes (Bengio et al. 1994; Pascanu et al. 2013).

`BPTTProbe` measures both for any Keras model with recurrent layers
(`keras.layers.RNN` and its subclasses: keras_seq's `SimpleRNN`/`LSTM`/`GRU`,
Keras's own, inside `Bidirectional` or nested models). While it runs, each
probed layer's time loop (`RNN.inner_loop`) is replaced by one that adds a
zero perturbation `e_t` to the hidden state after every step:
`h_t <- h_t + e_t`, so that `dL/de_t = dL/dh_t`, the total gradient BPTT
delivers to step `t`. The Jacobian products come from the same loop run on
copies of a few examples, one per component of `h_T`: the gradient of
`h_T[i]` on copy `i` with respect to every `e_t` is row `i` of `dh_T/dh_t`,
for all `t` in one backward pass. Everything (forward, loss, both backward
passes) runs in one `tf.function` call.

`h_t` is the cell's first state, which is its output for the recurrent
cells (an LSTM's `h_t`; its cell state `c_t` is carried, not perturbed).
Cells whose output is not their first state (the seq2seq attention decoder
cell, which outputs `[s_t; c_t]`) are not supported: probing one raises
`ValueError`.
"""

import dataclasses
import inspect

import keras
import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class BPTTProfile:
    """What `BPTTProbe` measured for one recurrent layer.

    Steps are indexed in the order the layer processes them (reversed for a
    `go_backwards` layer, such as the backward half of `Bidirectional`), so
    the last index is the last step `T` and `distance[k] = T - t`.

    Attributes:
        layer: the layer's path in the model (`"bidirectional_0/forward_lstm_0"`).
        grad_norms: `(batch, T)` float array, `||dL/dh_t||` per example.
        jacobian_norms: `(n, T)` float array, the spectral norm (largest
            singular value) of `dh_T/dh_t` for the first `n` examples;
            `1` at `t = T`.
        jacobians: `(n, T, units, units)` array of `dh_T/dh_t` (row `i`,
            column `j`: `dh_T[i]/dh_t[j]`), when asked for, else `None`.
    """

    layer: str
    grad_norms: np.ndarray
    jacobian_norms: np.ndarray
    jacobians: np.ndarray = None

    @property
    def timesteps(self):
        return self.grad_norms.shape[1]

    @property
    def distance(self):
        """`T - t` for each step index: `T-1, ..., 1, 0`."""
        return np.arange(self.timesteps)[::-1]

    def mean_grad_norms(self):
        """`||dL/dh_t||` averaged over the batch, `(T,)`."""
        return self.grad_norms.mean(axis=0)

    def mean_jacobian_norms(self):
        """`||dh_T/dh_t||` averaged over the examples, `(T,)`."""
        return self.jacobian_norms.mean(axis=0)

    def first_to_last_ratio(self):
        """`||dL/dh_1|| / ||dL/dh_T||` (batch means): how much of the gradient
        at the last step reaches the first one."""
        norms = self.mean_grad_norms()
        return float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")


def find_rnn_layers(model):
    """`{path: layer}` for every `keras.layers.RNN` in `model`, in order.

    Looks inside nested models and `Bidirectional` wrappers; the path joins
    the layer names with `/`.
    """
    found = {}

    def walk(layer, prefix):
        path = f"{prefix}{layer.name}"
        if isinstance(layer, keras.layers.Bidirectional):
            for inner in (layer.forward_layer, layer.backward_layer):
                walk(inner, f"{path}/")
        elif isinstance(layer, keras.layers.RNN):
            found[path] = layer
        elif isinstance(layer, keras.Model) or hasattr(layer, "layers"):
            for sub in layer.layers:
                walk(sub, f"{path}/" if layer is not model else "")

    walk(model, "")
    return found


class BPTTProbe:
    """Measures `||dL/dh_t||` and `||dh_T/dh_t||` of a model's recurrent layers.

    Args:
        model: a built Keras model with at least one `keras.layers.RNN`.
        layers: paths (see `find_rnn_layers`) or layer objects to probe;
            default all recurrent layers of the model.
        loss: `loss(y_true, y_pred) -> scalar`; default the compiled loss
            (`model.compute_loss`).
        jacobian_examples: how many examples of the batch get their Jacobian
            products computed (each costs `units` copies of the example).
        return_jacobians: also return the `dh_T/dh_t` matrices.

    Call arguments:
        x: the model's inputs (one batch).
        y: the targets.
        sample_weight: optional sample weights for the compiled loss.

    Returns:
        `{path: BPTTProfile}`, and the batch loss as `probe.last_loss`.

    Example:

    >>> import numpy as np, keras
    >>> from keras_seq.layers import SimpleRNN
    >>> model = keras.Sequential([keras.Input((20, 3)), SimpleRNN(8, name="rnn"),
    ...                           keras.layers.Dense(1)])
    >>> model.compile(loss="mse")
    >>> profile = BPTTProbe(model)(np.ones((4, 20, 3), "float32"),
    ...                            np.ones((4, 1), "float32"))["rnn"]
    >>> profile.grad_norms.shape, profile.jacobian_norms.shape
    ((4, 20), (4, 20))

    References:
        - [Bengio, Simard & Frasconi, 1994](https://doi.org/10.1109/72.279181),
          Learning long-term dependencies with gradient descent is difficult.
        - [Pascanu, Mikolov & Bengio, 2013](https://arxiv.org/abs/1211.5063),
          On the difficulty of training recurrent neural networks.
    """

    def __init__(
        self,
        model,
        layers=None,
        loss=None,
        jacobian_examples=4,
        return_jacobians=False,
    ):
        available = find_rnn_layers(model)
        if not available:
            raise ValueError(
                f"BPTTProbe: model {model.name!r} has no recurrent layer "
                "(keras.layers.RNN)."
            )
        if layers is None:
            self.layers = available
        else:
            by_id = {id(layer): path for path, layer in available.items()}
            self.layers = {}
            for item in layers:
                path = item if isinstance(item, str) else by_id.get(id(item))
                if path not in available:
                    raise ValueError(
                        f"BPTTProbe: {item!r} is not a recurrent layer of model "
                        f"{model.name!r}; its recurrent layers are {list(available)}."
                    )
                self.layers[path] = available[path]
        if loss is None and not getattr(model, "loss", None):
            raise ValueError(
                f"BPTTProbe: model {model.name!r} is not compiled with a "
                "loss; compile it or pass loss=."
            )
        if int(jacobian_examples) < 0:
            raise ValueError(
                f"BPTTProbe: jacobian_examples must be >= 0, got {jacobian_examples}."
            )
        self.model = model
        self.loss = loss
        self.jacobian_examples = int(jacobian_examples)
        self.return_jacobians = return_jacobians
        self.last_loss = None
        self._compute = tf.function(self._profile, reduce_retracing=True)

    def __call__(self, x, y=None, sample_weight=None):
        # A stateful layer would advance its states: put them back after.
        saved = {
            path: [v.numpy() for v in layer.states]
            for path, layer in self.layers.items()
            if layer.stateful and layer.states is not None
        }
        try:
            loss, grads, jacobians = self._compute(x, y, sample_weight)
        finally:
            for path, values in saved.items():
                for variable, value in zip(self.layers[path].states, values):
                    variable.assign(value)
        self.last_loss = float(loss)
        profiles = {}
        for path in self.layers:
            jac = jacobians[path]
            profiles[path] = BPTTProfile(
                layer=path,
                grad_norms=np.asarray(grads[path]),
                jacobian_norms=np.asarray(jac[0]),
                jacobians=np.asarray(jac[1]) if self.return_jacobians else None,
            )
        return profiles

    # === Graph code (one tf.function) ===

    def _profile(self, x, y, sample_weight):
        records = {}
        with tf.GradientTape() as tape:
            originals = {}
            try:
                for path, layer in self.layers.items():
                    originals[path] = layer.__dict__.get("inner_loop")
                    layer.inner_loop = _probed_inner_loop(layer, path, tape, records)
                y_pred = self.model(x, training=False)
            finally:
                for path, layer in self.layers.items():
                    if originals[path] is None:
                        del layer.inner_loop
                    else:
                        layer.inner_loop = originals[path]
            if self.loss is not None:
                loss = self.loss(y, y_pred)
            else:
                loss = self.model.compute_loss(
                    x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
                )
        missing = [path for path in self.layers if path not in records]
        if missing:
            raise ValueError(
                f"BPTTProbe: layers {missing} were not called by model "
                f"{self.model.name!r}."
            )
        eps = [records[path]["eps"] for path in self.layers]
        grads = tape.gradient(loss, eps, unconnected_gradients="zero")
        # (T, B, H) -> ||dL/dh_t|| as (B, T).
        norms = {
            path: tf.transpose(tf.norm(g, axis=-1))
            for path, g in zip(self.layers, grads)
        }
        jacobians = {
            path: self._jacobian_products(records[path]) for path in self.layers
        }
        return loss, norms, jacobians

    def _jacobian_products(self, record):
        """`(norms (n, T), jacobians (n, T, H, H))` of `dh_T/dh_t`."""
        n = self.jacobian_examples
        sequences, states, mask = record["inputs"]
        units = record["units"]
        if n == 0:
            empty = tf.zeros([0, tf.shape(sequences)[1]], sequences.dtype)
            return empty, tf.zeros([0, tf.shape(sequences)[1], units, units])
        n = tf.minimum(n, tf.shape(sequences)[0])

        # Copy i of example b (row b * H + i) carries the cotangent e_i.
        def copies(t):
            return tf.repeat(t[:n], units, axis=0)

        sequences = copies(sequences)
        states = [copies(s) for s in states]
        mask = copies(mask) if mask is not None else None
        steps = tf.shape(sequences)[1]
        eps = tf.zeros([steps, n * units, units], states[0].dtype)
        with tf.GradientTape() as tape:
            tape.watch(eps)
            _, _, final = unroll(record["layer"], sequences, states, mask, eps)
            select = tf.tile(tf.eye(units, dtype=final[0].dtype), [n, 1])
            target = tf.reduce_sum(final[0] * select)
        rows = tape.gradient(target, eps)  # (T, n * H, H)
        jac = tf.reshape(rows, [steps, n, units, units])
        jac = tf.transpose(jac, [1, 0, 2, 3])  # (n, T, H, H)
        norms = tf.linalg.svd(tf.cast(jac, tf.float32), compute_uv=False)[..., 0]
        return norms, jac


def _probed_inner_loop(layer, path, tape, records):
    """`layer.inner_loop` with a watched zero perturbation on `h_t`."""

    def inner_loop(sequences, initial_state, mask, training=False):
        states = list(initial_state)
        units = states[0].shape[-1]
        eps = tf.zeros(
            [tf.shape(sequences)[1], tf.shape(sequences)[0], units], states[0].dtype
        )
        tape.watch(eps)
        if path not in records:  # a layer called twice: the first call
            records[path] = {
                "eps": eps,
                "inputs": (sequences, states, mask),
                "units": units,
                "layer": layer,
            }
        return unroll(layer, sequences, states, mask, eps, training)

    return inner_loop


def unroll(layer, sequences, initial_state, mask, eps, training=False):
    """The time loop of `keras.layers.RNN` with `h_t <- h_t + eps[t]`.

    Same results as the layer's own loop when `eps` is zero (masked steps
    carry the state; `go_backwards` reads the sequence reversed and returns
    the outputs in processing order; `zero_output_for_mask`).

    Args:
        layer: the `keras.layers.RNN` whose `cell` runs each step.
        sequences: `(B, T, F)`.
        initial_state: list of the cell's states, `(B, ...)` each.
        mask: optional `(B, T)` bool.
        eps: `(T, B, units)`, added to the first state after each step (in
            processing order).
        training: passed to the cell.

    Returns:
        `(last_output, outputs (B, T, units), final_states)`.
    """
    cell = layer.cell
    xs = tf.transpose(sequences, [1, 0, 2])
    if mask is None:
        ms = tf.ones(tf.shape(xs)[:2], tf.bool)
    else:
        ms = tf.transpose(tf.cast(mask, tf.bool), [1, 0])
    if layer.go_backwards:
        xs, ms = tf.reverse(xs, [0]), tf.reverse(ms, [0])
    kwargs = {}
    if "training" in inspect.signature(cell.call).parameters:
        kwargs["training"] = training
    zero_output = bool(getattr(layer, "zero_output_for_mask", False))
    states = tuple(initial_state)

    def step(carry, elems):
        states, prev_output = carry
        x_t, m_t, e_t = elems
        output, new_states = cell(x_t, list(states), **kwargs)
        if not isinstance(new_states, (list, tuple)):
            new_states = [new_states]
        if output is not new_states[0]:
            raise ValueError(
                f"BPTTProbe: the cell of layer {layer.name!r} "
                f"({type(cell).__name__}) outputs something other than its "
                "first state h_t, so dL/dh_t is not defined by perturbing the "
                "state; probe the recurrent layers whose output is h_t."
            )
        keep = tf.expand_dims(m_t, -1)
        new_states = [tf.where(keep, n, s) for n, s in zip(new_states, states)]
        h = new_states[0] + e_t
        new_states[0] = h
        masked = tf.zeros_like(h) if zero_output else prev_output
        return tuple(new_states), tf.where(keep, h, masked)

    first_output = tf.zeros_like(states[0])
    all_states, outputs = tf.scan(
        step, (xs, ms, eps), initializer=(states, first_output)
    )
    final_states = [s[-1] for s in all_states]
    outputs = tf.transpose(outputs, [1, 0, 2])
    return outputs[:, -1], outputs, final_states
