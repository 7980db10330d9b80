"""Generation: cached decoding of the zoo's `gpt` and `transformer`.

References, at the same sizes and with random weights:

- keras-hub's `GPT2CausalLM` (a `GPT2Backbone`, no preprocessor): its
  `generate_step` (prefill of the whole buffer, then keras-hub's greedy
  sampler over a key/value cache) in a `tf.function`, as `generate` runs it.
  Ours prefills the prompt only (`GenerationMixin.prefill_chunk_length`).
  For the encoder-decoder `transformer` this reference is decoder-only (no
  encoder pass, no cross-attention): indicative only.
- our own uncached decoding (`generate(..., use_cache=False)`: the whole
  prefix through the model at every step).

Greedy decoding of `batch` prompts of `prompt_length` tokens up to
`max_length`, no stop tokens, so every run generates the same number of
tokens. Times are per `generate` call; tokens/s counts generated tokens.
"""

import functools

import numpy as np
import tensorflow as tf

from keras_seq.benchmarks import common, report, timing


def _weight_bytes(model):
    """Bytes of all of `model`'s weights."""
    return sum(
        int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights
    )


def _gpt2_causal_lm(sizes):
    causal_lm = common.gpt2_causal_lm(sizes, sizes["max_length"])
    causal_lm.compile(sampler="greedy")
    return causal_lm


def _kv_cache_bytes(sizes):
    """Bytes of one sequence's key/value cache (float32, every layer, the
    whole `max_length` buffer: both caches attend over all of it, masked)."""
    return 4 * 2 * sizes["num_layers"] * sizes["max_length"] * sizes["d_model"]


def run(sizes, warmup, repeats, log=print):
    """Returns the section's rows.

    Args:
        sizes: dict with `models` (`"gpt"`, `"transformer"`), `batch`,
            `prompt_length`, `max_length`, `vocabulary_size`, `num_layers`,
            `d_model`, `num_heads`, `dff` and `settings` (keys of
            `common.SETTINGS`); optional: `batches` (a list, run in turn in
            place of `batch`; the row names say the batch), `references`
            (of `"keras-hub"`, `"uncached"`), `bandwidth_bound` (sample the
            memory bandwidth between the timed runs, `timing.MemoryBandwidth`
            of `bandwidth_megabytes`, default 1024, and add to each row the
            memory-bandwidth bound on tokens/s: `batch * bandwidth / (weight
            bytes + batch * key/value cache bytes)`, every weight read once
            per decoding step, and the fraction of it each side reached).
        warmup: untimed calls before timing.
        repeats: timed calls (their median is reported).
        log: called with a line of progress.
    """
    rows = []
    probe = None
    if sizes.get("bandwidth_bound"):
        probe = timing.MemoryBandwidth(sizes.get("bandwidth_megabytes", 1024))
    try:
        for batch in sizes.get("batches", [sizes.get("batch")]):
            rows += _run_batch({**sizes, "batch": batch}, warmup, repeats, probe, log)
        if probe is not None:
            _add_bound(rows, probe.result(), log)
    finally:
        if probe is not None:
            probe.close()
    return rows


def _add_bound(rows, bandwidth, log):
    log(
        f"memory bandwidth (best of {bandwidth['samples']}): copy "
        f"{bandwidth['copy'] / 1e9:.1f} GB/s copied, read "
        f"{bandwidth['read'] / 1e9:.1f} GB/s"
    )
    for r in rows:
        extra = r["extra"]
        batch = extra["shape"]["batch"]
        step_bytes = extra["weight_bytes"] + batch * extra["kv_cache_bytes"]
        bound = batch * bandwidth["traffic"] / step_bytes
        extra.update(
            copy_gb_per_s=bandwidth["copy"] / 1e9,
            read_gb_per_s=bandwidth["read"] / 1e9,
            traffic_gb_per_s=bandwidth["traffic"] / 1e9,
            bandwidth_samples=bandwidth["samples"],
            bound_tokens_per_s=bound,
            fraction_of_bound_ours=extra["tokens_per_s_ours"] / bound,
            fraction_of_bound_reference=extra["tokens_per_s_reference"] / bound,
        )
        log(
            f"{r['name']:<40s} bound {bound:.1f} tokens/s; ours "
            f"{extra['fraction_of_bound_ours']:.2f} of it, reference "
            f"{extra['fraction_of_bound_reference']:.2f}"
        )


def _run_batch(sizes, warmup, repeats, probe, log):
    rows = []
    batch, max_length = sizes["batch"], sizes["max_length"]
    prompt_length = sizes["prompt_length"]
    rng = np.random.default_rng(0)
    prompt = rng.integers(1, sizes["vocabulary_size"], (batch, prompt_length))
    prompt = prompt.astype("int32")
    buffer = np.zeros((batch, max_length), "int32")
    buffer[:, :prompt_length] = prompt
    hub_inputs = {
        "token_ids": tf.constant(buffer),
        "padding_mask": tf.constant(buffer != 0),
    }
    causal_lm = _gpt2_causal_lm(sizes)
    generated = batch * (max_length - prompt_length)
    dims = {key: sizes[key] for key in (
        "batch", "prompt_length", "max_length", "vocabulary_size", "num_layers",
        "d_model", "num_heads", "dff")}  # fmt: skip
    for name in sizes["models"]:
        model = common.zoo_model(name, sizes, sizes["max_length"])
        key = "token_ids" if name == "gpt" else "encoder_token_ids"
        inputs = {key: prompt}
        for setting in sizes["settings"]:
            jit = common.SETTINGS[setting]

            def ours(use_cache=True, jit=jit, model=model, inputs=inputs):
                return model.generate(
                    inputs, max_length, use_cache=use_cache, jit_compile=jit
                )

            hub_step = tf.function(causal_lm.generate_step, jit_compile=jit)

            def hub(hub_step=hub_step):
                return hub_step(hub_inputs)

            references = [
                (hub, "keras_hub.models.GPT2CausalLM generate_step", "keras-hub"),
                (
                    functools.partial(ours, use_cache=False),
                    f"zoo {name} generate(use_cache=False)",
                    "uncached",
                ),
            ]
            wanted = sizes.get("references", ("keras-hub", "uncached"))
            references = [r for r in references if r[2] in wanted]
            for reference, reference_impl, short in references:
                fns = [ours, reference]
                if probe is not None:
                    # Bandwidth samples in the same rotation: the same load.
                    fns.append(probe.sample)
                ours_t, ref_t = timing.compare_many(fns, warmup, repeats)[:2]
                notes = {}
                if name != "gpt" and short == "keras-hub":
                    notes["note"] = "reference has no encoder or cross-attention"
                if probe is not None:
                    # Every weight is read once per decoding step (for the
                    # whole batch), and each sequence's key/value cache.
                    notes.update(
                        weight_bytes=_weight_bytes(model),
                        kv_cache_bytes=_kv_cache_bytes(sizes),
                    )
                r = report.row(
                    "generation",
                    f"{name} cached generate vs {short}"
                    + (f" b{batch}" if "batches" in sizes else ""),
                    setting,
                    ours_t,
                    ref_t,
                    ours_impl=f"zoo {name} generate (cached)",
                    reference_impl=reference_impl,
                    tokens_per_s_ours=generated / ours_t.median,
                    tokens_per_s_reference=generated / ref_t.median,
                    shape=dims,
                    **notes,
                )
                log(
                    f"{r['name']:<40s} {setting:<6s} ratio {r['ratio']:.2f} "
                    f"tokens/s ours {generated / ours_t.median:.1f}, reference "
                    f"{generated / ref_t.median:.1f}"
                )
                rows.append(r)
    return rows
