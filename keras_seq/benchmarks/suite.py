"""The sizes of the quick and full runs, and the driver of all sections."""

import datetime
import os
import platform
import sys
import time

import keras
import keras_hub
import tensorflow as tf

from keras_seq.benchmarks import (
    SECTIONS,
    attention,
    backbones,
    deployment,
    generation,
    recurrent,
    timing,
    training,
)

# Sizes for a 2-core CPU: the full run takes a few minutes there (mostly XLA
# compilation); the quick run is a smoke test of every section.
_LM = dict(vocabulary_size=1000, num_layers=2, d_model=128, num_heads=4, dff=512)
_TINY_LM = dict(vocabulary_size=64, num_layers=1, d_model=16, num_heads=2, dff=32)

FULL = {
    "warmup": 2,
    "repeats": 7,
    "peak_matmul_size": 2048,
    "recurrent": dict(
        layers=["LSTM", "GRU", "SimpleRNN"], batch=16, features=64, units=128,
        timesteps=[16, 64, 256], modes=["train", "inference"],
        settings=["graph", "xla"],
    ),
    "attention": dict(
        layers=["MultiHeadAttention", "TransformerEncoderBlock"], batch=2,
        d_model=128, num_heads=4, dff=512, timesteps=[64, 256, 1024],
        modes=["train", "inference"], settings=["graph", "xla"],
    ),
    "generation": dict(
        models=["gpt", "transformer"], batch=4, prompt_length=8, max_length=64,
        settings=["graph", "xla"], **_LM,
    ),
    "training": dict(
        models=["gpt", "transformer"], batch=8, length=64, settings=["xla"], **_LM
    ),
    "backbones": dict(
        bert_preset="tiny", batch=8, length=64, t5_preset="tiny", t5_batch=8,
        t5_length=64, settings=["xla"],
    ),
    "deployment": dict(
        models=["gpt", "rnn_classifier"], length=64, lstm_lengths=[16, 64, 256],
        lstm_features=64, lstm_units=256, lstm_layers=1, **_LM,
    ),
}  # fmt: skip

QUICK = {
    "warmup": 1,
    "repeats": 2,
    "peak_matmul_size": 512,
    "recurrent": dict(
        layers=["LSTM", "GRU", "SimpleRNN"], batch=2, features=4, units=8,
        timesteps=[4], modes=["train"], settings=["xla"],
    ),
    "attention": dict(
        layers=["MultiHeadAttention", "TransformerEncoderBlock"], batch=2,
        d_model=16, num_heads=2, dff=32, timesteps=[4, 8], modes=["inference"],
        settings=["xla"],
    ),
    "generation": dict(
        models=["gpt"], batch=1, prompt_length=2, max_length=6,
        settings=["graph"], **_TINY_LM,
    ),
    "training": dict(
        models=["gpt"], batch=2, length=8, settings=["graph"], **_TINY_LM
    ),
    "backbones": dict(
        bert_preset="tiny", batch=2, length=8, t5_preset="tiny", t5_batch=2,
        t5_length=8, settings=["graph"],
    ),
    "deployment": dict(
        models=["gpt"], length=8, lstm_lengths=[8], lstm_features=8,
        lstm_units=16, lstm_layers=1, **_TINY_LM,
    ),
}  # fmt: skip

# The sizes of the papers and presets (`--sizes=published`): BERT-base, GPT-2
# 124M, T5-small, and recurrent layers at batch 32, 256 units, T = 512. Tens
# of minutes on a 2-core CPU; no attention section (its layers are inside
# these models).
_GPT2 = dict(vocabulary_size=50257, num_layers=12, d_model=768, num_heads=12, dff=3072)
PUBLISHED = {
    "warmup": 1,
    "repeats": 3,
    "peak_matmul_size": 2048,
    "recurrent": dict(
        layers=["LSTM", "GRU"], batch=32, features=256, units=256,
        timesteps=[512], modes=["train", "inference"], settings=["graph", "xla"],
    ),
    "generation": dict(
        models=["gpt"], batches=[1, 8], prompt_length=16, max_length=80,
        settings=["xla"], references=["keras-hub"], bandwidth_bound=True,
        bandwidth_megabytes=1024,
        **_GPT2,
    ),
    "training": dict(models=["gpt"], batch=4, length=256, settings=["xla"], **_GPT2),
    "backbones": dict(
        bert_preset="base", batch=8, length=128, t5_preset="small", t5_batch=4,
        t5_length=256, settings=["xla"],
    ),
    "deployment": dict(
        models=[], length=128, lstm_lengths=[128, 512], lstm_features=64,
        lstm_units=256, lstm_layers=1, vocabulary_size=1000,
    ),
}  # fmt: skip
SIZES = ("reduced", "published")


