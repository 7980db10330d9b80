"""Local files (`text:`, `pairs:`, `labeled:`) and bad dataset names."""

import pytest

from keras_seq import data


def _write(path, content):
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
        f.write(content)
    return str(path)


def _rows(dataset, split):
    return [
        {k: (v.decode() if isinstance(v, bytes) else int(v)) for k, v in ex.items()}
        for ex in dataset.split(split).as_numpy_iterator()
    ]


def test_text_file_splits_by_fraction_at_a_line_end(tmp_path):
    lines = [f"line number {i}, déjà vu\n" for i in range(100)]
    path = _write(tmp_path / "corpus.txt", "".join(lines))
    ds = data.load_dataset(f"text:{path}")
    assert ds.task == "language_model"
    assert set(ds.splits) == {"train", "validation"}
    train = [r["text"] for r in _rows(ds, "train")]
    validation = [r["text"] for r in _rows(ds, "validation")]
    assert train + validation == lines
    # The cut: the first line end at or after 90% of the characters.
    text = "".join(lines)
    assert len("".join(train)) == text.index("\n", int(len(text) * 0.9)) + 1
    assert 9 <= len(validation) <= 10
    assert ds.families == ("char_rnn", "t5", "bert", "gpt")


def test_text_folder_reads_every_file_in_order(tmp_path):
    folder = tmp_path / "books"
    (folder / "sub").mkdir(parents=True)
    _write(folder / "b.txt", "".join(f"b{i}\n" for i in range(10)))
    _write(folder / "a.txt", "".join(f"a{i}\n" for i in range(10)))
    _write(folder / "sub" / "c.md", "c0")  # no final newline: one is added
    _write(folder / ".hidden", "never read")
    ds = data.load_dataset(f"text:{folder}", validation_fraction=0.25)
    texts = [r["text"] for r in _rows(ds, "train") + _rows(ds, "validation")]
    assert texts[0] == "a0\n" and texts[10] == "b0\n" and texts[-1] == "c0\n"
    assert len(texts) == 21


def test_pairs_tsv_loads_and_splits_the_same_every_time(tmp_path):
    content = "".join(f"source {i}\ttarget {i}\tCC-BY attribution\n" for i in range(30))
    path = _write(tmp_path / "pairs.tsv", content + "\n\n")
    first = data.load_dataset(f"pairs:{path}")
    second = data.load_dataset(f"pairs:{path}")
    assert first.task == "seq2seq"
    train, validation = _rows(first, "train"), _rows(first, "validation")
    assert len(train) == 27 and len(validation) == 3
    assert train == _rows(second, "train")
    for row in train + validation:
        assert row["source"].replace("source", "target") == row["target"]
    assert {r["source"] for r in train}.isdisjoint(r["source"] for r in validation)


def test_labeled_tsv_infers_sorted_label_set(tmp_path):
    content = "".join(
        f"text {i}\twith tab\t{'pos' if i % 2 else 'neg'}\n" for i in range(20)
    )
    path = _write(tmp_path / "reviews.tsv", content)
    ds = data.load_dataset(f"labeled:{path}")
    assert ds.task == "classification"
    assert ds.label_names == ["neg", "pos"]
    for row in _rows(ds, "train") + _rows(ds, "validation"):
        number = int(row["text"].split()[1])
        assert row["label"] == number % 2
        assert row["text"].endswith("\twith tab")  # split at the last tab


def test_labeled_csv_with_header_and_quoted_commas(tmp_path):
    rows = ["text,label\n"] + [
        f'"hello, world {i}",{"b" if i % 3 else "a"}\n' for i in range(12)
    ]
    path = _write(tmp_path / "data.csv", "".join(rows))
    ds = data.load_dataset(f"labeled:{path}", label_names=["a", "b", "c"])
    assert ds.label_names == ["a", "b", "c"]
    loaded = _rows(ds, "train") + _rows(ds, "validation")
    assert len(loaded) == 12
    assert all(r["text"].startswith("hello, world") for r in loaded)


