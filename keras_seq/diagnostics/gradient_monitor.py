"""A Keras callback that logs gradient norms to TensorBoard and warns once."""

import math
import warnings

import keras
import tensorflow as tf

from keras_seq.diagnostics.bptt import BPTTProbe, find_rnn_layers


class GradientWarning(RuntimeWarning):
    """Gradients vanished through time or exploded during training."""


class GradientMonitor(keras.callbacks.Callback):
    """Logs gradient norms of a fixed probe batch to TensorBoard.

    Every `every` training steps (and at the first) it computes, on `batch`
    with the current weights, the gradient of the compiled loss and writes
    under `log_dir`:

    - `gradients/global_norm`: `||g||` over all trainable weights;
    - `gradients/global_norm_clipped`: the same after the optimizer's own
      clipping (`clipnorm` per weight, `global_clipnorm`, `clipvalue`);
    - `gradients/<layer>`: `||g||` of each top-level layer's weights;
    - `bptt/<rnn layer>/first_over_last`: `||dL/dh_1|| / ||dL/dh_T||` of each
      recurrent layer (`BPTTProbe`), and `bptt/<rnn layer>/grad_norm_first`.

    It warns once (`GradientWarning`) when a recurrent layer's ratio falls
    below `vanish_ratio` (the earliest steps get almost none of the
    gradient) and once when the global norm exceeds `explode_norm` or is not
    finite.

    Args:
        batch: `(x, y)` or `(x, y, sample_weight)`, one batch of the training
            data (fixed, so the numbers compare across steps).
        log_dir: TensorBoard directory (a run's `logs/gradients`).
        every: log every this many steps.
        vanish_ratio: warn when `||dL/dh_1|| / ||dL/dh_T||` is below this.
        explode_norm: warn when the global gradient norm is above this.
        probe_rnn: whether to measure the recurrent layers through time.

    Example:
        monitor = GradientMonitor(next(iter(batches)), "runs/x/logs/gradients")
        model.fit(batches, callbacks=[monitor])
    """

    def __init__(
        self,
        batch,
        log_dir,
        every=100,
        vanish_ratio=1e-6,
        explode_norm=1e3,
        probe_rnn=True,
    ):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"GradientMonitor: every must be >= 1, got {every}.")
        self.batch = tuple(batch) + (None,) * (3 - len(batch))
        self.log_dir = log_dir
        self.every = int(every)
        self.vanish_ratio = vanish_ratio
        self.explode_norm = explode_norm
        self.probe_rnn = probe_rnn
        self.history = []
        self.warned = set()
        self._writer = None
        self._probe = None
        self._grad_fn = None

    def on_train_begin(self, logs=None):
        self._writer = tf.summary.create_file_writer(self.log_dir)
        self._grad_fn = tf.function(self._gradient_norms, reduce_retracing=True)
        if self.probe_rnn and find_rnn_layers(self.model):
            probe = BPTTProbe(self.model, jacobian_examples=0)
            self._probe = probe
        self._log(0)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every == 0:
            self._log(step)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def _gradient_norms(self, x, y, sample_weight):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=False)
            loss = self.model.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
            )
        grads = tape.gradient(loss, variables, unconnected_gradients="zero")
        grads = [tf.cast(g, tf.float32) for g in grads]
        clipped = clip_like(self.model.optimizer, grads)
        per_layer = {}
        for layer in self.model.layers:
            ids = {id(v) for v in layer.trainable_variables}
            mine = [g for g, v in zip(grads, variables) if id(v) in ids]
            if mine:
                per_layer[layer.name] = tf.linalg.global_norm(mine)
        return tf.linalg.global_norm(grads), tf.linalg.global_norm(clipped), per_layer

    def _log(self, step):
        x, y, sw = self.batch
        norm, clipped, per_layer = self._grad_fn(x, y, sw)
        record = {
            "step": step,
            "global_norm": float(norm),
            "global_norm_clipped": float(clipped),
            "layers": {k: float(v) for k, v in per_layer.items()},
            "bptt": {},
        }
        if self._probe is not None:
            try:
                profiles = self._probe(x, y, sw)
            except ValueError:  # a cell the probe cannot measure: leave it out
                self._probe = self._measurable_probe(x, y, sw)
                profiles = self._probe(x, y, sw) if self._probe else {}
            for path, profile in profiles.items():
                norms = profile.mean_grad_norms()
                record["bptt"][path] = {
                    "first_over_last": profile.first_to_last_ratio(),
                    "grad_norm_first": float(norms[0]),
                }
        self.history.append(record)
        # Keras's TensorBoard callback gates summaries with its own record_if.
        with self._writer.as_default(step=step), tf.summary.record_if(True):
            tf.summary.scalar("gradients/global_norm", record["global_norm"])
            tf.summary.scalar(
                "gradients/global_norm_clipped", record["global_norm_clipped"]
            )
            for name, value in record["layers"].items():
                tf.summary.scalar(f"gradients/{name}", value)
            for path, values in record["bptt"].items():
                for key, value in values.items():
                    tf.summary.scalar(f"bptt/{path}/{key}", value)
        self._check(record)

    def _measurable_probe(self, x, y, sw):
        """A probe of the recurrent layers that can be measured alone (the
        seq2seq decoder's attention cell cannot), or `None`."""
        paths = []
        for path in find_rnn_layers(self.model):
            try:
                BPTTProbe(self.model, [path], jacobian_examples=0)(x, y, sw)
                paths.append(path)
            except ValueError:
                continue
        return BPTTProbe(self.model, paths, jacobian_examples=0) if paths else None

    def _check(self, record):
        norm = record["global_norm"]
        if "explode" not in self.warned and (
            not math.isfinite(norm) or norm > self.explode_norm
        ):
            self.warned.add("explode")
            warnings.warn(
                f"GradientMonitor: gradients exploded at step {record['step']}: "
                f"global norm {norm:.3g} > {self.explode_norm:g} (clipped: "
                f"{record['global_norm_clipped']:.3g}).",
                GradientWarning,
                stacklevel=2,
            )
        for path, values in record["bptt"].items():
            ratio = values["first_over_last"]
            if "vanish" not in self.warned and ratio < self.vanish_ratio:
                self.warned.add("vanish")
                warnings.warn(
                    f"GradientMonitor: gradients vanish through time in {path} "
                    f"at step {record['step']}: ||dL/dh_1|| / ||dL/dh_T|| = "
                    f"{ratio:.3g} < {self.vanish_ratio:g}.",
                    GradientWarning,
                    stacklevel=2,
                )


def clip_like(optimizer, grads):
    """`grads` clipped as `optimizer` would (`clipvalue`, `clipnorm` per
    weight, `global_clipnorm`), using its public settings."""
    clipvalue = getattr(optimizer, "clipvalue", None)
    clipnorm = getattr(optimizer, "clipnorm", None)
    global_clipnorm = getattr(optimizer, "global_clipnorm", None)
    if clipvalue:
        grads = [tf.clip_by_value(g, -clipvalue, clipvalue) for g in grads]
    if clipnorm:
        grads = [tf.clip_by_norm(g, clipnorm) for g in grads]
    if global_clipnorm:
        grads, _ = tf.clip_by_global_norm(grads, global_clipnorm)
    return grads
