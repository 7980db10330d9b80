"""The course's RNN lesson, measured: what `keras-seq-lesson` runs.

Four experiments, each writing `<name>.png`, `<name>.json`, `<name>.csv` and
`<name>.md` into an output directory:

- `gradients`: `||dL/dh_t||` and `||dh_T/dh_t||` against `T - t` for
  SimpleRNN, LSTM and GRU of equal size on the adding problem, at
  initialization and after training.
- `exploding`: a SimpleRNN with `W_hh` scaled to spectral radius > 1, trained
  by SGD without and with gradient clipping; the unclipped run is stopped by
  the NaN guard.
- `adding`: test MSE of the three cells on the adding problem for several
  sequence lengths at the same budget, against the 0.167 of predicting 1.
- `truncation`: truncated BPTT on `copy_memory`: a window shorter than the
  distance between a symbol and its recall cannot learn the copy.

Each takes `quick=True` (a few seconds to a minute on 2 CPU cores, for CI)
or runs the full setting (`docs/lessons/`).
"""

import csv
import dataclasses
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_seq import data as seq_data
from keras_seq.data.builders.copy_memory import BLANK_ID, FIRST_SYMBOL_ID
from keras_seq.diagnostics import plots
from keras_seq.diagnostics.bptt import BPTTProbe
from keras_seq.diagnostics.lesson_training import (
    LABELS,
    finite_weights,
    json_number,
    recurrent_regressor,
    scale_recurrent_matrix,
    train,
)
from keras_seq.diagnostics.spectrum import recurrent_spectrum
from keras_seq.layers import LSTMCell

CELLS = ("rnn", "lstm", "gru")
MEAN_BASELINE = 1.0 / 6.0  # E[(a + b - 1)^2], a, b ~ U[0, 1]

# (quick, full) settings.
GRADIENTS = {
    True: {"T": 30, "units": 16, "steps": 40, "batch": 32, "train": 1000},
    False: {"T": 100, "units": 32, "steps": 1500, "batch": 64, "train": 10000},
}
EXPLODING = {
    True: {"T": 50, "units": 32, "steps": 100, "batch": 32, "train": 1000},
    False: {"T": 100, "units": 32, "steps": 800, "batch": 32, "train": 10000},
}
ADDING = {
    True: {"lengths": (10, 30), "units": 16, "steps": 60, "batch": 32, "train": 1000},
    False: {
        "lengths": (50, 100, 200, 400),
        "units": 32,
        "steps": 1500,
        "batch": 64,
        "train": 10000,
    },
}
TRUNCATION = {
    True: {"delay": 6, "copy": 2, "windows": (2, 0), "steps": 60, "units": 16},
    False: {
        "delay": 10,
        "copy": 3,
        "windows": (4, 8, 12, 0),
        "steps": 1500,
        "units": 64,
    },
}


@dataclasses.dataclass
class Outputs:
    """Where an experiment writes: `<directory>/<name>.{png,json,csv,md}`."""

    directory: str
    name: str

    def path(self, ext):
        os.makedirs(self.directory, exist_ok=True)
        return os.path.join(self.directory, f"{self.name}.{ext}")

    def write_json(self, value):
        _atomic_text(self.path("json"), json.dumps(value, indent=2, sort_keys=True))

    def write_csv(self, header, rows):
        tmp = self.path("csv") + ".tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(tmp, self.path("csv"))

    def write_md(self, text):
        _atomic_text(self.path("md"), text)


def _atomic_text(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text.rstrip("\n") + "\n")
    os.replace(path + ".tmp", path)


# === Data ===


def adding_batches(length, size, batch, seed, data_dir, test_size=1000):
    """Adding-problem training batches (an endless iterator) and test arrays."""
    dataset = seq_data.load_dataset(
        "adding_problem",
        data_dir,
        sequence_length=length,
        train_size=size,
        validation_size=10,
        test_size=test_size,
        seed=seed,
    )

    def xy(x, y, *_):
        return x["features"], y

    train_ds = seq_data.make_batches(
        "rnn_classifier",
        dataset,
        "train",
        batch_size=batch,
        seed=seed,
        drop_remainder=True,
    )
    test = seq_data.make_batches(
        "rnn_classifier", dataset, "test", batch_size=test_size, shuffle=False
    )
    x_test, y_test = next(iter(test.map(xy)))
    return iter(train_ds.map(xy).repeat()), (x_test, y_test)


def _fit_adding(model, batches, steps, quick):
    """The adding-problem training every cell gets: the same budget and Adam."""
    return train(
        model,
        batches,
        steps,
        keras.optimizers.Adam(2e-3, global_clipnorm=1.0),
        _features_loss,
        jit_compile=not quick,
    )


