"""Train a tokenizer on the training split of a `SeqDataset`.

`train_tokenizer(kind, dataset)` with kind `"char"`, `"byte"`,
`"word_piece"` (keras-hub's `compute_word_piece_vocabulary`) or
`"sentence_piece"` (keras-hub's `compute_sentence_piece_proto`) reads only
`dataset.splits["train"]` (for seq2seq, sources and targets, one shared
vocabulary) and returns a tokenizer; `save_tokenizer` then writes it next to
the model so export can embed it.

Example:

```python
ds = keras_seq.data.load_dataset("text:/data/corpus.txt")
tok = train_tokenizer("word_piece", ds, vocabulary_size=8000)
save_tokenizer(tok, "model_dir/tokenizer")
```

`keras_hub` is imported where it is used, so `import keras_seq.data` stays
light.
"""

import tensorflow as tf

from keras_seq.data import specials
from keras_seq.data.dataset import TASK_KEYS, DataError
from keras_seq.data.subword import (
    SentencePieceTokenizer,
    WordPieceTokenizer,
    check_piece_count,
)
from keras_seq.data.tokenizers import ByteTokenizer, CharTokenizer

KINDS = ("char", "byte", "word_piece", "sentence_piece")


def training_texts(dataset):
    """The training split's strings, as a `tf.data.Dataset` of scalars."""
    train = dataset.split("train")
    keys = [k for k in TASK_KEYS[dataset.task] if k in ("text", "source", "target")]
    if not keys:
        raise DataError(
            f"Dataset {dataset.name!r} (task {dataset.task}) has no text to "
            "train a tokenizer on."
        )
    texts = train.map(lambda ex: ex[keys[0]])
    for key in keys[1:]:
        texts = texts.concatenate(train.map(lambda ex, k=key: ex[k]))
    return texts


def train_word_piece(texts, vocabulary_size, lowercase=True):
    """WordPiece vocabulary from a dataset of strings -> `WordPieceTokenizer`."""
    check_piece_count(vocabulary_size, "train_word_piece")
    import keras_hub

    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        texts,
        vocabulary_size,
        lowercase=lowercase,
        reserved_tokens=list(specials.ALL_SPECIALS),
    )
    if len(vocabulary) <= len(specials.ALL_SPECIALS):
        raise DataError("train_word_piece: the training texts are empty.")
    return WordPieceTokenizer(vocabulary, lowercase=lowercase)


def train_sentence_piece(texts, vocabulary_size, model_type="unigram"):
    """SentencePiece model from a dataset of strings -> `SentencePieceTokenizer`.

    `vocabulary_size` counts the pieces (ids 0-3 included); the other special
    tokens are added after them.
    """
    check_piece_count(vocabulary_size, "train_sentence_piece")
    texts = texts.filter(lambda t: tf.strings.length(t) > 0)
    pieces = vocabulary_size - len(specials.EXTRA_SPECIALS)
    import keras_hub

    try:
        proto = keras_hub.tokenizers.compute_sentence_piece_proto(
            texts, pieces, model_type
        )
    except RuntimeError as error:  # e.g. "Vocabulary size too high (N) ..."
        raise DataError(
            f"train_sentence_piece: vocabulary_size={vocabulary_size} asks for "
            f"{pieces} pieces (+{len(specials.EXTRA_SPECIALS)} special tokens); "
            f"SentencePiece says: {error}"
        ) from error
    return SentencePieceTokenizer(proto)


def train_tokenizer(kind, dataset, vocabulary_size=None, lowercase=True):
    """Trains a tokenizer of `kind` on `dataset`'s training split.

    Args:
        kind: `"char"`, `"byte"`, `"word_piece"` or `"sentence_piece"`.
        dataset: a `SeqDataset` with text (language_model, seq2seq,
            classification).
        vocabulary_size: the size (needed for the subword kinds; for
            `"char"`, an optional cap).
        lowercase: for `"word_piece"`.
    """
    if kind not in KINDS:
        raise DataError(f"Unknown tokenizer kind {kind!r}; kinds are {list(KINDS)}.")
    if kind == "byte":
        return ByteTokenizer()
    texts = training_texts(dataset)
    if kind == "char":
        return CharTokenizer.from_texts(
            texts.as_numpy_iterator(), max_size=vocabulary_size
        )
    if vocabulary_size is None:
        raise DataError(f"train_tokenizer({kind!r}): give a vocabulary_size.")
    if kind == "word_piece":
        return train_word_piece(texts, vocabulary_size, lowercase=lowercase)
    return train_sentence_piece(texts, vocabulary_size)
