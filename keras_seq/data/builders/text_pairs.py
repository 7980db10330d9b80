"""`TextPairBuilder`: the base of the embedded seq2seq (string -> string) tasks.

Examples are `{"source": str, "target": str}`, unique by source across all
splits, and the data comes with a character vocabulary: the four basic
special tokens (`<pad>`=0, `<unk>`, `<s>`, `</s>`), then every character the
task can produce, sorted.
"""

import tensorflow_datasets as tfds

from keras_seq.data.builders.base import SyntheticBuilder
from keras_seq.data.specials import char_vocabulary


class TextPairBuilder(SyntheticBuilder, skip_registration=True):
    """Base class: subclasses set `characters(config)` and `_make_example`."""

    TASK = "seq2seq"
    SUPERVISED_KEYS = ("source", "target")
    UNIQUE = True

    def characters(self, config):
        """Every character a source or target of `config` may hold."""
        raise NotImplementedError

    def vocabulary(self, config):
        return char_vocabulary(self.characters(config))

    def _features(self, config):
        del config
        return tfds.features.FeaturesDict(
            {"source": tfds.features.Text(), "target": tfds.features.Text()}
        )
