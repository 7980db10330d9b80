"""Attention pictures and the attention check on the trained default model."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from _plot_checks import assert_real_png

import zoo
from keras_seq.data.builders import date_formats
from keras_seq.diagnostics import plots
from keras_seq.diagnostics.attention import record_attention

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool(module, *flags, timeout=900):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"}
    return subprocess.run(
        [sys.executable, "-m", f"tools.{module}", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def date_run(tmp_path_factory):
    """The default training job (`python -m tools.train` defaults), once."""
    base = tmp_path_factory.mktemp("date")
    model_dir, data_dir = base / "run", base / "data"
    result = _tool(
        "train", f"--model_dir={model_dir}", f"--data_dir={data_dir}", "--noexport"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir, data_dir


def year_span(source, date):
    """Positions of the year's characters in `source` (a rendered `date`)."""
    marker = "\x00"
    for template, case in date_formats.FORMATS:
        if date_formats.render(date, template, case) != source:
            continue
        field = "{yyyy}" if "{yyyy}" in template else "{yy}"
        width = 4 if field == "{yyyy}" else 2
        marked = date_formats.render(
            date, template.replace(field, marker * width), case
        )
        start = marked.index(marker)
        return range(start, start + width)
    raise AssertionError(f"no format renders {date} as {source!r}")


def test_year_outputs_attend_to_the_input_year(date_run):
    import datetime

    from keras_seq import data as seq_data
    from keras_seq.export import load_run

    model_dir, data_dir = date_run
    run = load_run(model_dir)
    dataset = seq_data.load_dataset("date_normalization", str(data_dir))
    pairs = [
        (ex["source"].decode(), ex["target"].decode())
        for ex in dataset.splits["test"].as_numpy_iterator()
    ]
    tokenizer = run.tokenizer
    start, eos = run.model.start_token_id, tokenizer.special_ids["eos"]
    written, most, all_four, dates = 0, 0, 0, 0
    for i in range(0, len(pairs), 500):
        chunk = pairs[i : i + 500]
        sources = tokenizer.tokenize([s for s, _ in chunk]).to_tensor(0).numpy()
        sources = np.concatenate([sources, np.zeros_like(sources[:, :1])], axis=1)
        lengths = (sources != 0).sum(axis=1)
        sources[np.arange(len(chunk)), lengths] = eos  # tokens </s>, as trained
        targets = tokenizer.tokenize([t for _, t in chunk]).to_tensor(0).numpy()
        decoder = np.concatenate([np.full((len(chunk), 1), start), targets], axis=1)
        weights = np.asarray(
            run.model.attention_weights(
                {"encoder_token_ids": sources, "decoder_token_ids": decoder}
            )
        )  # (B, T, S): row t predicts target character t
        for (source, target), w in zip(chunk, weights):
            span = year_span(source, datetime.date.fromisoformat(target))
            on_year = [j in span for j in np.argmax(w[:4], axis=-1)]  # YYYY rows
            # The year's characters the input writes: all four, or the last
            # two of a two-digit year (its century is not in the input).
            written += all(on_year[4 - len(span) :])
            most += sum(on_year) >= 3
            all_four += all(on_year)
            dates += 1
    measured = {
        "dates": dates,
        "written_year_characters": written / dates,
        "at_least_3_of_4": most / dates,
        "all_4": all_four / dates,
    }
    print(f"year attention on the default date model: {measured}")
    with open(os.path.join(model_dir, "year_attention.json"), "w") as f:
        json.dump(measured, f)
    assert dates == 2000
    assert measured["written_year_characters"] >= 0.9, measured
    assert measured["at_least_3_of_4"] >= 0.9, measured