def _features_loss(model, x, y):
    return tf.reduce_mean(tf.square(model({"features": x}, training=True)[:, 0] - y))


def test_mse(model, x, y):
    pred = model.predict({"features": x}, batch_size=250, verbose=0)[:, 0]
    return float(np.mean((pred - np.asarray(y)) ** 2))


# === gradients ===


def gradients(out_dir, quick=False, seed=0, data_dir=None, log=print):
    """`||dL/dh_t||` and `||dh_T/dh_t||` vs `T - t`, at init and after training."""
    s = GRADIENTS[quick]
    batches, (x_test, y_test) = adding_batches(
        s["T"], s["train"], s["batch"], seed, data_dir, test_size=200
    )
    x_probe, y_probe = x_test[:64], y_test[:64]
    results = {}
    for cell in CELLS:
        model = recurrent_regressor(cell, s["units"], seed)
        model.compile(loss="mse")
        probe = BPTTProbe(model, jacobian_examples=4)
        spectrum = recurrent_spectrum(model.get_layer(f"{cell}_0"))
        entry = {"spectrum_at_init": dataclasses.asdict(spectrum)}
        for stage in ("init", "trained"):
            if stage == "trained":
                start = time.time()
                history = _fit_adding(model, batches, s["steps"], quick)
                entry["train_seconds"] = round(time.time() - start, 1)
                entry["train_loss_last_50"] = float(np.mean(history.loss[-50:]))
            (profile,) = probe({"features": x_probe}, y_probe).values()
            entry[stage] = {
                "grad_norm": profile.mean_grad_norms().tolist(),
                "grad_norm_relative": (
                    profile.mean_grad_norms() / profile.mean_grad_norms()[-1]
                ).tolist(),
                "jacobian_norm": profile.mean_jacobian_norms().tolist(),
                "first_over_last": profile.first_to_last_ratio(),
                "test_mse": test_mse(model, x_test, y_test),
            }
        results[cell] = entry
        log(
            f"gradients: {LABELS[cell]}: ||dL/dh_1||/||dL/dh_T|| "
            f"{entry['init']['first_over_last']:.3g} at init, "
            f"{entry['trained']['first_over_last']:.3g} after {s['steps']} steps "
            f"(test MSE {entry['trained']['test_mse']:.4f})"
        )
    distance = list(range(s["T"] - 1, -1, -1))
    out = Outputs(out_dir, "gradients")
    panels = []
    for stage, when in (("init", "at initialization"), ("trained", "trained")):
        panels.append(
            {
                "title": f"||dL/dh_t|| / ||dL/dh_T||, {when}",
                "xlabel": "T - t",
                "ylabel": "relative gradient norm",
                "lines": {
                    LABELS[c]: (distance, results[c][stage]["grad_norm_relative"])
                    for c in CELLS
                },
            }
        )
    for stage, when in (("init", "at initialization"), ("trained", "trained")):
        panels.append(
            {
                "title": f"||dh_T/dh_t||, {when}",
                "xlabel": "T - t",
                "ylabel": "largest singular value",
                "lines": {
                    LABELS[c]: (distance, results[c][stage]["jacobian_norm"])
                    for c in CELLS
                },
            }
        )
    plots.plot_lines(
        panels,
        out.path("png"),
        title=f"BPTT on the adding problem, T={s['T']}, {s['units']} units, "
        f"{s['steps']} training steps, seed {seed}",
    )
    summary = {"settings": s, "seed": seed, "distance": distance, "cells": results}
    out.write_json(summary)
    rows = []
    for c in CELLS:
        for stage in ("init", "trained"):
            for d, g, r, j in zip(
                distance,
                results[c][stage]["grad_norm"],
                results[c][stage]["grad_norm_relative"],
                results[c][stage]["jacobian_norm"],
            ):
                rows.append([LABELS[c], stage, d, g, r, j])
    out.write_csv(
        [
            "cell",
            "stage",
            "T_minus_t",
            "grad_norm",
            "grad_norm_relative",
            "jacobian_norm",
        ],
        rows,
    )
    lines = [
        "| cell | sigma_max(W_hh) at init | ratio at init | ratio trained "
        "| test MSE trained |",
        "|---|---|---|---|---|",
    ]
    for c in CELLS:
        e = results[c]
        lines.append(
            f"| {LABELS[c]} | {e['spectrum_at_init']['max_singular_value']:.3f} | "
            f"{_ratio(e['init']['first_over_last'])} | "
            f"{_ratio(e['trained']['first_over_last'])} | "
            f"{e['trained']['test_mse']:.4f} |"
        )
    out.write_md(
        f"Adding problem, T={s['T']}, {s['units']} units, {s['steps']} steps of "
        f"batch {s['batch']} (Adam 2e-3, global clipnorm 1), seed {seed}. Ratio: "
        "||dL/dh_1|| / ||dL/dh_T|| on 64 test sequences (batch mean).\n\n"
        + "\n".join(lines)
        + "\n\n![gradients](gradients.png)"
    )
    return summary


