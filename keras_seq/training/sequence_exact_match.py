"""Exact-match accuracy over whole sequences, ignoring padding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class SequenceExactMatch(keras.metrics.Metric):
    """Fraction of sequences whose every non-pad token is predicted right.

    `y_true` holds token ids `(batch, length)` with `pad_id` at padded
    positions; `y_pred` holds logits or probabilities `(batch, length, vocab)`.
    A sequence counts as correct when `argmax(y_pred) == y_true` at every
    position where `y_true != pad_id`.

    Args:
        pad_id: the padding id in `y_true`.
        name: metric name.

    Example:
        >>> m = SequenceExactMatch()
        >>> m.update_state([[1, 2, 0]], [[[0, 9, 0], [0, 0, 9], [9, 0, 0]]])
        >>> float(m.result())
        1.0
    """

    def __init__(self, pad_id=0, name="exact_match", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = pad_id
        self.correct = self.add_variable((), initializer="zeros", name="correct")
        self.total = self.add_variable((), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        ok = ops.logical_or(
            ops.equal(predicted, y_true), ops.equal(y_true, self.pad_id)
        )
        sequence_ok = ops.cast(ops.all(ok, axis=-1), "float32")
        self.correct.assign_add(ops.sum(sequence_ok))
        self.total.assign_add(ops.cast(ops.shape(y_true)[0], "float32"))

    def result(self):
        return ops.divide_no_nan(self.correct, self.total)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
