"""`sequence_reverse`: reverse a string of symbols, e.g. `"abcd"` -> `"dcba"`.

Lengths are uniform in `min_length..max_length`, symbols uniform in
`alphabet`. Sources are unique across splits.

Features: `source` text, `target` text.

References:
    Sutskever, Vinyals & Le, "Sequence to Sequence Learning with Neural
    Networks", NeurIPS 2014 (reversal as the classic sanity task).
"""

import dataclasses

from keras_seq.data.builders.base import SyntheticConfig
from keras_seq.data.builders.text_pairs import TextPairBuilder
from keras_seq.data.dataset import DataError


@dataclasses.dataclass
class SequenceReverseConfig(SyntheticConfig):
    """Args: `min_length`, `max_length` (1 <= min <= max), `alphabet` (the
    symbols, distinct characters), and the `SyntheticConfig` sizes."""

    min_length: int = 3
    max_length: int = 12
    alphabet: str = "abcdefghijklmnopqrstuvwxyz"


class SequenceReverse(TextPairBuilder):
    """String reversal as a seq2seq task."""

    DESCRIPTION = __doc__
    CITATION = "Sutskever, Vinyals & Le, NeurIPS 2014."
    BUILDER_CONFIGS = [
        SequenceReverseConfig(
            name="default", train_size=20000, validation_size=1000, test_size=1000
        ),
        SequenceReverseConfig(
            name="small", train_size=1000, validation_size=100, test_size=100
        ),
    ]

    def _validate_task(self, config):
        if not 1 <= config.min_length <= config.max_length:
            raise DataError(
                f"{self.name}: need 1 <= min_length <= max_length, got "
                f"min_length={config.min_length}, max_length={config.max_length}."
            )
        if not config.alphabet or len(set(config.alphabet)) != len(config.alphabet):
            raise DataError(
                f"{self.name}: alphabet must be distinct characters, "
                f"got {config.alphabet!r}."
            )

    def characters(self, config):
        return config.alphabet

    def _make_example(self, rng, config):
        length = int(rng.integers(config.min_length, config.max_length + 1))
        picks = rng.integers(0, len(config.alphabet), size=length)
        source = "".join(config.alphabet[i] for i in picks)
        return {"source": source, "target": source[::-1]}
