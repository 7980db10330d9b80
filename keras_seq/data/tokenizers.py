"""Character and byte tokenizers, and the interface all our tokenizers share.

A tokenizer is a `tf.Module` (so its lookup tables travel into a SavedModel)
with:

- `tokenize(strings)`: a scalar string gives a 1-D int32 tensor, a 1-D batch
  a `tf.RaggedTensor` of int32 ids; works inside `tf.data` and `tf.function`.
- `detokenize(ids)`: ids (1-D, 2-D dense or ragged) back to strings; the text
  stops at the first `</s>`, and `<pad>`, `<s>` are dropped.
- `vocabulary_size`, `special_ids` (`pad`, `unk`, `bos`, `eos` always;
  `mask`, `cls`, `sep` and the list `sentinels` where the vocabulary has them,
  else `None`/`[]`), `get_config()`.

Ids 0-3 are `<pad>`, `<unk>`, `<s>`, `</s>` in every tokenizer (see
`keras_seq.data.specials`). `save_tokenizer` / `load_tokenizer`
(`keras_seq.data.tokenizer_io`) write and read them as a directory.

Example:

```python
tok = CharTokenizer.from_texts(["hello world"])
ids = tok.tokenize("hello")          # int32 [ids of h, e, l, l, o]
tok.detokenize(ids).numpy()          # b"hello"
```
"""

import abc
import collections

import tensorflow as tf

from keras_seq.data import specials
from keras_seq.data.dataset import DataError


class Tokenizer(tf.Module, abc.ABC):
    """Base class: subclasses set `kind`, `_pieces`, and write `tokenize`."""

    kind = None

    def __init__(self, vocabulary_size, special_ids, name=None):
        super().__init__(name=name)
        self.vocabulary_size = int(vocabulary_size)
        self._special_ids = dict(special_ids)

    @property
    def special_ids(self):
        """Plain dict (a copy): `pad`, `unk`, `bos`, `eos`, `mask`, `cls`,
        `sep` (int or `None`) and `sentinels` (list of ints)."""
        ids = dict(self._special_ids)
        ids["sentinels"] = list(ids["sentinels"])
        return ids

    @abc.abstractmethod
    def tokenize(self, strings):
        """Strings (B,) -> ragged int32 ids (B, None)."""

    @abc.abstractmethod
    def get_config(self):
        """The constructor arguments, as plain values."""

    @abc.abstractmethod
    def _join(self, ids):
        """Ragged int ids (B, None) -> strings (B,)."""

    def _drop_ids(self):
        """Ids removed before joining: `<pad>`, `<s>`."""
        return [self.special_ids["pad"], self.special_ids["bos"]]

    def detokenize(self, ids):
        """Ids -> strings, cut at the first `</s>`, without pad and `<s>`."""
        if isinstance(ids, tf.RaggedTensor):
            dense = ids.to_tensor(default_value=self.special_ids["pad"])
        else:
            dense = tf.convert_to_tensor(ids)
        scalar = dense.shape.rank == 1
        if scalar:
            dense = tf.expand_dims(dense, 0)
        dense = tf.cast(dense, tf.int32)
        after_eos = tf.cumsum(tf.cast(dense == self.special_ids["eos"], tf.int32), -1)
        keep = after_eos == 0
        for drop in self._drop_ids():
            keep &= dense != drop
        text = self._join(tf.ragged.boolean_mask(dense, keep))
        return text[0] if scalar else text

    def _base_special_ids(self, token_to_id):
        ids = {
            "pad": token_to_id[specials.PAD],
            "unk": token_to_id[specials.UNK],
            "bos": token_to_id[specials.BOS],
            "eos": token_to_id[specials.EOS],
            "mask": token_to_id.get(specials.MASK),
            "cls": token_to_id.get(specials.CLS),
            "sep": token_to_id.get(specials.SEP),
        }
        ids["sentinels"] = [
            token_to_id[s] for s in specials.SENTINELS if s in token_to_id
        ]
        return ids