def _ratio(value):
    return "0 (underflows float32)" if value == 0 else f"{value:.3g}"


# === exploding ===


def exploding(
    out_dir,
    quick=False,
    seed=0,
    data_dir=None,
    spectral_radius=1.5,
    clipnorm=1.0,
    learning_rate=0.1,
    log=print,
):
    """A SimpleRNN with rho(W_hh) > 1 trained by SGD, without and with clipping."""
    s = EXPLODING[quick]
    runs = {}
    for name, clip in (("unclipped", None), ("clipped", clipnorm)):
        batches, (x_test, y_test) = adding_batches(
            s["T"], s["train"], s["batch"], seed, data_dir, test_size=200
        )
        model = recurrent_regressor("rnn", s["units"], seed)
        scale_recurrent_matrix(model.get_layer("rnn_0"), spectral_radius)
        spectrum = recurrent_spectrum(model.get_layer("rnn_0"))
        history = train(
            model,
            batches,
            s["steps"],
            keras.optimizers.SGD(learning_rate, global_clipnorm=clip),
            _features_loss,
            jit_compile=not quick,
        )
        finite = finite_weights(model)
        runs[name] = {
            "clipnorm": clip,
            "loss": [json_number(v) for v in history.loss],
            "grad_norm": [json_number(v) for v in history.grad_norm],
            "stopped": history.stopped,
            "steps_run": len(history.loss),
            "finite_weights": finite,
            "test_mse": test_mse(model, x_test, y_test) if finite else None,
            "spectrum": dataclasses.asdict(spectrum),
        }
        if history.stopped:
            log(f"exploding: {name} run stopped at {history.stopped}.")
        else:
            log(
                f"exploding: {name} run finished {len(history.loss)} steps, "
                f"finite weights: {finite}, test MSE {runs[name]['test_mse']:.4f}."
            )
    out = Outputs(out_dir, "exploding")
    plots.plot_lines(
        [
            {
                "title": "global gradient norm (before clipping)",
                "xlabel": "step",
                "ylabel": "||g||",
                "lines": {
                    f"{n} ({_clip_label(r['clipnorm'])})": (
                        range(1, len(r["grad_norm"]) + 1),
                        [np.inf if v is None else v for v in r["grad_norm"]],
                    )
                    for n, r in runs.items()
                },
            },
            {
                "title": "training loss (MSE)",
                "xlabel": "step",
                "ylabel": "loss",
                "lines": {
                    n: (
                        range(1, len(r["loss"]) + 1),
                        [np.inf if v is None else v for v in r["loss"]],
                    )
                    for n, r in runs.items()
                },
                "hlines": {"predict 1 (0.167)": MEAN_BASELINE},
            },
        ],
        out.path("png"),
        title=f"SimpleRNN, rho(W_hh) = {spectral_radius}, SGD lr {learning_rate}, "
        f"T={s['T']}, seed {seed}",
    )
    summary = {
        "settings": {**s, "spectral_radius": spectral_radius, "lr": learning_rate},
        "seed": seed,
        "runs": runs,
    }
    out.write_json(summary)
    rows = []
    for n, r in runs.items():
        for i, (loss, norm) in enumerate(zip(r["loss"], r["grad_norm"])):
            rows.append([n, i + 1, loss, norm])
    out.write_csv(["run", "step", "loss", "grad_norm"], rows)
    text = [
        f"SimpleRNN ({s['units']} units, tanh) with W_hh rescaled to spectral "
        f"radius {spectral_radius}, adding problem T={s['T']}, SGD lr "
        f"{learning_rate}, batch {s['batch']}, seed {seed}.",
        "",
        f"- initial gradient norm: {runs['unclipped']['grad_norm'][0]:.3g}; "
        f"reading of W_hh: {runs['unclipped']['spectrum']['reading']}",
    ]
    for n, r in runs.items():
        if r["stopped"]:
            text.append(f"- {n}: stopped at {r['stopped']}.")
        else:
            text.append(
                f"- {n} (clipnorm {r['clipnorm']}): {r['steps_run']} steps, finite "
                f"weights, test MSE {r['test_mse']:.4f} (predicting 1: 0.167)."
            )
    text.append("\n![exploding](exploding.png)")
    out.write_md("\n".join(text))
    return summary


