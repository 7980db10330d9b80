"""`adding_problem`: sum the two marked numbers of a long sequence.

Hochreiter & Schmidhuber (1997), experiment 4, in the form of Le et al.
(2015): each step carries two features, a value drawn uniformly from [0, 1]
and a marker that is 1 at exactly two steps (one in each half of the
sequence) and 0 elsewhere. The target is the sum of the two marked values, in
[0, 2]; always answering 1 gives a mean squared error of about 0.167.

Features: `features` float32 (sequence_length, 2), `target` float32.

References:
    Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation
    1997. Le, Jaitly & Hinton, "A Simple Way to Initialize Recurrent Networks
    of Rectified Linear Units", arXiv:1504.00941, 2015.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from keras_seq.data.builders.base import SyntheticBuilder, SyntheticConfig
from keras_seq.data.dataset import DataError


@dataclasses.dataclass
class AddingProblemConfig(SyntheticConfig):
    """Args: `sequence_length` (T, at least 2) and the `SyntheticConfig` sizes."""

    sequence_length: int = 50


class AddingProblem(SyntheticBuilder):
    """The adding problem (regression over a sequence of (value, marker))."""

    TASK = "regression"
    SUPERVISED_KEYS = ("features", "target")
    DESCRIPTION = __doc__
    CITATION = "Hochreiter & Schmidhuber, Neural Computation 9(8), 1997."
    BUILDER_CONFIGS = [
        AddingProblemConfig(
            name="default", train_size=10000, validation_size=1000, test_size=1000
        ),
        AddingProblemConfig(
            name="small", train_size=1000, validation_size=100, test_size=100
        ),
    ]

    def _validate_task(self, config):
        if config.sequence_length < 2:
            raise DataError(
                f"{self.name}: sequence_length must be >= 2, "
                f"got {config.sequence_length}."
            )

    def _features(self, config):
        return tfds.features.FeaturesDict(
            {
                "features": tfds.features.Tensor(
                    shape=(config.sequence_length, 2), dtype=np.float32
                ),
                "target": tfds.features.Scalar(dtype=np.float32),
            }
        )

    def _make_example(self, rng, config):
        t = config.sequence_length
        values = rng.uniform(0.0, 1.0, size=t).astype(np.float32)
        half = t // 2
        first = rng.integers(0, half)
        second = rng.integers(half, t)
        markers = np.zeros(t, np.float32)
        markers[[first, second]] = 1.0
        return {
            "features": np.stack([values, markers], axis=-1),
            "target": np.float32(values[first] + values[second]),
        }
