"""`make_batches`: the shapes and conventions each zoo family expects."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_seq import data
from keras_seq.data import masking

tfds.disable_progress_bar()
TINY = {"train_size": 24, "validation_size": 4, "test_size": 4}
TEXT = "".join(
    f"Line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(60)
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def dates(data_dir):
    return data.load_dataset("date_normalization", data_dir=data_dir, **TINY)


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return data.load_dataset(f"text:{path}")


@pytest.fixture(scope="module")
def char_tok(text):
    return data.train_tokenizer("char", text)


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    path = tmp_path_factory.mktemp("labeled") / "reviews.tsv"
    rows = [
        f"a {'great' if i % 2 else 'awful'} film number {i}\t{i % 2}\n"
        for i in range(40)
    ]
    path.write_text("".join(rows), encoding="utf-8")
    return data.load_dataset(f"labeled:{path}")


def _first(batches):
    return next(iter(batches))


def _shapes(x):
    return {k: tuple(v.shape) for k, v in x.items()}


@pytest.mark.parametrize("family", ["seq2seq_attention", "transformer", "t5"])
def test_seq2seq_teacher_forcing(family, dates):
    tok = data.dataset_tokenizer(dates)
    plain, _, _ = _first(data.make_batches(family, dates, "test", batch_size=4))
    assert set(plain) == {"encoder_token_ids", "decoder_token_ids"}  # zoo inputs
    batches = data.make_batches(family, dates, "test", batch_size=4, padding_masks=True)
    x, y, w = _first(batches)
    b, s = x["encoder_token_ids"].shape
    t = x["decoder_token_ids"].shape[1]
    assert _shapes(x) == {
        "encoder_token_ids": (b, s),
        "encoder_padding_mask": (b, s),
        "decoder_token_ids": (b, t),
        "decoder_padding_mask": (b, t),
    }
    assert b == 4 and y.shape == w.shape == (4, t)
    assert y.dtype == tf.int32 and w.dtype == tf.float32
    ids, dec, y = (
        x["encoder_token_ids"].numpy(),
        x["decoder_token_ids"].numpy(),
        y.numpy(),
    )
    np.testing.assert_array_equal(x["encoder_padding_mask"].numpy(), ids != 0)
    np.testing.assert_array_equal(w.numpy(), (y != 0).astype("float32"))
    assert (dec[:, 0] == 2).all()  # <s>
    real = dec[:, 1:] != 0
    np.testing.assert_array_equal(dec[:, 1:][real], y[:, :-1][real])
    lengths = (y != 0).sum(1)
    assert (y[np.arange(4), lengths - 1] == 3).all()  # </s> ends each target
    # The batches hold the data: detokenized, they are the test split's pairs.
    pairs = {
        (ex["source"], ex["target"]) for ex in dates.split("test").as_numpy_iterator()
    }
    got = zip(tok.detokenize(ids).numpy(), tok.detokenize(y).numpy())
    assert set(got) == pairs


def test_seq2seq_batches_train_a_keras_model(dates):
    """The (x, y, sample_weight) convention goes straight into `fit`."""
    vocab = len(dates.vocabulary)
    enc = keras.Input((None,), dtype="int32", name="encoder_token_ids")
    dec = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    summary = keras.layers.GlobalAveragePooling1D()(
        keras.layers.Embedding(vocab, 8)(enc)
    )
    h = keras.layers.Embedding(vocab, 8)(dec) + keras.layers.RepeatVector(1)(summary)
    logits = keras.layers.Dense(vocab)(h)
    model = keras.Model({"encoder_token_ids": enc, "decoder_token_ids": dec}, logits)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batches = data.make_batches("seq2seq_attention", dates, batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. an input structure mismatch
        history = model.fit(batches, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("family", ["char_rnn", "gpt"])
def test_causal_lm_windows_predict_the_next_token(family, text, char_tok):
    batches = data.make_batches(
        family, text, tokenizer=char_tok, batch_size=3, sequence_length=10
    )
    x, y, w = _first(batches)
    assert _shapes(x) == {"token_ids": (3, 10)}
    assert y.shape == w.shape == (3, 10)
    np.testing.assert_array_equal(x["token_ids"].numpy()[:, 1:], y.numpy()[:, :-1])
    assert w.numpy().min() == 1.0
    window = char_tok.detokenize(x["token_ids"]).numpy()[0].decode()
    assert window in TEXT


def test_random_offsets_cut_the_text_anew_each_epoch_from_the_seed(text, char_tok):
    def first_tokens(seed, epochs=6):
        batches = data.make_batches(
            "char_rnn",
            text,
            tokenizer=char_tok,
            batch_size=4,
            sequence_length=10,
            seed=seed,
            shuffle=False,
            drop_remainder=True,
            random_offsets=True,
        )
        per_epoch = sum(1 for _ in batches)
        firsts = []
        for i, (x, y, _) in enumerate(batches.repeat(epochs)):
            np.testing.assert_array_equal(x["token_ids"][:, 1:], y[:, :-1])
            if i % per_epoch == 0:
                firsts.append(char_tok.detokenize(x["token_ids"][0]).numpy())
        return firsts

    firsts = first_tokens(seed=0)
    # Unshuffled, each epoch starts at its own offset into the same text.
    assert len(set(firsts)) > 1
    assert all(w.decode() in TEXT for w in firsts)
    assert first_tokens(seed=0) == firsts  # reproducible from the seed
    assert first_tokens(seed=1) != firsts
    plain = data.make_batches(
        "char_rnn",
        text,
        tokenizer=char_tok,
        batch_size=4,
        sequence_length=10,
        shuffle=False,
    )
    starts = {char_tok.detokenize(_first(plain)[0]["token_ids"][0]).numpy()}
    assert starts == {TEXT[:10].encode()}  # the default cut starts at 0


def test_stateful_rows_continue_across_batches(text, char_tok):
    batches = list(
        data.make_batches(
            "char_rnn",
            text,
            tokenizer=char_tok,
            batch_size=2,
            sequence_length=40,
            stateful=True,
        )
    )
    assert len(batches) >= 3
    for (x0, y0, _), (x1, _, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(x1["token_ids"].numpy()[:, 0], y0.numpy()[:, -1])
        np.testing.assert_array_equal(
            x0["token_ids"].numpy()[:, 1:], y0.numpy()[:, :-1]
        )
    row0 = b"".join(
        char_tok.detokenize(x["token_ids"]).numpy()[0] for x, _, _ in batches
    )
    assert TEXT.encode().startswith(row0)


@pytest.mark.parametrize("family", ["char_rnn", "gpt"])
def test_copy_memory_tagging(family, data_dir):
    ds = data.load_dataset(
        "copy_memory", data_dir=data_dir, delay=4, copy_length=2, **TINY
    )
    x, y, w = _first(data.make_batches(family, ds, batch_size=5))
    assert _shapes(x) == {"token_ids": (5, 8)}
    assert y.shape == (5, 8) and w.numpy().min() == 1.0
    np.testing.assert_array_equal(y.numpy()[:, -2:], x["token_ids"].numpy()[:, :2])


def test_adding_problem_regression(data_dir):
    ds = data.load_dataset(
        "adding_problem", data_dir=data_dir, sequence_length=6, **TINY
    )
    x, y = _first(data.make_batches("rnn_classifier", ds, batch_size=5))
    assert _shapes(x) == {"features": (5, 6, 2)}
    assert (
        x["features"].dtype == tf.float32 and y.shape == (5,) and y.dtype == tf.float32
    )


def test_rnn_classifier_and_bucketing(labeled):
    tok = data.train_tokenizer("word_piece", labeled, 80)
    x, y = _first(
        data.make_batches("rnn_classifier", labeled, tokenizer=tok, batch_size=4)
    )
    assert set(x) == {"token_ids"} and y.shape == (4,) and y.dtype == tf.int32
    x, _ = _first(
        data.make_batches(
            "rnn_classifier", labeled, tokenizer=tok, batch_size=4, padding_masks=True
        )
    )
    assert x["padding_mask"].dtype == tf.bool
    np.testing.assert_array_equal(
        x["padding_mask"].numpy(), x["token_ids"].numpy() != 0
    )
    batches = data.make_batches(
        "rnn_classifier", labeled, tokenizer=tok, batch_size=4, bucket_boundaries=[6]
    )
    for x, _ in batches:
        lengths = (x["token_ids"].numpy() != 0).sum(1)
        assert (lengths < 6).all() or (lengths >= 6).all()


def test_bert_classification_inputs(labeled):
    tok = data.train_tokenizer("word_piece", labeled, 80)
    ids = tok.special_ids
    x, y = _first(
        data.make_batches(
            "bert", labeled, tokenizer=tok, batch_size=4, sequence_length=5
        )
    )
    assert set(x) == {"token_ids", "segment_ids"} and y.shape == (4,)
    token_ids = x["token_ids"].numpy()
    assert token_ids.shape == (4, 5)  # truncated to sequence_length
    assert (token_ids[:, 0] == ids["cls"]).all() and (
        token_ids[:, -1] == ids["sep"]
    ).all()
    assert (x["segment_ids"].numpy() == 0).all()


def test_bert_masked_lm_inputs(text):
    tok = data.train_tokenizer("word_piece", text, 100)
    ids = tok.special_ids
    x, y, w = _first(
        data.make_batches(
            "bert",
            text,
            tokenizer=tok,
            batch_size=4,
            sequence_length=12,
            padding_masks=True,
        )
    )
    assert set(x) == {"token_ids", "segment_ids", "padding_mask", "mask_positions"}
    b, t = x["token_ids"].shape
    m = x["mask_positions"].shape[1]
    assert b == 4 and t <= 12 and m == round(12 * 0.15)
    assert y.shape == w.shape == (4, m) and y.dtype == tf.int32
    positions, weights = x["mask_positions"].numpy(), w.numpy()
    assert weights.sum() > 0
    chosen = positions[weights > 0]
    rows = np.nonzero(weights > 0)[0]
    assert x["padding_mask"].numpy()[rows, chosen].all()
    assert not np.isin(
        y.numpy()[weights > 0], [ids["pad"], ids["cls"], ids["sep"]]
    ).any()


def test_t5_span_corruption_batches(text, char_tok):
    x, y, w = _first(
        data.make_batches(
            "t5", text, tokenizer=char_tok, batch_size=2, sequence_length=20
        )
    )
    noise, spans = masking.span_counts(20, 0.15, 3.0, 16)
    assert x["encoder_token_ids"].shape == (2, 20 - noise + spans + 1)
    assert x["decoder_token_ids"].shape == y.shape == (2, noise + spans + 1)
    assert (y.numpy()[:, -1] == 3).all() and (
        x["decoder_token_ids"].numpy()[:, 0] == 2
    ).all()


def _fill(inputs, targets, sentinels):
    """Undo span corruption: put each target span back at its sentinel."""
    spans, current = {}, None
    for token in targets:
        if token in sentinels:
            current = token
            spans[current] = []
        else:
            spans[current].append(token)
    out = []
    for token in inputs:
        out += spans[token] if token in sentinels else [token]
    return out


def test_span_corruption_reconstructs_and_is_seeded():
    tokens = tf.range(100, 160, dtype=tf.int32)
    sentinels = list(range(7, 23))
    inputs, targets = masking.span_corruption(tokens, tf.constant([5, 1]), sentinels)
    noise, spans = masking.span_counts(60, 0.15, 3.0, 16)
    assert inputs.shape == (60 - noise + spans,) and targets.shape == (noise + spans,)
    assert _fill(inputs.numpy().tolist(), targets.numpy().tolist(), sentinels) == list(
        range(100, 160)
    )
    assert np.isin(inputs.numpy(), sentinels).sum() == spans
    again = masking.span_corruption(tokens, tf.constant([5, 1]), sentinels)
    other = masking.span_corruption(tokens, tf.constant([6, 1]), sentinels)
    np.testing.assert_array_equal(again[0].numpy(), inputs.numpy())
    assert not np.array_equal(other[0].numpy(), inputs.numpy())


def test_same_seed_same_batches_other_seed_other_order(dates):
    def sources(seed):
        batches = data.make_batches("transformer", dates, batch_size=6, seed=seed)
        return [x["encoder_token_ids"].numpy().tolist() for x, _, _ in batches]

    first, second = sources(0), sources(0)
    assert first == second
    assert sources(1) != first
    batches = data.make_batches("transformer", dates, batch_size=24, seed=0)
    epoch1, epoch2 = (
        x["encoder_token_ids"].numpy().tolist() for x, _, _ in [*batches, *batches]
    )
    assert epoch1 != epoch2  # reshuffled each epoch
    assert sorted(epoch1) == sorted(epoch2)


def test_mismatch_and_bad_requests_name_what_fits(dates, text, char_tok):
    with pytest.raises(
        data.DataError,
        match=r"'date_normalization' \(task seq2seq\) does not fit model family "
        r"'char_rnn'.*fits: seq2seq_attention, transformer, t5",
    ):
        data.make_batches("char_rnn", dates)
    with pytest.raises(
        data.DataError, match=r"Unknown model family 'lstm'; families are \["
    ):
        data.make_batches("lstm", dates)
    with pytest.raises(data.DataError, match=r"has no split 'dev'; its splits are"):
        data.make_batches("transformer", dates, "dev")
    with pytest.raises(
        data.DataError, match="comes with no vocabulary: pass tokenizer="
    ):
        data.make_batches("gpt", text)
    plain = data.CharTokenizer.from_texts([TEXT], extra_specials=False)
    with pytest.raises(data.DataError, match="needs sentinel tokens"):
        data.make_batches("t5", text, tokenizer=plain, sequence_length=8)
    with pytest.raises(data.DataError, match=r"needs \['mask', 'cls', 'sep'\] tokens"):
        data.make_batches("bert", text, tokenizer=plain)
    with pytest.raises(data.DataError, match="batch_size must be an int >= 1"):
        data.make_batches("gpt", text, tokenizer=char_tok, batch_size=0)