def test_generate_draws_the_attention(date_run, tmp_path):
    model_dir, _ = date_run
    path = tmp_path / "attention.png"
    result = _tool(
        "generate",
        f"--model_dir={model_dir}",
        "--prompt=Monday, May 3, 1999",
        f"--attention_plot={path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "1999-05-03"
    assert_real_png(path)


def test_evaluate_plots_the_training_curves(date_run, tmp_path):
    model_dir, _ = date_run
    path = tmp_path / "curves.png"
    result = _tool("evaluate", f"--model_dir={model_dir}", f"--plot={path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "batch_loss" in result.stdout
    assert_real_png(path)
    from keras_seq.diagnostics.tensorboard_logs import read_scalars

    steps, values = read_scalars(model_dir / "logs")["batch_loss"]["train"]
    assert len(steps) >= 50 and values[-1] < values[0] / 10


def test_attention_plot_errors_exit_2(tmp_path):
    result = _tool("evaluate", f"--model_dir={tmp_path}", f"--plot={tmp_path}/c.png")
    assert result.returncode == 2
    assert re.search(r"--plot=.*no TensorBoard event files", result.stderr)
    result = _tool(
        "generate",
        f"--saved_model={tmp_path}",
        "--prompt=x",
        f"--attention_plot={tmp_path}/a.png",
    )
    assert (
        result.returncode == 2 and "--attention_plot needs --model_dir" in result.stderr
    )


@pytest.mark.parametrize("attention", ["bahdanau", "luong_general"])
def test_seq2seq_attention_weights_are_the_decoder_s(attention):
    model = zoo.build("seq2seq_attention", "tiny", attention=attention)
    inputs = {
        "encoder_token_ids": np.array([[7, 8, 9, 3, 0, 0], [5, 6, 3, 0, 0, 0]]),
        "decoder_token_ids": np.array([[2, 9, 8], [2, 4, 4]]),
    }
    (weights,) = record_attention(model, inputs).values()
    assert weights.shape == (2, 1, 3, 6)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[0, 0, :, 4:] == 0) and np.all(weights[1, 0, :, 3:] == 0)
    # step() is the cell's call: the logits of a teacher-forced pass match.
    cell = model.decoder_cell
    states = model.build_cache({"encoder_token_ids": inputs["encoder_token_ids"]})
    y = model.decoder_embedding(inputs["decoder_token_ids"])
    out_call, _ = cell(y[:, 0], list(states))
    out_step, _, a = cell.step(y[:, 0], list(states))
    np.testing.assert_allclose(out_call, out_step, atol=1e-6)
    np.testing.assert_allclose(a, weights[:, 0, 0], atol=1e-6)


@pytest.mark.parametrize(
    "family, inputs, expected",
    [
        (
            "transformer",
            {"encoder_token_ids": [[5, 6, 7, 8, 0]], "decoder_token_ids": [[1, 9, 4]]},
            {
                "self_attention": {(1, 4, 5, 5), (1, 4, 3, 3)},  # encoder, decoder
                "cross_attention": {(1, 4, 3, 5)},
            },
        ),
        ("gpt", {"token_ids": [[5, 6, 7, 8]]}, {"self_attention": {(1, 4, 4, 4)}}),
        (
            "bert",
            {
                "token_ids": [[2, 6, 7, 3]],
                "segment_ids": [[0, 0, 0, 0]],
                "mask_positions": [[1]],
            },
            {"self_attention": {(1, 2, 4, 4)}},
        ),
    ],
)
def test_record_attention_of_transformer_families(family, inputs, expected, tmp_path):
    model = zoo.build(family, "tiny")
    inputs = {k: np.array(v, "int32") for k, v in inputs.items()}
    before = np.asarray(model(inputs))
    maps = record_attention(model, inputs)
    for path, weights in maps.items():
        kind = path.rsplit("/", 1)[-1]
        assert weights.shape in expected[kind], (path, weights.shape)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert {p.rsplit("/", 1)[-1] for p in maps} == set(expected)
    # Recording leaves the model as it was.
    np.testing.assert_allclose(np.asarray(model(inputs)), before, atol=1e-6)
    last = list(maps.values())[-1][0]
    path = plots.plot_attention(
        last,
        [f"s{i}" for i in range(last.shape[-1])],
        [f"t{i}" for i in range(last.shape[-2])],
        tmp_path / "heads.png",
        head_titles=[f"head {h}" for h in range(last.shape[0])],
    )
    assert_real_png(path)


def test_missing_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(plots.MissingMatplotlibError, match=r"keras-seq\[plots\]"):
        plots.plot_attention(np.eye(2), ["a", "b"], ["x", "y"], "/tmp/never.png")


def test_plot_attention_checks_its_labels():
    with pytest.raises(ValueError, match="need 2 target and 3 source tokens"):
        plots.plot_attention(np.ones((2, 3)), ["a", "b"], ["x", "y"])
