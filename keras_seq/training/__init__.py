"""Training pieces shared by the tools: schedules, checkpoints, validation with
the best weights kept, per-task losses, and an n-gram baseline."""

from keras_seq.training.best_keeper import BestKeeper
from keras_seq.training.checkpointer import Checkpointer
from keras_seq.training.kneser_ney_lm import KneserNeyLM
from keras_seq.training.schedules import WarmupRsqrt, make_schedule

__all__ = ["BestKeeper", "Checkpointer", "KneserNeyLM", "WarmupRsqrt", "make_schedule"]