def test_labeled_sidecar_defines_label_set(tmp_path):
    path = _write(tmp_path / "x.tsv", "a\tspam\nb\tham\nc\tspam\n")
    _write(tmp_path / "x.tsv.labels", "ham\nspam\neggs\n")
    ds = data.load_dataset(f"labeled:{path}")
    assert ds.label_names == ["ham", "spam", "eggs"]


def _bad_cases(tmp_path):
    """(spec, options, regex the message must match)."""
    missing = str(tmp_path / "nope.txt")
    empty = _write(tmp_path / "empty.tsv", "")
    blank = _write(tmp_path / "blank.txt", "  \n\n")
    latin1 = _write(
        tmp_path / "latin1.tsv", "ok\tfine\nalso\tok\ncaf\xe9\tbad\n".encode("latin-1")
    )
    no_tab = _write(tmp_path / "notab.tsv", "a\tb\nc\td\njust text here\n")
    no_tab_labeled = _write(tmp_path / "notab_l.tsv", "a\tpos\nno label\n")
    csv_fields = _write(tmp_path / "f.csv", "a,pos\nb,c,neg\n")
    label = _write(tmp_path / "lab.tsv", "x\tpos\ny\tneg\nz\tmaybe\n")
    sidecar = _write(tmp_path / "side.tsv", "x\tpos\ny\tneutral\n")
    _write(tmp_path / "side.tsv.labels", "pos\nneg\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    _write(folder / "good.txt", "fine text\n")
    _write(folder / "bad.txt", b"ok\n\xff\xfe\n")
    empty_source = _write(tmp_path / "es.tsv", "a\tb\n\tlonely target\n")
    return [
        (f"text:{missing}", {}, f"{missing}: no such file"),
        (f"pairs:{missing}", {}, f"{missing}: no such file"),
        (f"labeled:{missing}", {}, f"{missing}: no such file"),
        (f"pairs:{empty}", {}, f"{empty}: the file is empty"),
        (f"text:{blank}", {}, f"{blank}: the file is empty"),
        (
            f"pairs:{latin1}",
            {},
            rf"{latin1}:3: not valid UTF-8 \(byte 0xe9 at column 4\)",
        ),
        (f"text:{folder}", {}, rf"{folder / 'bad.txt'}:2: not valid UTF-8"),
        (
            f"pairs:{no_tab}",
            {},
            rf"{no_tab}:3: expected source<TAB>target, found no tab",
        ),
        (
            f"labeled:{no_tab_labeled}",
            {},
            rf"{no_tab_labeled}:2: expected text<TAB>label",
        ),
        (f"labeled:{csv_fields}", {}, rf"{csv_fields}:2: expected 2 CSV fields"),
        (
            f"labeled:{label}",
            {"label_names": ["neg", "pos"]},
            rf"{label}:3: label 'maybe' is not in the label set \['neg', 'pos'\]",
        ),
        (
            f"labeled:{sidecar}",
            {},
            rf"{sidecar}:2: label 'neutral' is not in the label set",
        ),
        (f"pairs:{empty_source}", {}, rf"{empty_source}:2: the source is empty"),
        (
            f"text:{tmp_path / 'blank.txt'}",
            {"validation_fraction": 1.5},
            "validation_fraction",
        ),
        (
            "date_normalisation",
            {},
            r"Unknown dataset 'date_normalisation'. "
            r"Did you mean \['date_normalization'\]",
        ),
        (
            "csv:/x.csv",
            {},
            r"Datasets: adding_problem, .*text:PATH, pairs:PATH, labeled:PATH, "
            r"tfds:NAME",
        ),
    ]


def test_bad_inputs_raise_clear_errors(tmp_path):
    for spec, options, pattern in _bad_cases(tmp_path):
        with pytest.raises(ValueError, match=pattern) as info:
            data.load_dataset(spec, **options)
        assert isinstance(info.value, data.DataError), spec


def test_unknown_tfds_name_lists_close_names():
    with pytest.raises(
        data.DataError, match=r"Unknown TFDS dataset 'imdb_review'.*imdb_reviews"
    ):
        data.load_dataset("tfds:imdb_review")


def test_too_few_rows_to_split(tmp_path):
    path = _write(tmp_path / "one.tsv", "only\tone\n")
    with pytest.raises(data.DataError, match="need at least 2"):
        data.load_dataset(f"pairs:{path}")
