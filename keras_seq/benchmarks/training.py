"""Training throughput and model FLOPs utilisation (MFU).

One `train_on_batch` step (Adam, sparse cross-entropy on logits) of the zoo's
`gpt` and `transformer`, compiled with `jit_compile` off (`graph`) or on
(`xla`), against a reference of the same sizes:

- `gpt` vs keras-hub's `GPT2CausalLM` (`GPT2Backbone`, no preprocessor);
- `transformer` vs an encoder-decoder built from keras-hub's
  `TransformerEncoder`, `TransformerDecoder`, `ReversibleEmbedding` and
  `SinePositionEncoding` (keras-hub has no such ready model).

MFU is the model's FLOPs per step divided by the step time, over the machine's
float32 matmul peak measured in the same run (`timing.matmul_peak_flops`,
before and after this section; the driver uses the higher and calls
`add_mfu`).
FLOPs count the matmuls only (Kaplan et al., 2020; Chowdhery et al., 2022,
appendix B), forward `F`, training `3 F` (the backward pass is twice the
forward):

    per layer and sequence, with T tokens:
      projections Q, K, V, O      2 * T * 4 d^2
      attention QK^T and AV       2 * 2 * T^2 d
      feed-forward                2 * T * 2 d dff
    logits                        2 * T * d V

and for the encoder-decoder (source S, target T) each decoder layer adds
cross-attention: `2 T 2 d^2` (Q, O) + `2 S 2 d^2` (K, V) + `2 * 2 T S d`.
"""

import functools
import math

import keras
import keras_hub
import numpy as np
from keras import ops

from keras_seq.benchmarks import common, report, timing


def _layer_flops(tokens, d, dff, attended):
    """Forward FLOPs of one self-attention + feed-forward layer, one sequence."""
    return 8 * tokens * d * d + 4 * tokens * attended * d + 4 * tokens * d * dff


def gpt_train_flops(batch, length, num_layers, d_model, dff, vocabulary_size):
    """Training FLOPs of one step of a decoder-only language model."""
    forward = num_layers * _layer_flops(length, d_model, dff, length)
    forward += 2 * length * d_model * vocabulary_size
    return 3 * batch * forward


def transformer_train_flops(
    batch, source_length, target_length, num_layers, d_model, dff, vocabulary_size
):
    """Training FLOPs of one step of an encoder-decoder Transformer."""
    s, t, d = source_length, target_length, d_model
    encoder = _layer_flops(s, d, dff, s)
    cross = 4 * t * d * d + 4 * s * d * d + 4 * t * s * d
    decoder = _layer_flops(t, d, dff, t) + cross
    forward = num_layers * (encoder + decoder) + 2 * t * d * vocabulary_size
    return 3 * batch * forward


def _gpt2(sizes):
    return common.gpt2_causal_lm(sizes, sizes["length"])


def _hub_transformer(sizes):
    """An encoder-decoder of keras-hub layers, the sizes of the zoo's."""
    d_model, dff = sizes["d_model"], sizes["dff"]
    num_heads = sizes["num_heads"]
    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
    decoder_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    embedding = keras_hub.layers.ReversibleEmbedding(sizes["vocabulary_size"], d_model)
    positions = keras_hub.layers.SinePositionEncoding()
    scale = math.sqrt(d_model)

    def embed(ids):
        x = embedding(ids) * scale
        return x + positions(x)

    encoder_mask = ops.not_equal(encoder_ids, 0)
    decoder_mask = ops.not_equal(decoder_ids, 0)
    x = embed(encoder_ids)
    for _ in range(sizes["num_layers"]):
        x = keras_hub.layers.TransformerEncoder(dff, num_heads)(
            x, padding_mask=encoder_mask
        )
    y = embed(decoder_ids)
    for _ in range(sizes["num_layers"]):
        y = keras_hub.layers.TransformerDecoder(dff, num_heads)(
            y, x, decoder_padding_mask=decoder_mask, encoder_padding_mask=encoder_mask
        )
    logits = embedding(y, reverse=True)
    return keras.Model(
        {"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}, logits
    )


def _compile(model, jit):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )


def _batches(name, sizes):
    rng = np.random.default_rng(0)
    shape = (sizes["batch"], sizes["length"])

    def ids():
        return rng.integers(1, sizes["vocabulary_size"], shape).astype("int32")

    y = ids()
    if name == "gpt":
        x = ids()
        ours = {"token_ids": x}
        reference = {"token_ids": x, "padding_mask": np.ones(shape, bool)}
        flops = gpt_train_flops(
            sizes["batch"], sizes["length"], sizes["num_layers"],
            sizes["d_model"], sizes["dff"], sizes["vocabulary_size"],
        )  # fmt: skip
        tokens = x.size
    else:
        ours = reference = {"encoder_token_ids": ids(), "decoder_token_ids": ids()}
        flops = transformer_train_flops(
            sizes["batch"], sizes["length"], sizes["length"], sizes["num_layers"],
            sizes["d_model"], sizes["dff"], sizes["vocabulary_size"],
        )  # fmt: skip
        # Source and target tokens both go through the model.
        tokens = 2 * y.size
    return ours, reference, y, flops, tokens


REFERENCES = {
    "gpt": (_gpt2, "keras_hub.models.GPT2CausalLM"),
    "transformer": (_hub_transformer, "keras_hub.layers Transformer encoder-decoder"),
}


def add_mfu(row, peak_flops):
    """Adds `mfu_ours`, `mfu_reference` (fractions of `peak_flops`) to a row."""
    flops = row["extra"]["train_gflop_per_step"] * 1e9
    row["extra"]["mfu_ours"] = flops / row["ours"] / peak_flops
    row["extra"]["mfu_reference"] = flops / row["reference"] / peak_flops


def run(sizes, warmup, repeats, log=print):
    """Returns the section's rows.

    Args:
        sizes: dict with `models` (`"gpt"`, `"transformer"`), `batch`, `length`,
            `vocabulary_size`, `num_layers`, `d_model`, `num_heads`, `dff` and
            `settings` (keys of `common.SETTINGS`).
        warmup: untimed steps before timing.
        repeats: timed steps (their median is reported).
        log: called with a line of progress.
    """
    rows = []
    dims = {key: sizes[key] for key in (
        "batch", "length", "vocabulary_size", "num_layers", "d_model",
        "num_heads", "dff")}  # fmt: skip
    for name in sizes["models"]:
        ours_x, reference_x, y, flops, tokens = _batches(name, sizes)
        make_reference, reference_impl = REFERENCES[name]
        for setting in sizes["settings"]:
            jit = common.SETTINGS[setting]
            ours_model, reference_model = (
                common.zoo_model(name, sizes, sizes["length"]),
                make_reference(sizes),
            )
            _compile(ours_model, jit)
            _compile(reference_model, jit)
            ours_t, ref_t = timing.compare(
                functools.partial(ours_model.train_on_batch, ours_x, y),
                functools.partial(reference_model.train_on_batch, reference_x, y),
                warmup,
                repeats,
            )
            r = report.row(
                "training",
                f"{name} train step",
                setting,
                ours_t,
                ref_t,
                ours_impl=f"zoo {name} train_on_batch",
                reference_impl=reference_impl,
                tokens_per_s_ours=tokens / ours_t.median,
                tokens_per_s_reference=tokens / ref_t.median,
                train_gflop_per_step=flops / 1e9,
                shape=dims,
            )
            log(f"{r['name']:<24s} {setting:<6s} ratio {r['ratio']:.2f} "
                f"{flops / ours_t.median / 1e9:.1f} GFLOP/s")  # fmt: skip
            rows.append(r)
    return rows