def check_basic_specials(vocabulary, where):
    """Raises `DataError` unless ids 0-3 are `<pad>`, `<unk>`, `<s>`, `</s>`."""
    head = list(vocabulary[: len(specials.BASIC_SPECIALS)])
    if head != list(specials.BASIC_SPECIALS):
        raise DataError(
            f"{where}: a vocabulary must start with {list(specials.BASIC_SPECIALS)} "
            f"(ids 0-3), got {head}."
        )


class _LookupTokenizer(Tokenizer):
    """Splits strings into pieces and looks each piece up in a table."""

    def __init__(self, vocabulary, name=None):
        vocabulary = list(vocabulary)
        check_basic_specials(vocabulary, type(self).__name__)
        duplicates = [t for t, n in collections.Counter(vocabulary).items() if n > 1]
        if duplicates:
            raise DataError(
                f"{type(self).__name__}: the vocabulary repeats {duplicates[:5]}."
            )
        token_to_id = {t: i for i, t in enumerate(vocabulary)}
        super().__init__(len(vocabulary), self._base_special_ids(token_to_id), name)
        self.vocabulary = vocabulary
        special = set(specials.ALL_SPECIALS)
        keys = [t for t in vocabulary if t not in special]
        values = [token_to_id[t] for t in keys]
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys or [""], tf.string),
                tf.constant(values or [self.special_ids["unk"]], tf.int32),
            ),
            default_value=self.special_ids["unk"],
        )
        self._pieces = tf.constant(vocabulary, tf.string)

    @abc.abstractmethod
    def _split(self, strings):
        """Strings (B,) -> ragged string pieces (B, None)."""

    def tokenize(self, strings):
        pieces = self._split(tf.convert_to_tensor(strings, tf.string))
        if isinstance(pieces, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self._table.lookup, pieces)
        return self._table.lookup(pieces)

    def _join(self, ids):
        return tf.strings.reduce_join(tf.gather(self._pieces, ids), axis=-1)


class CharTokenizer(_LookupTokenizer):
    """One token per Unicode character; unknown characters map to `<unk>`.

    Args:
        vocabulary: list of tokens: `<pad>`, `<unk>`, `<s>`, `</s>` first,
            then other special tokens (from `keras_seq.data.specials`) and
            single characters.
    """

    kind = "char"

    def __init__(self, vocabulary, name=None):
        special = set(specials.ALL_SPECIALS)
        bad = [t for t in vocabulary if t not in special and len(t) != 1]
        if bad:
            raise DataError(
                f"CharTokenizer: tokens must be special tokens or single "
                f"characters, got {bad[:5]}."
            )
        super().__init__(vocabulary, name=name)

    @classmethod
    def from_texts(cls, texts, max_size=None, extra_specials=True):
        """Builds the vocabulary from an iterable of strings (or bytes).

        Characters are ordered by falling count, ties by code point; with
        `max_size`, the rarest are left out (they become `<unk>`).
        """
        counts = collections.Counter()
        for text in texts:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            counts.update(text)
        head = specials.ALL_SPECIALS if extra_specials else specials.BASIC_SPECIALS
        for token in head:
            counts.pop(token, None)
        chars = sorted(counts, key=lambda c: (-counts[c], c))
        if max_size is not None:
            chars = chars[: max(0, max_size - len(head))]
        if not chars:
            raise DataError("CharTokenizer.from_texts: the texts are empty.")
        return cls(list(head) + chars)

    def _split(self, strings):
        return tf.strings.unicode_split(strings, "UTF-8")

    def get_config(self):
        return {"vocabulary": list(self.vocabulary)}


class ByteTokenizer(_LookupTokenizer):
    """One token per UTF-8 byte: the special tokens, then bytes 0-255.

    Byte `b` has id `len(specials.ALL_SPECIALS) + b`; every string is covered,
    so `<unk>` never appears.
    """

    kind = "byte"

    def __init__(self, name=None):
        super().__init__(
            list(specials.ALL_SPECIALS) + [bytes([b]) for b in range(256)], name=name
        )

    def _split(self, strings):
        return tf.strings.bytes_split(strings)

    def get_config(self):
        return {}
