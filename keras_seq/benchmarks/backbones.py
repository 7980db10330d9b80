"""Backbones: the zoo's BERT and T5 against keras-hub's at the same sizes.

- BERT inference: the zoo's `bert` (a classifier head: the encoder, the
  pooled `[CLS]` and a 2-class Dense) against `keras_hub.models.
  BertBackbone` (the encoder and its pooled output), `sum(outputs)` in a
  compiled `tf.function`, on `batch` x `length` token ids.
- T5 training step: the zoo's `t5` (encoder-decoder and tied-embedding
  logits) against `keras_hub.models.T5Backbone` (original T5: ReLU, not
  gated) with the same tied logits, both through `train_on_batch` with Adam
  and sparse cross-entropy, on `batch` x `length` source and target tokens.

The published sizes are `bert` `base` (batch 8, length 128) and `t5`
`small`; the quick and full runs use the `tiny` presets.
"""

import functools

import keras
import keras_hub
import numpy as np
import tensorflow as tf

import zoo
from keras_seq.benchmarks import common, report, timing, training


def _keras_hub_sizes(config, *extra):
    """A zoo config's sizes under keras-hub's names (`hidden_dim` = `d_model`,
    `intermediate_dim` = `dff`)."""
    hp = {"hidden_dim": config["d_model"], "intermediate_dim": config["dff"]}
    for key in ("vocabulary_size", "num_layers", "num_heads") + extra:
        hp[key] = config[key]
    return hp


def _bert_pair(sizes):
    config = zoo.preset_config("bert", sizes["bert_preset"])
    ours = zoo.build("bert", sizes["bert_preset"], num_classes=2, dropout=0.0)
    hp = _keras_hub_sizes(config, "max_sequence_length")
    reference = keras_hub.models.BertBackbone(**hp, dropout=0.0)
    return ours, reference, hp


def _t5_pair(sizes):
    config = zoo.preset_config("t5", sizes["t5_preset"])
    ours = zoo.build("t5", sizes["t5_preset"], dropout=0.0)
    hp = _keras_hub_sizes(config)
    backbone = keras_hub.models.T5Backbone(
        **hp,
        key_value_dim=hp["hidden_dim"] // hp["num_heads"],
        dropout=0.0,
        activation="relu",
        use_gated_activation=False,
    )
    outputs = backbone.output["decoder_sequence_output"]
    logits = backbone.token_embedding(outputs, reverse=True)
    reference = keras.Model(backbone.input, logits)
    return ours, reference, hp


def run(sizes, warmup, repeats, log=print):
    """Returns the section's rows.

    Args:
        sizes: dict with `bert_preset`, `t5_preset` (zoo presets), `batch`,
            `length` (BERT), `t5_batch`, `t5_length` and `settings` (keys of
            `common.SETTINGS`).
        warmup: untimed calls before timing.
        repeats: timed calls (their median is reported).
        log: called with a line of progress.
    """
    rows = []
    rng = np.random.default_rng(0)
    ours, reference, hp = _bert_pair(sizes)
    shape = (sizes["batch"], sizes["length"])
    ids = tf.constant(rng.integers(1, hp["vocabulary_size"], shape).astype("int32"))
    segments = tf.zeros(shape, "int32")
    for setting in sizes["settings"]:
        jit = common.SETTINGS[setting]
        ours_step = common.inference_step(
            lambda: ours({"token_ids": ids, "segment_ids": segments}), jit
        )
        hub_inputs = {
            "token_ids": ids,
            "segment_ids": segments,
            "padding_mask": tf.ones(shape, "bool"),
        }
        reference_step = common.inference_step(
            lambda x=hub_inputs: reference(x)["pooled_output"], jit
        )
        ours_t, ref_t = timing.compare(ours_step, reference_step, warmup, repeats)
        r = report.row(
            "backbones",
            f"bert {sizes['bert_preset']} inference",
            setting,
            ours_t,
            ref_t,
            ours_impl="zoo bert (classifier head)",
            reference_impl="keras_hub.models.BertBackbone",
            tokens_per_s_ours=np.prod(shape) / ours_t.median,
            tokens_per_s_reference=np.prod(shape) / ref_t.median,
            shape={"batch": shape[0], "length": shape[1], **hp},
        )
        log(f"{r['name']:<28s} {setting:<6s} ratio {r['ratio']:.2f}")
        rows.append(r)

    ours, reference, hp = _t5_pair(sizes)
    shape = (sizes["t5_batch"], sizes["t5_length"])

    def ids():
        return rng.integers(3, hp["vocabulary_size"], shape).astype("int32")

    source, target, y = ids(), ids(), ids()
    ours_x = {"encoder_token_ids": source, "decoder_token_ids": target}
    reference_x = {
        "encoder_token_ids": source,
        "encoder_padding_mask": np.ones(shape, bool),
        "decoder_token_ids": target,
        "decoder_padding_mask": np.ones(shape, bool),
    }
    for setting in sizes["settings"]:
        jit = common.SETTINGS[setting]
        training._compile(ours, jit)
        training._compile(reference, jit)
        ours_t, ref_t = timing.compare(
            functools.partial(ours.train_on_batch, ours_x, y),
            functools.partial(reference.train_on_batch, reference_x, y),
            warmup,
            repeats,
        )
        tokens = 2 * y.size  # source and target
        r = report.row(
            "backbones",
            f"t5 {sizes['t5_preset']} train step",
            setting,
            ours_t,
            ref_t,
            ours_impl="zoo t5 train_on_batch",
            reference_impl="keras_hub.models.T5Backbone + tied logits",
            tokens_per_s_ours=tokens / ours_t.median,
            tokens_per_s_reference=tokens / ref_t.median,
            shape={"batch": shape[0], "length": shape[1], **hp},
        )
        log(f"{r['name']:<28s} {setting:<6s} ratio {r['ratio']:.2f}")
        rows.append(r)
    return rows
