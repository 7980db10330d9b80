"""`copy_memory`: recall a short sequence after a long run of blanks.

Hochreiter & Schmidhuber (1997), in the form of Arjovsky et al. (2016): the
input is `copy_length` symbols, then `delay - 1` blanks, a delimiter, and
`copy_length` more blanks; the target is blank everywhere except the last
`copy_length` steps, which repeat the symbols. Both have length
`delay + 2 * copy_length`. Always predicting blanks, then uniform symbols,
gives a cross-entropy of `copy_length * log(num_symbols) / length`.

Ids (the vocabulary that comes with the data): 0 `<pad>` (never used, so
pad id 0 stays free), 1 `<blank>`, 2 `<delimiter>`, 3.. the symbols `"1"`..

Features: `inputs` int32 (length,), `targets` int32 (length,).

References:
    Hochreiter & Schmidhuber, "Long Short-Term Memory", 1997. Arjovsky,
    Shah & Bengio, "Unitary Evolution Recurrent Neural Networks", ICML 2016.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from keras_seq.data.builders.base import SyntheticBuilder, SyntheticConfig
from keras_seq.data.dataset import DataError

BLANK_ID = 1
DELIMITER_ID = 2
FIRST_SYMBOL_ID = 3


@dataclasses.dataclass
class CopyMemoryConfig(SyntheticConfig):
    """Args: `delay` (T, the blanks between symbols and recall, >= 1),
    `copy_length` (symbols to recall), `num_symbols` (alphabet size), and the
    `SyntheticConfig` sizes."""

    delay: int = 100
    copy_length: int = 10
    num_symbols: int = 8


class CopyMemory(SyntheticBuilder):
    """The copy memory task (one target id per input step)."""

    TASK = "tagging"
    SUPERVISED_KEYS = ("inputs", "targets")
    DESCRIPTION = __doc__
    CITATION = "Arjovsky, Shah & Bengio, ICML 2016."
    BUILDER_CONFIGS = [
        CopyMemoryConfig(
            name="default", train_size=10000, validation_size=1000, test_size=1000
        ),
        CopyMemoryConfig(
            name="small",
            delay=20,
            train_size=1000,
            validation_size=100,
            test_size=100,
        ),
    ]

    def _validate_task(self, config):
        for field in ("delay", "copy_length", "num_symbols"):
            if getattr(config, field) < 1:
                raise DataError(
                    f"{self.name}: {field} must be >= 1, got {getattr(config, field)}."
                )

    def vocabulary(self, config):
        symbols = [str(i + 1) for i in range(config.num_symbols)]
        return ["<pad>", "<blank>", "<delimiter>"] + symbols

    def _features(self, config):
        length = config.delay + 2 * config.copy_length
        return tfds.features.FeaturesDict(
            {
                "inputs": tfds.features.Tensor(shape=(length,), dtype=np.int32),
                "targets": tfds.features.Tensor(shape=(length,), dtype=np.int32),
            }
        )

    def _make_example(self, rng, config):
        n, t = config.copy_length, config.delay
        symbols = rng.integers(
            FIRST_SYMBOL_ID, FIRST_SYMBOL_ID + config.num_symbols, size=n
        ).astype(np.int32)
        inputs = np.full(t + 2 * n, BLANK_ID, np.int32)
        inputs[:n] = symbols
        inputs[t + n - 1] = DELIMITER_ID
        targets = np.full(t + 2 * n, BLANK_ID, np.int32)
        targets[-n:] = symbols
        return {"inputs": inputs, "targets": targets}
