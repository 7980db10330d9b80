"""Fused LSTM kernels in TFLite: `UNIDIRECTIONAL_SEQUENCE_LSTM` for our `LSTM`.

TFLite has a fused LSTM kernel (with a hybrid, dynamic-range quantized
version). The converter emits it for a TensorFlow function whose
`experimental_attributes` carry `api_implements="lstm_<unique id>"`,
`time_major` and `go_backwards` and whose signature is Keras 2's
`(inputs, init_h, init_c, kernel, recurrent_kernel, bias) -> (last_output,
outputs, h, c, runtime)` (`kernel` `(features, 4 * units)`, gates i, f, c, o,
as in our `LSTMCell`); it replaces the whole function by the fused op, when
only `last_output` and `outputs` are used and every shape is static. The
weights must reach the function as tensors (read values): the `tf.Variable`s
themselves crash the converter. Keras 3 no longer writes such a function.

`fused_lstm_layers(model)` makes every `keras_seq.layers.LSTM` of `model`
(also inside `keras.layers.Bidirectional`, which then becomes two fused ops)
run its time loop through that function while the signatures are traced for
the TFLite export, and records the path each layer took:

- `fused`: the sequence of `h_t` comes from the fused op (the function's
  body, an unrolled loop, is what runs if the converter does not fuse it).
  Around it, builtin ops give exactly `keras.layers.RNN`'s results:
  - `go_backwards`: the valid steps are reversed (`GATHER`) before the op and
    the outputs are put in Keras's order after it.
  - a mask: TFLite inputs are right-padded (pad id 0 at the end), so the
    mask of a row is a prefix of `n` steps; the op runs on all `T` steps, and
    the outputs at the padded steps are replaced by what Keras gives there
    (zeros, or the output of step `n - 1`), `h_T` is `h_(n-1)`. A mask that
    is not a prefix (a pad id inside a row) is not right padding and gives
    other results than Keras: the export's inputs never have one.
  - the final cell state `C_T` (`return_state=True`), which the fused op does
    not output: recomputed from the fused `h_t` without a time loop (all
    gates with one matmul, then the elementwise recurrence of `C_t`); the
    converter drops it when nothing reads it.
- `unrolled: <why>`: the layer's result would differ, or the fused op would
  not apply, so it keeps today's path (the unrolled loop of
  `keras_seq.export.tflite.unrolled_time_loops`): a cell class other than
  `LSTMCell` (other equations), another activation than
  tanh / sigmoid, a compute dtype other than float32, an unknown batch or
  length, a single step (the decode step: nothing to fuse), training, or a
  mask when `masks="unrolled"` (masks not known to be right padding).
"""

import contextlib
import uuid

import keras
import tensorflow as tf

from keras_seq.layers import LSTM, LSTMCell

FUSED = "fused"
FUSED_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"
MASK_POLICIES = ("right_padded", "unrolled", None)


def _lstm_steps(x, h, c, kernel, recurrent_kernel, bias):
    """The LSTM over `x` `(B, T, F)` (static `T`), unrolled: `(h_t)`, `h_T`,
    `C_T` (the function body the converter replaces)."""
    outputs = []
    for t in range(x.shape[1]):
        z = tf.matmul(x[:, t], kernel) + tf.matmul(h, recurrent_kernel) + bias
        z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
        c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
        h = tf.sigmoid(z_o) * tf.tanh(c)
        outputs.append(h)
    return tf.stack(outputs, axis=1), h, c


def fused_lstm_function():
    """A new function `(inputs, init_h, init_c, kernel, recurrent_kernel,
    bias) -> (last_output, outputs, h, c, runtime)` that the TFLite
    converter replaces by `UNIDIRECTIONAL_SEQUENCE_LSTM` (batch-major inputs,
    forward in time). Each call gets its own `api_implements` id, as each
    Keras 2 LSTM call did."""
    attributes = {
        "api_implements": f"lstm_{uuid.uuid4()}",
        "api_preferred_device": "CPU",
        "time_major": False,
        "go_backwards": False,
    }

    @tf.function(experimental_attributes=attributes, autograph=False)
    def lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        outputs, h, c = _lstm_steps(
            inputs, init_h, init_c, kernel, recurrent_kernel, bias
        )
        runtime = tf.constant(0.0, name="runtime")
        return outputs[:, -1], outputs, h, c, runtime

    return lstm


