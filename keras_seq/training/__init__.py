"""Training pieces shared by the tools: schedules, checkpoints, per-task losses."""

from keras_seq.training.checkpointer import Checkpointer
from keras_seq.training.schedules import WarmupRsqrt, make_schedule

__all__ = ["Checkpointer", "WarmupRsqrt", "make_schedule"]
