"""Step-level checkpoints that survive SIGKILL, and NaN/Inf loss guarding."""

import math
import os

import keras
import tensorflow as tf


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or Inf loss; the last good checkpoint is kept."""


class Checkpointer(keras.callbacks.Callback):
    """Saves model and optimizer state every `every` steps; restores the latest.

    Checkpoints are written with `tf.train.CheckpointManager`, which writes the
    data files first and then replaces the `checkpoint` index file atomically,
    so a process killed mid-save leaves the previous checkpoint as the latest.
    The step is the optimizer's `iterations`, so a resumed run continues from
    the exact step saved.

    A NaN or Inf batch loss stops training before anything is saved, and
    `check()` then raises `NonFiniteLossError`.

    Args:
        directory: where checkpoints go (created if needed).
        model: the compiled model (its optimizer must exist).
        every: save every this many steps.
        max_to_keep: how many checkpoints to keep.

    Example:
        >>> checkpointer = Checkpointer("/tmp/ckpt", model, every=100)  # doctest: +SKIP
        >>> start = checkpointer.restore()  # doctest: +SKIP
        >>> model.fit(data, steps_per_epoch=total - start, callbacks=[checkpointer])
    """

    def __init__(self, directory, model, every, max_to_keep=2):
        super().__init__()
        if every < 1:
            raise ValueError(f"Checkpointer: every must be >= 1, got {every}")
        self.directory = directory
        self.every = every
        self.max_to_keep = max_to_keep
        self.bad_loss = None
        self._checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        self._manager = tf.train.CheckpointManager(
            self._checkpoint, directory, max_to_keep=max_to_keep
        )

    @property
    def step(self):
        return int(self._checkpoint.optimizer.iterations.numpy())

    def restore(self, log=None):
        """Restores the latest readable checkpoint, if any; returns its step.

        A latest checkpoint that cannot be read (a torn or corrupt file) is
        reported through `log` and the one before it is restored instead.

        Raises:
            ValueError: checkpoints exist but none can be read (the message
                names the files to remove).
        """
        try:
            candidates = list(reversed(self._manager.checkpoints))
        except Exception as e:  # an unreadable `checkpoint` index file
            raise ValueError(
                f"{os.path.join(self.directory, 'checkpoint')} cannot be read "
                f"({type(e).__name__}); remove {self.directory} to start over"
            ) from e
        if not candidates:
            return 0
        optimizer = self._checkpoint.optimizer
        if not optimizer.built:
            optimizer.build(self._checkpoint.model.trainable_variables)
        failures = []
        for path in candidates:
            try:
                self._checkpoint.restore(path).assert_existing_objects_matched()
            except Exception as e:  # any failure to read it means it is corrupt
                first = (
                    str(e).strip().splitlines()[0]
                    if str(e).strip()
                    else type(e).__name__
                )
                failures.append((path, first[:200]))
                continue
            if failures and log is not None:
                bad, why = failures[0]
                log(
                    f"Checkpoint {bad} cannot be restored ({why}); "
                    f"using the previous one, {path}."
                )
            return self.step
        bad, why = failures[0]
        raise ValueError(
            f"Checkpoint {bad} cannot be restored ({why}), nor any before it; "
            f"remove {self.directory} to start over"
        )

    def save(self):
        """Saves now (unless the last loss was not finite); returns the path."""
        if self.bad_loss is not None:
            return None
        return self._manager.save(checkpoint_number=self.step)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad_loss = (self.step, float(loss))
            self.model.stop_training = True
            return
        if self.step % self.every == 0:
            self.save()

    def check(self):
        """Raises `NonFiniteLossError` if training hit a NaN or Inf loss."""
        if self.bad_loss is not None:
            step, loss = self.bad_loss
            kept = self._manager.latest_checkpoint or "none yet"
            raise NonFiniteLossError(
                f"loss became {loss} at step {step}; training stopped, "
                f"last good checkpoint: {kept}"
            )