def _clip_label(clipnorm):
    return f"clipnorm {clipnorm}" if clipnorm else "no clipping"


# === adding ===


def adding(out_dir, quick=False, seeds=(0,), data_dir=None, log=print):
    """Test MSE of SimpleRNN, LSTM, GRU on the adding problem for several T."""
    s = ADDING[quick]
    results = []
    for length in s["lengths"]:
        for seed in seeds:
            batches = None
            for cell in CELLS:
                batches, (x_test, y_test) = adding_batches(
                    length, s["train"], s["batch"], seed, data_dir
                )
                model = recurrent_regressor(cell, s["units"], seed)
                start = time.time()
                history = _fit_adding(model, batches, s["steps"], quick)
                mse = test_mse(model, x_test, y_test) if finite_weights(model) else None
                results.append(
                    {
                        "T": length,
                        "cell": LABELS[cell],
                        "seed": seed,
                        "test_mse": mse,
                        "train_seconds": round(time.time() - start, 1),
                        "stopped": history.stopped,
                    }
                )
                log(
                    f"adding: T={length} {LABELS[cell]} seed {seed}: test MSE "
                    f"{mse if mse is None else round(mse, 4)}"
                )
    out = Outputs(out_dir, "adding")
    lengths = list(s["lengths"])

    def mean_mse(cell, length):
        values = [
            r["test_mse"]
            for r in results
            if r["cell"] == cell and r["T"] == length and r["test_mse"] is not None
        ]
        return float(np.mean(values)) if values else float("nan")

    plots.plot_lines(
        [
            {
                "title": "test MSE at the same budget",
                "xlabel": "sequence length T",
                "ylabel": "MSE",
                "markers": True,
                "lines": {
                    LABELS[c]: (lengths, [mean_mse(LABELS[c], t) for t in lengths])
                    for c in CELLS
                },
                "hlines": {"predict 1 (0.167)": MEAN_BASELINE},
            }
        ],
        out.path("png"),
        title=f"Adding problem: {s['units']} units, {s['steps']} steps of batch "
        f"{s['batch']}, Adam 2e-3, seeds {list(seeds)}",
    )
    summary = {"settings": s, "seeds": list(seeds), "results": results}
    out.write_json(summary)
    out.write_csv(
        ["T", "cell", "seed", "test_mse", "train_seconds"],
        [
            [r["T"], r["cell"], r["seed"], r["test_mse"], r["train_seconds"]]
            for r in results
        ],
    )
    header = "| T | " + " | ".join(LABELS[c] for c in CELLS) + " |"
    lines = [header, "|---" * (len(CELLS) + 1) + "|"]
    for t in lengths:
        cells = " | ".join(f"{mean_mse(LABELS[c], t):.4f}" for c in CELLS)
        lines.append(f"| {t} | {cells} |")
    solved = {
        LABELS[c]: [t for t in lengths if mean_mse(LABELS[c], t) < MEAN_BASELINE / 10]
        for c in CELLS
    }
    reading = "; ".join(
        f"{cell} for T in {ts}" if ts else f"{cell} for no T"
        for cell, ts in solved.items()
    )
    lines.append(f"\nBelow a tenth of the baseline (MSE < 0.0167): {reading}.")
    out.write_md(
        f"Test MSE on 1000 test sequences (predicting 1 gives 0.167); every cell "
        f"{s['units']} units, {s['steps']} steps of batch {s['batch']}, Adam 2e-3 "
        f"with global clipnorm 1, {len(seeds)} seed(s) {list(seeds)} "
        "(mean over seeds).\n\n" + "\n".join(lines) + "\n\n![adding](adding.png)"
    )
    return summary


# === truncation ===


