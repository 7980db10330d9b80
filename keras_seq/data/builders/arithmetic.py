"""`arithmetic`: integer arithmetic written out, e.g. `"123+45"` -> `"168"`.

Each operand has a number of digits drawn uniformly from 1..`max_digits`,
then a value uniform among the numbers of that many digits (so short and
long operands are equally common); the operator is drawn from `operators`
(`+`, `-`, `*`). Results are written in decimal, with a leading `-` when
negative. Sources are unique across splits.

Features: `source` text, `target` text.

References:
    Zaremba & Sutskever, "Learning to Execute", arXiv:1410.4615, 2014.
"""

import dataclasses

from keras_seq.data.builders.base import SyntheticConfig
from keras_seq.data.builders.text_pairs import TextPairBuilder
from keras_seq.data.dataset import DataError

_OPERATIONS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}


@dataclasses.dataclass
class ArithmeticConfig(SyntheticConfig):
    """Args: `max_digits` per operand (>= 1), `operators` (a string drawn
    from `"+-*"`), and the `SyntheticConfig` sizes."""

    max_digits: int = 3
    operators: str = "+-"


class Arithmetic(TextPairBuilder):
    """Integer arithmetic problems as character strings."""

    DESCRIPTION = __doc__
    CITATION = "Zaremba & Sutskever, arXiv:1410.4615, 2014."
    BUILDER_CONFIGS = [
        ArithmeticConfig(
            name="default", train_size=20000, validation_size=1000, test_size=1000
        ),
        ArithmeticConfig(
            name="small", train_size=1000, validation_size=100, test_size=100
        ),
    ]

    def _validate_task(self, config):
        if config.max_digits < 1:
            raise DataError(
                f"{self.name}: max_digits must be >= 1, got {config.max_digits}."
            )
        unknown = sorted(set(config.operators) - set(_OPERATIONS))
        if not config.operators or unknown:
            raise DataError(
                f"{self.name}: operators must be a non-empty string of "
                f"{''.join(_OPERATIONS)!r}, got {config.operators!r}."
            )

    def characters(self, config):
        return "0123456789-" + config.operators

    def _operand(self, rng, config):
        digits = int(rng.integers(1, config.max_digits + 1))
        low = 0 if digits == 1 else 10 ** (digits - 1)
        return int(rng.integers(low, 10**digits))

    def _make_example(self, rng, config):
        a = self._operand(rng, config)
        b = self._operand(rng, config)
        op = config.operators[int(rng.integers(len(config.operators)))]
        return {"source": f"{a}{op}{b}", "target": str(_OPERATIONS[op](a, b))}