def why_not_fused(layer, sequences, mask, training, masks="right_padded"):
    """`None` if `layer`'s call can take the fused op, else the reason."""
    if masks is None:
        return "fusion off (int8: TF 2.21's calibrator fails on the fused op)"
    if type(layer.cell) is not LSTMCell:  # other equations (a cell_class)
        return f"cell {type(layer.cell).__name__} is not LSTMCell"
    if layer.cell.activation is not keras.activations.tanh:
        return "activation is not tanh"
    if layer.cell.recurrent_activation is not keras.activations.sigmoid:
        return "recurrent_activation is not sigmoid"
    if layer.cell.compute_dtype != "float32":
        return f"compute dtype {layer.cell.compute_dtype}"
    if training:
        return "training"
    batch, steps = sequences.shape[0], sequences.shape[1]
    if batch is None or steps is None:
        return "unknown batch size or length"
    if steps == 1:
        return "a single step"
    if mask is not None and masks != "right_padded":
        return "a mask not known to be right padding"
    return None


def fused_inner_loop(layer, sequences, initial_state, mask):
    """`keras.layers.RNN.inner_loop`'s `(last_output, outputs, [h_T, C_T])`
    for our LSTM `layer`, with the fused op (see the module docstring)."""
    cell = layer.cell
    x = tf.convert_to_tensor(sequences)
    steps = x.shape[1]
    h0, c0 = (tf.convert_to_tensor(s) for s in initial_state)
    # Read values: the converter crashes on the variables themselves.
    kernel = tf.convert_to_tensor(cell.kernel)
    recurrent_kernel = tf.convert_to_tensor(cell.recurrent_kernel)
    if cell.use_bias:
        bias = tf.convert_to_tensor(cell.bias)
    else:
        bias = tf.zeros((4 * cell.units,), x.dtype)

    # n: each row's valid steps (a prefix); t: the step index.
    t = tf.range(steps)
    if mask is None:
        n = tf.fill(tf.shape(x)[:1], steps)
    else:
        n = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    valid = t[tf.newaxis, :] < n[:, tf.newaxis]  # (B, T)
    if layer.go_backwards:
        # Keras reads x_(T-1) ... x_0: the valid steps reversed, first.
        x = tf.gather(x, tf.where(valid, n[:, None] - 1 - t, t), batch_dims=1)

    # The fused op keeps its states in TFLite "variable" tensors, which
    # persist between invocations unless an op writes them: a constant
    # initial state (zeros) would start each call from the last call's final
    # state. `zero` (0 for every finite or infinite input) is computed at
    # run time, so the initial states are rewritten at every invocation. Each
    # state needs a value of its own (the converter cannot share one between
    # two stateful operands): different ops, and the layer's own weight.
    zero = tf.minimum(tf.abs(x[:, 0, :1] * kernel[:1, :1]), 0.0)
    _, outputs, *_ = fused_lstm_function()(
        x, h0 + zero, c0 - zero, kernel, recurrent_kernel, bias
    )

    # outputs[:, k] is h after the k + 1 first valid steps (for k < n).
    has_steps = (n > 0)[:, tf.newaxis]
    h_last = tf.gather(outputs, tf.maximum(n - 1, 0), batch_dims=1)
    h_final = tf.where(has_steps, h_last, h0)
    zeros = tf.zeros_like(h_last)
    if layer.go_backwards:
        # Keras's order: the T - n padded steps first (output 0), then the
        # valid ones.
        start = steps - n[:, tf.newaxis]
        index = tf.maximum(t[tf.newaxis, :] - start, 0)
        shifted = tf.gather(outputs, index, batch_dims=1)
        keras_outputs = tf.where(
            (t[tf.newaxis, :] >= start)[..., tf.newaxis], shifted, 0.0
        )
        last_output = tf.where(has_steps, h_last, zeros)
    elif mask is None:
        keras_outputs, last_output = outputs, outputs[:, -1]
    else:
        carried = zeros if layer.zero_output_for_mask else h_last
        carried = tf.where(has_steps, carried, zeros)
        keras_outputs = tf.where(
            valid[..., tf.newaxis], outputs, carried[:, tf.newaxis]
        )
        last_output = keras_outputs[:, -1]

    c_final = _final_cell_state(
        x, outputs, h0, c0, valid, (kernel, recurrent_kernel, bias)
    )
    return last_output, keras_outputs, [h_final, c_final]