class WindowedTagger(keras.Model):
    """Embedding -> LSTM -> Dense over a sequence, trained with truncated BPTT.

    `call(token_ids, window)` runs the LSTM over consecutive windows of
    `window` steps, carrying the state across windows but stopping its
    gradient at each window's start (`window=0`: one window, full BPTT).
    """

    def __init__(self, vocabulary_size, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.embedding = keras.layers.Embedding(vocabulary_size, 16)
        self.rnn = keras.layers.RNN(
            LSTMCell(units), return_sequences=True, return_state=True
        )
        self.readout = keras.layers.Dense(vocabulary_size)

    def call(self, token_ids, window=0):
        x = self.embedding(token_ids)
        length = token_ids.shape[1]
        window = window or length
        batch = tf.shape(token_ids)[0]
        states = [tf.zeros((batch, self.units)), tf.zeros((batch, self.units))]
        outputs = []
        for start in range(0, length, window):
            states = [tf.stop_gradient(s) for s in states]
            out, h, c = self.rnn(x[:, start : start + window], initial_state=states)
            outputs.append(out)
            states = [h, c]
        return self.readout(tf.concat(outputs, axis=1))


def truncation(out_dir, quick=False, seed=0, data_dir=None, log=print):
    """Recall accuracy on `copy_memory` for several truncated-BPTT windows."""
    s = TRUNCATION[quick]
    dataset = seq_data.load_dataset(
        "copy_memory",
        data_dir,
        delay=s["delay"],
        copy_length=s["copy"],
        num_symbols=4,
        train_size=2000 if quick else 10000,
        validation_size=10,
        test_size=500,
        seed=seed,
    )
    length = s["delay"] + 2 * s["copy"]
    vocabulary = FIRST_SYMBOL_ID + 4
    x_test, y_test = [], []
    for ex in dataset.splits["test"].as_numpy_iterator():
        x_test.append(ex["inputs"])
        y_test.append(ex["targets"])
    x_test, y_test = np.stack(x_test), np.stack(y_test)
    results = []
    for window in s["windows"]:
        keras.utils.set_random_seed(seed)
        model = WindowedTagger(vocabulary, s["units"])
        train_ds = (
            dataset.splits["train"]
            .map(lambda ex: (ex["inputs"], ex["targets"]))
            .shuffle(10000, seed=seed)
            .repeat()
            .batch(64, drop_remainder=True)
        )
        batches = iter(train_ds)

        def loss_fn(model, x, y, window=window):
            logits = model(x, window=window)
            return tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(
                    y, logits, from_logits=True
                )
            )

        model(x_test[:2])
        start = time.time()
        history = train(
            model,
            batches,
            s["steps"],
            keras.optimizers.Adam(1e-2, global_clipnorm=1.0),
            loss_fn,
            jit_compile=not quick,
        )
        predictions = np.argmax(model(x_test, window=window).numpy(), axis=-1)
        recall = predictions[:, -s["copy"] :] == y_test[:, -s["copy"] :]
        blanks = predictions[:, : -s["copy"]] == BLANK_ID
        results.append(
            {
                "window": window or length,
                "full_bptt": window == 0,
                "recall_accuracy": float(recall.mean()),
                "blank_accuracy": float(blanks.mean()),
                "final_train_loss": float(np.mean(history.loss[-20:])),
                "train_seconds": round(time.time() - start, 1),
            }
        )
        log(
            f"truncation: window {window or length}: recall accuracy "
            f"{recall.mean():.3f} (chance 0.25)"
        )
    distance = s["delay"] + s["copy"]
    out = Outputs(out_dir, "truncation")
    windows = [r["window"] for r in results]
    plots.plot_lines(
        [
            {
                "title": f"copy_memory: recall distance {distance} steps",
                "xlabel": "truncated-BPTT window (steps)",
                "ylabel": "recall accuracy",
                "markers": True,
                "lines": {"LSTM": (windows, [r["recall_accuracy"] for r in results])},
                "hlines": {"chance (1/4)": 0.25},
            }
        ],
        out.path("png"),
        title=f"Truncated BPTT: delay {s['delay']}, {s['copy']} symbols, "
        f"{s['steps']} steps, seed {seed}",
        logy=False,
    )
    summary = {"settings": s, "seed": seed, "distance": distance, "results": results}
    out.write_json(summary)
    out.write_csv(
        ["window", "recall_accuracy", "blank_accuracy", "final_train_loss"],
        [
            [
                r["window"],
                r["recall_accuracy"],
                r["blank_accuracy"],
                r["final_train_loss"],
            ]
            for r in results
        ],
    )
    lines = ["| window | recall accuracy | blank accuracy |", "|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['window']}{' (full BPTT)' if r['full_bptt'] else ''} | "
            f"{r['recall_accuracy']:.3f} | {r['blank_accuracy']:.3f} |"
        )
    out.write_md(
        f"`copy_memory` with delay {s['delay']}, {s['copy']} of 4 symbols "
        f"(sequence length {length}; each symbol is recalled {distance} steps "
        f"after it is read), LSTM of {s['units']} units, {s['steps']} steps of "
        f"batch 64, Adam 1e-2, seed {seed}; accuracy on 500 test sequences "
        "(chance 0.25).\n\n" + "\n".join(lines) + "\n\n![truncation](truncation.png)"
    )
    return summary
