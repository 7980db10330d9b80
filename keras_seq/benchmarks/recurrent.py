"""Recurrent layers: our `LSTM`, `GRU`, `SimpleRNN` vs `keras.layers.*`.

Both layers get the same weights (`set_weights`: the layouts match) and the
same inputs `(batch, T, features)`, `return_sequences=True`. Training is
forward, backward and an SGD update of `mean(h^2)`; inference is a forward
pass. Both in `tf.function` (`graph`) and with `jit_compile=True` (`xla`).
"""

import keras

from keras_seq import layers
from keras_seq.benchmarks import common, report, timing

# name -> (ours, reference)
LAYERS = {
    "LSTM": (layers.LSTM, keras.layers.LSTM),
    "GRU": (layers.GRU, keras.layers.GRU),
    "SimpleRNN": (layers.SimpleRNN, keras.layers.SimpleRNN),
}


def _pair(name, units, input_shape):
    ours_cls, reference_cls = LAYERS[name]
    ours = ours_cls(units, return_sequences=True)
    reference = reference_cls(units, return_sequences=True)
    ours.build(input_shape)
    reference.build(input_shape)
    reference.set_weights(ours.get_weights())
    return ours, reference


def run(sizes, warmup, repeats, log=print):
    """Returns the section's rows.

    Args:
        sizes: dict with `layers` (names of `LAYERS`), `batch`, `features`,
            `units`, `timesteps` (a list), `modes` (`"train"`, `"inference"`)
            and `settings` (keys of `common.SETTINGS`).
        warmup: untimed calls before timing.
        repeats: timed calls (their median is reported).
        log: called with a line of progress.
    """
    rows = []
    batch, features, units = sizes["batch"], sizes["features"], sizes["units"]
    for name in sizes["layers"]:
        for steps in sizes["timesteps"]:
            shape = (batch, steps, features)
            x = common.random_inputs(shape)
            pair = _pair(name, units, shape)
            for mode in sizes["modes"]:
                for setting in sizes["settings"]:
                    jit = common.SETTINGS[setting]
                    fns = []
                    for layer in pair:

                        def call(layer=layer, x=x, training=mode == "train"):
                            return layer(x, training=training)

                        if mode == "train":
                            variables = layer.trainable_variables
                            fns.append(common.train_step(call, variables, jit))
                        else:
                            fns.append(common.inference_step(call, jit))
                    timings = timing.compare(*fns, warmup, repeats)
                    r = report.row(
                        "recurrent",
                        f"{name} {mode} T={steps}",
                        setting,
                        *timings,
                        ours_impl=f"keras_seq.layers.{name}",
                        reference_impl=f"keras.layers.{name}",
                        shape={"batch": batch, "T": steps, "features": features,
                               "units": units},
                    )  # fmt: skip
                    log(f"{r['name']:<28s} {setting:<6s} ratio {r['ratio']:.2f}")
                    rows.append(r)
    return rows