def _final_cell_state(x, outputs, h0, c0, valid, weights):
    """`C_T` from the fused `h_t`: every gate in one matmul, then `C_t = f_t *
    C_(t-1) + i_t * C~_t` over the valid steps (no matmul in the loop)."""
    kernel, recurrent_kernel, bias = weights
    h_prev = tf.concat([h0[:, tf.newaxis], outputs[:, :-1]], axis=1)
    z = tf.matmul(x, kernel) + tf.matmul(h_prev, recurrent_kernel) + bias
    z_i, z_f, z_c, _ = tf.split(z, 4, axis=-1)
    forget, update = tf.sigmoid(z_f), tf.sigmoid(z_i) * tf.tanh(z_c)
    c = c0
    for step in range(x.shape[1]):
        new_c = forget[:, step] * c + update[:, step]
        c = tf.where(valid[:, step, tf.newaxis], new_c, c)
    return c


def lstm_layers(model):
    """Every `keras_seq.layers.LSTM` in `model` (inside wrappers too)."""
    return [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, LSTM)
    ]


@contextlib.contextmanager
def fused_lstm_layers(model, masks="right_padded"):
    """Runs `model`'s `LSTM` layers through the fused op for a while.

    Args:
        model: a Keras model or layer.
        masks: `"right_padded"`: a mask is right padding (each row a prefix
            of valid steps), as the TFLite export's inputs are; `"unrolled"`:
            a masked call keeps the unrolled path; `None`: every layer
            keeps it (used for int8, whose calibrator fails on the fused op
            in TF 2.21), and the report says so.

    Yields:
        `{layer path: [path taken, ...]}`, filled in as the layers are traced
        (`"fused (T=...)"` or `"unrolled: <why>"`; one entry per distinct
        path, e.g. the `logits` and `decode_step` signatures).
    """
    if masks not in MASK_POLICIES:
        raise ValueError(f"masks={masks!r}: must be one of {MASK_POLICIES}.")
    report = {}
    layers = lstm_layers(model)

    def patch(layer):
        original = layer.inner_loop

        def inner_loop(sequences, initial_state, mask, training=False):
            why = why_not_fused(layer, sequences, mask, training, masks)
            if why is None:
                path = f"{FUSED} (T={sequences.shape[1]})"
            else:
                path = f"unrolled: {why}"
            paths = report.setdefault(layer.path, [])
            if path not in paths:
                paths.append(path)
            if why is not None:
                return original(sequences, initial_state, mask, training)
            return fused_inner_loop(layer, sequences, initial_state, mask)

        return inner_loop

    for layer in layers:
        layer.inner_loop = patch(layer)
    try:
        yield report
    finally:
        for layer in layers:
            del layer.inner_loop


def write_saved_model(model, input_signature, path, masks="right_padded"):
    """Writes `model`'s call on `input_signature` (fixed shapes) as a
    SavedModel for the TFLite converter, signature `"logits"` (the model's
    outputs, or `{"logits": output}` for a single output), with the LSTMs
    fused (`masks` as in `fused_lstm_layers`; `None`: today's unrolled path
    for every layer) and the other recurrent layers unrolled.

    Returns:
        The paths the LSTMs took (`fused_lstm_layers`'s report).
    """
    from keras_seq.export.tflite import unrolled_time_loops

    def logits(inputs):
        outputs = model(inputs, training=False)
        return outputs if isinstance(outputs, dict) else {"logits": outputs}

    archive = keras.export.ExportArchive()
    archive.add_endpoint("logits", logits, input_signature=[input_signature])
    with fused_lstm_layers(model, masks) as report, unrolled_time_loops(model):
        archive.write_out(path, verbose=False)
    return report
