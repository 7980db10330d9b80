"""Tokenizers: char/byte, WordPiece and SentencePiece trained by keras-hub,
saved to a directory (atomically) and loaded back."""

import json
import os

import pytest
import tensorflow as tf

from keras_seq import data
from keras_seq.data import specials, tokenizer_io

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "a stitch in time saves nine",
    "déjà vu, naïve café",
    "to be or not to be, that is the question",
] * 10


@pytest.fixture(scope="module")
def text_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return data.load_dataset(f"text:{path}", validation_fraction=0.2)


@pytest.fixture(scope="module")
def tokenizers(text_dataset):
    return {
        "char": data.train_tokenizer("char", text_dataset),
        "byte": data.train_tokenizer("byte", text_dataset),
        "word_piece": data.train_tokenizer("word_piece", text_dataset, 120),
        "sentence_piece": data.train_tokenizer("sentence_piece", text_dataset, 64),
    }


KINDS = ["char", "byte", "word_piece", "sentence_piece"]


@pytest.mark.parametrize("kind", KINDS)
def test_basic_special_ids_are_shared(kind, tokenizers):
    tok = tokenizers[kind]
    ids = tok.special_ids
    assert (ids["pad"], ids["unk"], ids["bos"], ids["eos"]) == (0, 1, 2, 3)
    assert ids["mask"] is not None and ids["cls"] is not None
    assert len(ids["sentinels"]) == specials.NUM_SENTINELS
    assert max(ids["sentinels"]) < tok.vocabulary_size


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_and_no_pad_ids(kind, tokenizers):
    tok = tokenizers[kind]
    strings = ["the lazy fox", "to be or not"]
    ids = tok.tokenize(strings)
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert int(tf.reduce_min(ids.flat_values)) > 0  # pad id 0 never emitted
    assert int(tf.reduce_max(ids.flat_values)) < tok.vocabulary_size
    assert [s.decode() for s in tok.detokenize(ids).numpy()] == strings
    single = tok.tokenize("the lazy fox")
    assert single.shape.rank == 1
    assert tok.detokenize(single).numpy().decode() == "the lazy fox"


@pytest.mark.parametrize("kind", KINDS)
def test_detokenize_drops_bos_pad_and_stops_at_eos(kind, tokenizers):
    tok = tokenizers[kind]
    ids = tok.tokenize("the fox").numpy().tolist()
    ids_after = tok.tokenize("lazy dog").numpy().tolist()
    row = [2] + ids + [3] + ids_after + [0, 0]
    assert tok.detokenize(tf.constant([row])).numpy()[0].decode() == "the fox"


def test_char_unknown_and_byte_covers_everything(tokenizers):
    char, byte = tokenizers["char"], tokenizers["byte"]
    assert char.tokenize("Ωx").numpy()[0] == char.special_ids["unk"]
    text = "Ω snowman ☃ and emoji 🙂"
    ids = byte.tokenize(text).numpy()
    assert len(ids) == len(text.encode("utf-8"))
    assert byte.detokenize(ids).numpy().decode() == text
    assert byte.vocabulary_size == len(specials.ALL_SPECIALS) + 256


def test_char_vocabulary_comes_from_the_training_split_only(text_dataset):
    tok = data.train_tokenizer("char", text_dataset)
    train = "".join(
        ex["text"].decode() for ex in text_dataset.split("train").as_numpy_iterator()
    )
    assert set(tok.vocabulary[len(specials.ALL_SPECIALS) :]) == set(train)


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_round_trip(kind, tokenizers, tmp_path):
    tok = tokenizers[kind]
    directory = tokenizer_io.save_tokenizer(tok, tmp_path / "tok")
    record = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())
    assert record["kind"] == kind
    loaded = data.load_tokenizer(directory)
    strings = ["the quick question", "naïve"]
    assert loaded.tokenize(strings).to_list() == tok.tokenize(strings).to_list()
    assert loaded.special_ids == tok.special_ids
    assert loaded.vocabulary_size == tok.vocabulary_size


def test_save_refuses_to_overwrite_and_a_crash_keeps_the_old_one(
    tokenizers, tmp_path, monkeypatch
):
    directory = tmp_path / "tok"
    data.save_tokenizer(tokenizers["char"], directory)
    with pytest.raises(data.DataError, match="exists; pass overwrite=True"):
        data.save_tokenizer(tokenizers["byte"], directory)

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tokenizer_io.json, "dump", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        data.save_tokenizer(tokenizers["byte"], directory, overwrite=True)
    with pytest.raises(RuntimeError, match="disk full"):
        data.save_tokenizer(tokenizers["byte"], tmp_path / "fresh")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["tok"]  # no temporary or half directory
    assert data.load_tokenizer(directory).kind == "char"
    data.save_tokenizer(tokenizers["byte"], directory, overwrite=True)
    assert data.load_tokenizer(directory).kind == "byte"


def test_load_without_tokenizer_file_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match=r"no tokenizer.json in"):
        data.load_tokenizer(tmp_path)


def test_bad_training_requests(text_dataset):
    with pytest.raises(data.DataError, match="Unknown tokenizer kind 'bpe'"):
        data.train_tokenizer("bpe", text_dataset)
    with pytest.raises(data.DataError, match="vocabulary_size must be an int >= 24"):
        data.train_tokenizer("word_piece", text_dataset, 10)
    with pytest.raises(data.DataError, match="SentencePiece says: .*Vocabulary size"):
        data.train_tokenizer("sentence_piece", text_dataset, 5000)
    with pytest.raises(data.DataError, match="must start with"):
        data.CharTokenizer(["a", "b"])


def test_tokenizer_travels_in_a_saved_model(tokenizers, tmp_path):
    module = tf.Module()
    module.tokenizer = tokenizers["char"]
    module.serve = tf.function(
        lambda s: module.tokenizer.tokenize(s).to_tensor(),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    tf.saved_model.save(module, str(tmp_path / "sm"))
    reloaded = tf.saved_model.load(str(tmp_path / "sm"))
    strings = tf.constant(["the fox", "naïve café"])
    expected = tokenizers["char"].tokenize(strings).to_tensor()
    tf.debugging.assert_equal(reloaded.serve(strings), expected)
