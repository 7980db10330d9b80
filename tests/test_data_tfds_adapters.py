"""`tfds:NAME` adapters on `tfds.testing.mock_data` (no downloads)."""

import pytest
import tensorflow_datasets as tfds

from keras_seq import data

MOCK = {"num_examples": 12, "policy": tfds.testing.MockPolicy.USE_CODE}


def test_imdb_reviews_is_classification(tmp_path):
    with tfds.testing.mock_data(**MOCK):
        ds = data.load_dataset("tfds:imdb_reviews", data_dir=tmp_path)
        assert ds.task == "classification"
        assert ds.label_names == ["neg", "pos"]
        assert set(ds.splits) == {"train", "validation", "test"}
        rows = list(ds.split("test").as_numpy_iterator())
        assert len(rows) == 12
        assert all(isinstance(r["text"], bytes) and r["label"] in (0, 1) for r in rows)
        tok = data.train_tokenizer("char", ds)
        x, y = next(
            iter(data.make_batches("rnn_classifier", ds, tokenizer=tok, batch_size=4))
        )
        assert x["token_ids"].shape[0] == 4 and y.shape == (4,)
        assert set(x) == {"token_ids"}


def test_ted_pt_to_en_is_seq2seq_portuguese_to_english(tmp_path):
    with tfds.testing.mock_data(**MOCK):
        builder = tfds.builder("ted_hrlr_translate/pt_to_en", data_dir=tmp_path)
        raw = list(builder.as_dataset(split="validation").as_numpy_iterator())
        ds = data.load_dataset("tfds:ted_hrlr_translate/pt_to_en", data_dir=tmp_path)
        assert ds.task == "seq2seq"
        rows = list(ds.split("validation").as_numpy_iterator())
        assert [r["source"] for r in rows] == [r["pt"] for r in raw]
        assert [r["target"] for r in rows] == [r["en"] for r in raw]
        tok = data.train_tokenizer("char", ds)
        x, y, w = next(
            iter(data.make_batches("transformer", ds, tokenizer=tok, batch_size=3))
        )
        assert x["encoder_token_ids"].shape[0] == 3
        assert x["decoder_token_ids"].shape == y.shape == w.shape


def test_tiny_shakespeare_is_lines_of_text(tmp_path):
    with tfds.testing.mock_data(**MOCK):
        builder = tfds.builder("tiny_shakespeare", data_dir=tmp_path)
        raw = b"".join(
            ex["text"] for ex in builder.as_dataset(split="train").as_numpy_iterator()
        )
        ds = data.load_dataset("tfds:tiny_shakespeare", data_dir=tmp_path)
        assert ds.task == "language_model"
        lines = [ex["text"] for ex in ds.split("train").as_numpy_iterator()]
        assert b"".join(lines) == raw
        tok = data.train_tokenizer("char", ds)
        x, y, _ = next(
            iter(
                data.make_batches(
                    "char_rnn", ds, tokenizer=tok, batch_size=2, sequence_length=5
                )
            )
        )
        assert x["token_ids"].shape == y.shape == (2, 5)


def test_generic_text_and_label_dataset_without_adapter(tmp_path):
    # ag_news_subset: "description", "title", "label": not text+label alone.
    with tfds.testing.mock_data(**MOCK):
        with pytest.raises(data.DataError, match="(?s)no adapter.*adapters exist for"):
            data.load_dataset("tfds:ag_news_subset", data_dir=tmp_path)
        # yelp_polarity_reviews: "text" + ClassLabel "label": read generically.
        ds = data.load_dataset("tfds:yelp_polarity_reviews", data_dir=tmp_path)
        assert ds.task == "classification"
        assert {"train", "validation"} <= set(ds.splits)


def test_embedded_names_work_through_tfds_prefix(tmp_path):
    ds = data.load_dataset(
        "tfds:sequence_reverse",
        data_dir=tmp_path,
        train_size=6,
        validation_size=2,
        test_size=2,
    )
    assert ds.task == "seq2seq" and ds.vocabulary[0] == "<pad>"


def test_unprepared_dataset_without_download_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match="'imdb_reviews' is not prepared"):
        data.tfds_adapters.load_tfds("imdb_reviews", data_dir=tmp_path, download=False)
