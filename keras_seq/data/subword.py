"""WordPiece and SentencePiece tokenizers (keras-hub layers inside).

Both follow the `keras_seq.data.tokenizers.Tokenizer` interface: ids 0-3 are
`<pad>`, `<unk>`, `<s>`, `</s>`. A WordPiece vocabulary holds every special
token of `keras_seq.data.specials` right after those four; a SentencePiece
model holds the four (keras-hub's trainer fixes their ids) and the other
special tokens get the ids right after its pieces. Train them with
`keras_seq.data.vocab_training`.

`keras_hub` is imported where it is used, so `import keras_seq.data` stays
light.
"""

import tensorflow as tf

from keras_seq.data import specials
from keras_seq.data.dataset import DataError
from keras_seq.data.tokenizers import Tokenizer, check_basic_specials


def _as_tensor(value, dtype):
    """keras-hub returns Python lists outside graphs: turn them back into
    tensors (ragged when rows differ in length)."""
    if isinstance(value, tf.Tensor | tf.RaggedTensor):
        return value
    if isinstance(value, list) and value and isinstance(value[0], list):
        return tf.ragged.constant(value, dtype=dtype)
    return tf.constant(value, dtype=dtype)


class WordPieceTokenizer(Tokenizer):
    """WordPiece (BERT's subwords) over keras-hub's `WordPieceTokenizer`.

    Args:
        vocabulary: list of tokens, special tokens first (as made by
            `vocab_training.train_word_piece`).
        lowercase: lowercase the text before splitting.
    """

    kind = "word_piece"

    def __init__(self, vocabulary, lowercase=True, name=None):
        vocabulary = list(vocabulary)
        check_basic_specials(vocabulary, "WordPieceTokenizer")
        token_to_id = {t: i for i, t in enumerate(vocabulary)}
        super().__init__(len(vocabulary), self._base_special_ids(token_to_id), name)
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        import keras_hub

        self._layer = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=vocabulary,
            lowercase=lowercase,
            oov_token=specials.UNK,
            dtype="int32",
        )

    def tokenize(self, strings):
        ids = self._layer.tokenize(tf.convert_to_tensor(strings, tf.string))
        return _as_tensor(ids, tf.int32)

    def _drop_ids(self):
        # Every special token, so no "<mask>" text comes back.
        return [i for i, t in enumerate(self.vocabulary) if t in _SPECIAL_SET]

    def _join(self, ids):
        return _as_tensor(self._layer.detokenize(ids), tf.string)

    def get_config(self):
        return {"lowercase": self.lowercase}


_SPECIAL_SET = frozenset(specials.ALL_SPECIALS)


class SentencePieceTokenizer(Tokenizer):
    """SentencePiece over keras-hub's `SentencePieceTokenizer`.

    Args:
        proto: the serialized SentencePiece model (bytes), with `<pad>`=0,
            `<unk>`=1, `<s>`=2, `</s>`=3 (as `compute_sentence_piece_proto`
            makes it). `<mask>`, `<cls>`, `<sep>` and the sentinels get ids
            `piece_count`, `piece_count + 1`, ...
    """

    kind = "sentence_piece"

    def __init__(self, proto, name=None):
        import keras_hub

        layer = keras_hub.tokenizers.SentencePieceTokenizer(proto=proto, dtype="int32")
        pieces = [layer.id_to_token(i) for i in range(len(specials.BASIC_SPECIALS))]
        check_basic_specials(pieces, "SentencePieceTokenizer")
        self.piece_count = int(layer.vocabulary_size())
        token_to_id = {t: i for i, t in enumerate(specials.BASIC_SPECIALS)}
        for offset, token in enumerate(specials.EXTRA_SPECIALS):
            token_to_id[token] = self.piece_count + offset
        super().__init__(
            self.piece_count + len(specials.EXTRA_SPECIALS),
            self._base_special_ids(token_to_id),
            name,
        )
        self.proto = proto
        self._layer = layer

    def tokenize(self, strings):
        ids = self._layer.tokenize(tf.convert_to_tensor(strings, tf.string))
        return _as_tensor(ids, tf.int32)

    def _join(self, ids):
        # Our extra special tokens are not pieces: drop them.
        ids = tf.ragged.boolean_mask(ids, ids < self.piece_count)
        return _as_tensor(self._layer.detokenize(ids), tf.string)

    def get_config(self):
        return {}


def check_piece_count(vocabulary_size, kind):
    """Raises `DataError` if `vocabulary_size` leaves no room for pieces."""
    floor = len(specials.ALL_SPECIALS) + 1
    if not isinstance(vocabulary_size, int) or vocabulary_size < floor:
        raise DataError(
            f"{kind}: vocabulary_size must be an int >= {floor} (the special "
            f"tokens take {len(specials.ALL_SPECIALS)}), got {vocabulary_size!r}."
        )