def sizes_note(sizes):
    """One line saying which sizes ran."""
    if sizes is PUBLISHED:
        return (
            "published sizes: LSTM/GRU batch 32, 256 features, 256 units, T "
            "512; GPT-2 124M (12 layers, d_model 768, vocabulary 50257) "
            "generation batch 1 and 8, prompt 16 -> 64 new tokens, and "
            "training batch 4 x 256 tokens; BERT-base inference batch 8 x "
            "128; T5-small training batch 4 x 256 source and target tokens; "
            "TFLite LSTM (64 features, 256 units) at T 128 and 512."
        )
    r, a, g = sizes["recurrent"], sizes["attention"], sizes["generation"]
    t = sizes["training"]
    return (
        f"recurrent batch {r['batch']}, features {r['features']}, units "
        f"{r['units']}, T {r['timesteps']}; attention batch {a['batch']}, "
        f"d_model {a['d_model']}, {a['num_heads']} heads, dff {a['dff']}, T "
        f"{a['timesteps']}; generation and training: {g['num_layers']} layers, "
        f"d_model {g['d_model']}, {g['num_heads']} heads, dff {g['dff']}, "
        f"vocabulary {g['vocabulary_size']}; generation batch {g['batch']}, "
        f"prompt {g['prompt_length']} -> {g['max_length']} tokens; training "
        f"batch {t['batch']} x {t['length']} tokens; deployment length "
        f"{sizes['deployment']['length']}. Chosen so that the full run takes a "
        "few minutes on a 2-core CPU; the issue's larger shapes (batch 32, "
        "units 256, T up to 512) take several times longer there."
    )


def _load():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run(
    quick=False,
    sections=SECTIONS,
    warmup=None,
    repeats=None,
    log=print,
    sizes="reduced",
):
    """Runs the sections; returns the JSON document (`meta`, `rows`, ...).

    Args:
        quick: tiny sizes (a smoke test) instead of the full ones.
        sizes: `"reduced"` (the quick or full sizes) or `"published"` (the
            papers' sizes, `PUBLISHED`; sections it has no sizes for are
            skipped).
        sections: which of `SECTIONS` to run, in that order.
        warmup: untimed calls before timing (default: the sizes').
        repeats: timed calls (default: the sizes').
        log: called with a line of progress.
    """
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"Unknown benchmark sections {unknown}; known: {SECTIONS}.")
    if sizes not in SIZES:
        raise ValueError(f"Unknown sizes {sizes!r}; known: {SIZES}.")
    published = sizes == "published"
    sizes = PUBLISHED if published else QUICK if quick else FULL
    sections = [s for s in sections if s in sizes]
    warmup = sizes["warmup"] if warmup is None else warmup
    repeats = sizes["repeats"] if repeats is None else repeats
    started = time.perf_counter()
    meta = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "quick": quick,
        "published_sizes": published,
        "warmup": warmup,
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "devices": [d.name for d in tf.config.list_physical_devices() if
                    d.device_type != "CPU"],
        "load_before": _load(),
        "argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
        "sizes": {name: sizes[name] for name in SECTIONS if name in sizes},
        "sizes_note": sizes_note(sizes),
        "peak_matmul_size": sizes["peak_matmul_size"],
    }  # fmt: skip
    peaks = []

    def measure_peak():
        peak, _ = timing.matmul_peak_flops(sizes["peak_matmul_size"], warmup, repeats)
        peaks.append(peak)
        log(f"float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")

    measure_peak()
    rows, failures = [], []
    ordered = [s for s in SECTIONS if s in sections]
    for section in ordered:
        log(f"== {section}")
        keras.utils.clear_session()
        try:
            section_rows, section_failures = _run_section(
                section, sizes[section], warmup, repeats, log
            )
        except Exception as e:  # one broken section must not lose the others
            message = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            log(f"section {section} failed: {message}")
            section_rows, section_failures = [], [
                {"section": section, "name": section, "setting": "-",
                 "error": message}
            ]  # fmt: skip
        if section == "training":
            measure_peak()
        rows += section_rows
        failures += section_failures
    # MFU against the best peak seen (load from other processes lowers it).
    peak = max(peaks)
    for r in rows:
        if r["section"] == "training":
            training.add_mfu(r, peak)
    meta.update(
        peak_gflops=peak / 1e9,
        peak_gflops_runs=[p / 1e9 for p in peaks],
        load_after=_load(),
        duration_s=time.perf_counter() - started,
    )
    return {"meta": meta, "sections": ordered, "rows": rows, "failures": failures}


def _run_section(section, sizes, warmup, repeats, log):
    """Runs one section: `(rows, failures)`."""
    if section == "deployment":
        return deployment.run(sizes, warmup, repeats, log)
    module = {"recurrent": recurrent, "attention": attention,
              "generation": generation, "training": training,
              "backbones": backbones}[section]  # fmt: skip
    return module.run(sizes, warmup, repeats, log), []
