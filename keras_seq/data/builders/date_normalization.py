"""`date_normalization`: human-written dates -> ISO 8601 `YYYY-MM-DD`.

The classic attention demo: `"Monday, May 3, 1999"`, `"05/03/99"`,
`"3rd May 1999"`, `"1999.5.3"` all map to `"1999-05-03"`. A date is drawn
uniformly from `start_year`..`end_year` (a range of at most 100 years, so
two-digit years are unambiguous), and a format uniformly from the
`len(FORMATS)` formats in `date_formats.py`. Sources are unique across
splits. The data comes with a character vocabulary (`<pad>`=0, `<unk>`, `<s>`,
`</s>`, then digits, letters and ` ,-./`).

The default size (30k training pairs) is set for the default training job:
a seq2seq model with Bahdanau attention reaching >= 0.99 exact match on the
test split in minutes on two CPU cores.

Features: `source` text, `target` text.

References:
    Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning
    to Align and Translate", ICLR 2015 (the attention model it demonstrates).
"""

import dataclasses

from keras_seq.data.builders import date_formats
from keras_seq.data.builders.base import SyntheticConfig
from keras_seq.data.builders.text_pairs import TextPairBuilder
from keras_seq.data.dataset import DataError


@dataclasses.dataclass
class DateNormalizationConfig(SyntheticConfig):
    """Args: `start_year`, `end_year` (inclusive, at most 100 years, within
    1..9999), and the `SyntheticConfig` sizes."""

    start_year: int = 1950
    end_year: int = 2049


class DateNormalization(TextPairBuilder):
    """Dates in a few dozen human formats, to normalize to `YYYY-MM-DD`."""

    DESCRIPTION = __doc__
    CITATION = "Bahdanau, Cho & Bengio, ICLR 2015."
    BUILDER_CONFIGS = [
        DateNormalizationConfig(
            name="default", train_size=30000, validation_size=1000, test_size=2000
        ),
        DateNormalizationConfig(
            name="small", train_size=2000, validation_size=200, test_size=200
        ),
    ]

    def _validate_task(self, config):
        start, end = config.start_year, config.end_year
        if not (1 <= start <= end <= 9999 and end - start < 100):
            raise DataError(
                f"{self.name}: need 1 <= start_year <= end_year <= 9999 and at "
                f"most 100 years (two-digit years must name one year), got "
                f"start_year={start}, end_year={end}."
            )

    def characters(self, config):
        del config
        return date_formats.characters()

    def _make_example(self, rng, config):
        date = date_formats.random_date(rng, config.start_year, config.end_year)
        template, case = date_formats.FORMATS[
            int(rng.integers(len(date_formats.FORMATS)))
        ]
        return {
            "source": date_formats.render(date, template, case),
            "target": date.isoformat(),
        }
