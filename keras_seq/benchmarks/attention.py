"""Attention: our `MultiHeadAttention` and `TransformerEncoderBlock` vs
`keras.layers.MultiHeadAttention` and `keras_hub.layers.TransformerEncoder`.

Self-attention on `(batch, T, d_model)` inputs without masks, at several `T`:
training (forward, backward, SGD update of `mean(y^2)`) and inference, in
`tf.function` (`graph`) and with `jit_compile=True` (`xla`). The row of the
longest `T` also gives how time grows with `T`: the exponent `p` of
`time ~ T^p` between the shortest and the longest `T` (attention itself is
`p = 2`; the projections and feed-forward are `p = 1`).
"""

import math

import keras
import keras_hub

from keras_seq import layers
from keras_seq.benchmarks import common, report, timing


def _multi_head_attention(d_model, num_heads, dff):
    ours = layers.MultiHeadAttention(d_model, num_heads)
    reference = keras.layers.MultiHeadAttention(num_heads, key_dim=d_model // num_heads)
    return (
        (ours, lambda x, training: ours(x, x, x, training=training)),
        (reference, lambda x, training: reference(x, x, training=training)),
        "keras_seq.layers.MultiHeadAttention",
        "keras.layers.MultiHeadAttention",
    )


def _encoder_block(d_model, num_heads, dff):
    ours = layers.TransformerEncoderBlock(d_model, num_heads, dff)
    reference = keras_hub.layers.TransformerEncoder(dff, num_heads)
    return (
        (ours, lambda x, training: ours(x, training=training)),
        (reference, lambda x, training: reference(x, training=training)),
        "keras_seq.layers.TransformerEncoderBlock",
        "keras_hub.layers.TransformerEncoder",
    )


# name -> factory(d_model, num_heads, dff) -> ((ours, call), (ref, call), names)
LAYERS = {
    "MultiHeadAttention": _multi_head_attention,
    "TransformerEncoderBlock": _encoder_block,
}


def run(sizes, warmup, repeats, log=print):
    """Returns the section's rows.

    Args:
        sizes: dict with `layers` (names of `LAYERS`), `batch`, `d_model`,
            `num_heads`, `dff`, `timesteps` (a list, ascending), `modes`
            (`"train"`, `"inference"`) and `settings` (keys of
            `common.SETTINGS`).
        warmup: untimed calls before timing.
        repeats: timed calls (their median is reported).
        log: called with a line of progress.
    """
    rows = []
    batch, d_model = sizes["batch"], sizes["d_model"]
    num_heads, dff = sizes["num_heads"], sizes["dff"]
    for name in sizes["layers"]:
        first_rows = {}
        for steps in sizes["timesteps"]:
            x = common.random_inputs((batch, steps, d_model))
            *pair, ours_impl, reference_impl = LAYERS[name](d_model, num_heads, dff)
            for mode in sizes["modes"]:
                for setting in sizes["settings"]:
                    jit = common.SETTINGS[setting]
                    fns = []
                    for layer, call in pair:
                        training = mode == "train"

                        def forward(call=call, x=x, training=training):
                            return call(x, training)

                        forward()  # builds the layer's weights
                        if training:
                            variables = layer.trainable_variables
                            fns.append(common.train_step(forward, variables, jit))
                        else:
                            fns.append(common.inference_step(forward, jit))
                    r = report.row(
                        "attention",
                        f"{name} {mode} T={steps}",
                        setting,
                        *timing.compare(*fns, warmup, repeats),
                        ours_impl=ours_impl,
                        reference_impl=reference_impl,
                        shape={"batch": batch, "T": steps, "d_model": d_model,
                               "num_heads": num_heads, "dff": dff},
                    )  # fmt: skip
                    first = first_rows.setdefault((mode, setting), r)
                    if first is not r:
                        r["extra"]["growth"] = _growth(first, r)
                    log(f"{r['name']:<40s} {setting:<6s} ratio {r['ratio']:.2f}")
                    rows.append(r)
    return rows


def _growth(first, last):
    """`p` of `time ~ T^p` between two rows, for ours and the reference."""
    steps = math.log(last["extra"]["shape"]["T"] / first["extra"]["shape"]["T"])
    return {
        key: round(math.log(last[key] / first[key]) / steps, 2)
        for key in ("ours", "reference")
    }
