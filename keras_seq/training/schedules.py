"""Learning-rate schedules selected by the train tool's `--schedule` flag."""

import keras
from keras import ops

SCHEDULES = ("constant", "warmup_rsqrt", "cosine")


@keras.saving.register_keras_serializable(package="keras_seq")
class WarmupRsqrt(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then inverse square-root decay (Vaswani et al., 2017).

    The paper sets `lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`.
    Written with the peak rate `learning_rate` reached at `warmup_steps`:

        lr(step) = learning_rate * min(step / warmup, sqrt(warmup / step))

    Args:
        learning_rate: the peak learning rate.
        warmup_steps: steps of linear warm-up.

    Example:
        >>> schedule = WarmupRsqrt(1e-3, warmup_steps=100)
        >>> float(schedule(100))
        0.001

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762), section 5.3.
    """

    def __init__(self, learning_rate, warmup_steps):
        if warmup_steps < 1:
            raise ValueError(
                f"WarmupRsqrt: warmup_steps must be >= 1, got {warmup_steps}"
            )
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        step = ops.maximum(ops.cast(step, "float32") + 1.0, 1.0)
        warmup = ops.cast(self.warmup_steps, "float32")
        factor = ops.minimum(step / warmup, ops.sqrt(warmup / step))
        return self.learning_rate * factor

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps}


def make_schedule(name, learning_rate, total_steps, warmup_steps=None):
    """Returns the learning rate (a float or a schedule) for `--schedule=name`.

    Args:
        name: one of `SCHEDULES`.
        learning_rate: the base (peak) learning rate.
        total_steps: training steps, for `cosine`.
        warmup_steps: warm-up for `warmup_rsqrt` and `cosine`; default 10% of
            `total_steps` (at least 1).
    """
    if name not in SCHEDULES:
        raise ValueError(
            f"Unknown schedule {name!r}. Known schedules: {list(SCHEDULES)}."
        )
    if warmup_steps is None:
        warmup_steps = max(1, total_steps // 10)
    if name == "constant":
        return learning_rate
    if name == "warmup_rsqrt":
        return WarmupRsqrt(learning_rate, warmup_steps)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup_steps),
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
    )
