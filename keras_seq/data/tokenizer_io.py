"""Save a tokenizer to a directory and load it back; writes are atomic.

Layout of the directory (what export embeds as assets):

- `tokenizer.json`: `{"kind": ..., "config": {...}, "vocabulary_size": N,
  "special_ids": {...}}`; a character vocabulary is kept here, as a JSON list.
- `vocabulary.txt` (WordPiece): one token per line.
- `sentencepiece.model` (SentencePiece): the serialized model.
- `keras_hub/` (a checkpoint's keras-hub tokenizer, `KerasHubTokenizer`):
  keras-hub's own preset files, `tokenizer.json` and `assets/tokenizer/`.

`save_tokenizer` writes everything into a fresh sibling directory and renames
it into place, so a crash never leaves a directory that loads half-written.
"""

import json
import os
import shutil
import uuid

from keras_seq.data.dataset import DataError
from keras_seq.data.hub_tokenizer import KerasHubTokenizer
from keras_seq.data.subword import SentencePieceTokenizer, WordPieceTokenizer
from keras_seq.data.tokenizers import ByteTokenizer, CharTokenizer

CONFIG_FILE = "tokenizer.json"
WORD_PIECE_FILE = "vocabulary.txt"
SENTENCE_PIECE_FILE = "sentencepiece.model"


def save_tokenizer(tokenizer, directory, overwrite=False):
    """Writes `tokenizer` to `directory` (created; replaced if `overwrite`)."""
    directory = os.path.abspath(os.fspath(directory))
    if os.path.exists(directory) and not overwrite:
        raise DataError(
            f"save_tokenizer: {directory} exists; pass overwrite=True to replace it."
        )
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = f"{directory}.tmp-{uuid.uuid4().hex[:8]}"
    os.makedirs(tmp)
    try:
        if tokenizer.kind == "word_piece":
            with open(os.path.join(tmp, WORD_PIECE_FILE), "w", encoding="utf-8") as f:
                f.write("".join(t + "\n" for t in tokenizer.vocabulary))
        elif tokenizer.kind == "sentence_piece":
            with open(os.path.join(tmp, SENTENCE_PIECE_FILE), "wb") as f:
                f.write(tokenizer.proto)
        elif tokenizer.kind == "keras_hub":
            tokenizer.save_layer(tmp)
        record = {
            "kind": tokenizer.kind,
            "config": tokenizer.get_config(),
            "vocabulary_size": tokenizer.vocabulary_size,
            "special_ids": tokenizer.special_ids,
        }
        with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False, indent=1)
        old = None
        if os.path.exists(directory):
            old = f"{directory}.old-{uuid.uuid4().hex[:8]}"
            os.rename(directory, old)
        os.rename(tmp, directory)
        if old:
            shutil.rmtree(old)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return directory


def load_tokenizer(directory):
    """Reads a tokenizer written by `save_tokenizer`."""
    directory = os.fspath(directory)
    path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(path):
        raise DataError(f"load_tokenizer: no {CONFIG_FILE} in {directory}.")
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        kind, config = record["kind"], record["config"]
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"load_tokenizer: {path} is not a tokenizer file: {error}"
        ) from None
    if kind == "char":
        return CharTokenizer(config["vocabulary"])
    if kind == "byte":
        return ByteTokenizer()
    if kind == "word_piece":
        with open(os.path.join(directory, WORD_PIECE_FILE), encoding="utf-8") as f:
            vocabulary = f.read().split("\n")[:-1]
        return WordPieceTokenizer(vocabulary, **config)
    if kind == "sentence_piece":
        with open(os.path.join(directory, SENTENCE_PIECE_FILE), "rb") as f:
            return SentencePieceTokenizer(f.read())
    if kind == "keras_hub":
        return KerasHubTokenizer.load(directory, config)
    raise DataError(f"load_tokenizer: {path} has unknown kind {kind!r}.")
