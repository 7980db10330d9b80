"""T5 checkpoints for the `t5` zoo family.

Formats: keras-hub `T5Backbone` presets and Hugging Face `t5` directories
(`T5ForConditionalGeneration` tensors, `spiece.model`). keras-hub has no
converter from Hugging Face T5; this one covers
- T5 v1.0 (`feed_forward_proj="relu"`, tied embeddings, logits scaled by
  `d_model**-0.5`), and
- T5 v1.1 / Flan-T5 (`"gated-gelu"`: `gelu_new(x W_i0) * (x W_i1)`, a separate
  `lm_head` and no logit scaling).
T5 leaves attention logits unscaled; our attention divides by
`sqrt(d_head)`, so our `W^Q` is the checkpoint's times `sqrt(d_head)`.
Decoding starts from `decoder_start_token_id` (0, the pad id, in T5).
"""

import os
import shutil

import keras_hub
import numpy as np

from zoo import t5
from zoo.pretrained import mapping

MODEL_CLASS = t5.T5
ZOO_NAME = "t5"
MODEL_TYPE = "t5"
KERAS_HUB_BACKBONE = "T5Backbone"
STRIP_PREFIXES = ()
# Weight paths of ours that a keras-hub backbone preset has no values for.
KERAS_HUB_MISSING_HEADS = ()
TOKENIZER_FILES = ("spiece.model",)

# Our hyperparameter -> (Hugging Face config key, keras-hub config key): the one
# place that names a checkpoint's config keys.
CONFIG_KEYS = {
    "vocabulary_size": ("vocab_size", "vocabulary_size"),
    "num_layers": ("num_layers", "num_layers"),
    "num_heads": ("num_heads", "num_heads"),
    "d_model": ("d_model", "hidden_dim"),
    "dff": ("d_ff", "intermediate_dim"),
    "dropout": ("dropout_rate", "dropout"),
    "relative_attention_num_buckets": ("relative_attention_num_buckets", None),
    "relative_attention_max_distance": ("relative_attention_max_distance", None),
    "layer_norm_epsilon": ("layer_norm_epsilon", "layer_norm_epsilon"),
    "start_token_id": ("decoder_start_token_id", None),
    "end_token_id": ("eos_token_id", None),
    "tie_embeddings": ("tie_word_embeddings", "tie_embedding_weights"),
    "use_gated_activation": (None, "use_gated_activation"),
    "depth": ("d_kv", "key_value_dim"),
}
# T5's defaults (Hugging Face T5Config; keras-hub fixes 32 buckets / 128).
DEFAULTS = {
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "layer_norm_epsilon": 1e-6,
    "dropout": 0.1,
    "start_token_id": 0,
    "end_token_id": 1,
    "tie_embeddings": True,
}
# Hugging Face `feed_forward_proj` -> (our activation, gated).
FEED_FORWARD_PROJ = {
    "relu": ("relu", False),
    "gated-relu": ("relu", True),
    "gelu": ("gelu", False),
    "gated-gelu": ("gelu_approximate", True),  # HF maps it to gelu_new
}


def _hparams(config, column, source):
    return mapping.read_config(
        config,
        CONFIG_KEYS,
        column,
        source,
        defaults=DEFAULTS,
        required=("vocabulary_size", "num_layers", "num_heads", "d_model"),
    )


def head_depth(model):
    """Features per attention head: `depth`, or `d_model // num_heads`."""
    return model.encoder_layers[0].self_attention.depth


def hparams_from_transformers(config, source):
    hparams = _hparams(config, 0, source)
    decoder_layers = config.get("num_decoder_layers") or hparams["num_layers"]
    if decoder_layers != hparams["num_layers"]:
        raise ValueError(
            f"Checkpoint {source}: num_decoder_layers={decoder_layers} differs from "
            f"num_layers={hparams['num_layers']}; not supported."
        )
    proj = config.get("feed_forward_proj", "relu")
    if proj not in FEED_FORWARD_PROJ:
        raise ValueError(
            f"Checkpoint {source}: feed_forward_proj={proj!r} is not supported "
            f"(supported: {sorted(FEED_FORWARD_PROJ)})."
        )
    hparams["activation"], hparams["use_gated_activation"] = FEED_FORWARD_PROJ[proj]
    return hparams


def hparams_from_keras_hub(config, source):
    hparams = _hparams(config, 1, source)
    activation = config.get("activation", "relu")
    if isinstance(activation, dict):  # a serialized function
        activation = activation.get("config", activation.get("registered_name"))
    activation = str(activation).split(">")[-1]
    if activation not in t5.ACTIVATIONS:
        raise ValueError(
            f"Checkpoint {source}: activation={activation!r} is not supported "
            f"(supported: {t5.ACTIVATIONS})."
        )
    hparams["activation"] = activation
    hparams.setdefault("use_gated_activation", True)  # keras-hub's default
    return hparams


def build(hparams):
    return t5.T5(**hparams)


def transformers_config(model):
    config = mapping.write_config(model, CONFIG_KEYS, 0)
    proj = {v: k for k, v in FEED_FORWARD_PROJ.items()}.get(
        (model.activation, model.use_gated_activation)
    )
    if proj is None:
        raise ValueError(
            f"T5 activation={model.activation!r}, use_gated_activation="
            f"{model.use_gated_activation} has no Hugging Face feed_forward_proj."
        )
    config.update(
        model_type=MODEL_TYPE,
        architectures=["T5ForConditionalGeneration"],
        d_kv=head_depth(model),
        num_decoder_layers=model.num_layers,
        feed_forward_proj=proj,
        pad_token_id=0,
        is_encoder_decoder=True,
    )
    return config


def keras_hub_config(model):
    if (
        model.relative_attention_num_buckets,
        model.relative_attention_max_distance,
    ) != (
        32,
        128,
    ):
        raise ValueError(
            "keras-hub's T5Backbone fixes 32 relative position buckets and maximum "
            f"distance 128; this model has {model.relative_attention_num_buckets} "
            f"and {model.relative_attention_max_distance}."
        )
    config = mapping.write_config(model, CONFIG_KEYS, 1)
    config["activation"] = {
        "relu": "relu",
        "gelu": "gelu",
        "gelu_approximate": "keras_hub>gelu_approximate",
    }[model.activation]
    return config


def _attention(key, attention, depth):
    to_q, from_q = mapping.scaled(np.sqrt(depth))
    return [
        mapping.Entry(
            key + ".q.weight",
            [attention.wq.kernel],
            lambda a: to_q(a.T),
            lambda arrays: from_q(arrays).T,
        ),
        mapping.Entry(
            key + ".k.weight",
            [attention.wk.kernel],
            mapping.transpose,
            mapping.transposed,
        ),
        mapping.Entry(
            key + ".v.weight",
            [attention.wv.kernel],
            mapping.transpose,
            mapping.transposed,
        ),
        mapping.Entry(
            key + ".o.weight",
            [attention.dense.kernel],
            mapping.transpose,
            mapping.transposed,
        ),
    ]


def _linear(key, dense):
    return mapping.Entry(
        key + ".weight", [dense.kernel], mapping.transpose, mapping.transposed
    )


def transformers_entries(model, reader=None):
    """The Hugging Face `T5ForConditionalGeneration` tensors."""
    depth = head_depth(model)
    entries = [mapping.Entry("shared.weight", [model.token_embedding.embeddings])]
    if not model.tie_embeddings:
        entries.append(
            mapping.Entry(
                "lm_head.weight",
                [model.token_embedding.reverse_embeddings],
                mapping.transpose,
                mapping.transposed,
            )
        )
    for stack, layers in (
        ("encoder", model.encoder_layers),
        ("decoder", model.decoder_layers),
    ):
        for i, layer in enumerate(layers):
            p = f"{stack}.block.{i}.layer."
            entries += _attention(p + "0.SelfAttention", layer.self_attention, depth)
            entries.append(
                mapping.Entry(
                    p + "0.layer_norm.weight", [layer.self_attention_layer_norm.scale]
                )
            )
            n = 1
            if stack == "decoder":
                entries += _attention(
                    p + "1.EncDecAttention", layer.cross_attention, depth
                )
                entries.append(
                    mapping.Entry(
                        p + "1.layer_norm.weight",
                        [layer.cross_attention_layer_norm.scale],
                    )
                )
                n = 2
            ffn = f"{p}{n}.DenseReluDense."
            if layer.use_gated_activation:
                entries.append(
                    _linear(ffn + "wi_0", layer.feed_forward.intermediate_dense)
                )
                entries.append(_linear(ffn + "wi_1", layer.feed_forward.gate_dense))
            else:
                entries.append(
                    _linear(ffn + "wi", layer.feed_forward.intermediate_dense)
                )
            entries.append(_linear(ffn + "wo", layer.feed_forward.output_dense))
            entries.append(
                mapping.Entry(
                    f"{p}{n}.layer_norm.weight", [layer.feedforward_layer_norm.scale]
                )
            )
        bias = getattr(model, f"{stack}_position_bias")
        entries.append(
            mapping.Entry(
                f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                [bias.embeddings],
            )
        )
        norm = getattr(model, f"{stack}_output_layer_norm")
        entries.append(mapping.Entry(f"{stack}.final_layer_norm.weight", [norm.scale]))
    return entries


def keras_hub_pairs(backbone, model):
    """`(keras-hub T5Backbone variable, ours, factor)` for every weight."""
    depth = head_depth(model)
    embedding = backbone.token_embedding
    pairs = [(embedding.embeddings, model.token_embedding.embeddings, 1)]
    if not model.tie_embeddings:
        pairs.append(
            (embedding.reverse_embeddings, model.token_embedding.reverse_embeddings, 1)
        )

    def attention(theirs, ours):
        return [
            (theirs.query_projector.kernel, ours.wq.kernel, np.sqrt(depth)),
            (theirs.key_projector.kernel, ours.wk.kernel, 1),
            (theirs.value_projector.kernel, ours.wv.kernel, 1),
            (theirs.output_projector.kernel, ours.dense.kernel, 1),
        ]

    stacks = [
        (backbone.encoder_transformer_layers, model.encoder_layers),
        (backbone.decoder_transformer_layers, model.decoder_layers),
    ]
    for their_layers, our_layers in stacks:
        for theirs, ours in zip(their_layers, our_layers):
            pairs += attention(theirs.self_attention, ours.self_attention)
            pairs.append(
                (
                    theirs.self_attention_layer_norm.weight,
                    ours.self_attention_layer_norm.scale,
                    1,
                )
            )
            if getattr(ours, "cross_attention", None) is not None:
                pairs += attention(theirs.cross_attention, ours.cross_attention)
                pairs.append(
                    (
                        theirs.cross_attention_layer_norm.weight,
                        ours.cross_attention_layer_norm.scale,
                        1,
                    )
                )
            pairs += [
                (theirs.layer_norm.weight, ours.feedforward_layer_norm.scale, 1),
                (
                    theirs.input_projector.kernel,
                    ours.feed_forward.intermediate_dense.kernel,
                    1,
                ),
                (
                    theirs.output_projector.kernel,
                    ours.feed_forward.output_dense.kernel,
                    1,
                ),
            ]
            if ours.use_gated_activation:
                pairs.append(
                    (
                        theirs.gate_projector.kernel,
                        ours.feed_forward.gate_dense.kernel,
                        1,
                    )
                )
    encoder = backbone.encoder_transformer_layers[0].self_attention
    decoder = backbone.decoder_transformer_layers[0].self_attention
    pairs += [
        (encoder.relative_attention_bias, model.encoder_position_bias.embeddings, 1),
        (decoder.relative_attention_bias, model.decoder_position_bias.embeddings, 1),
        (backbone.encoder_layer_norm.weight, model.encoder_output_layer_norm.scale, 1),
        (backbone.decoder_layer_norm.weight, model.decoder_output_layer_norm.scale, 1),
    ]
    return pairs


def tokenizer_from_transformers(source):
    return keras_hub.tokenizers.T5Tokenizer(proto=source.path("spiece.model"))


def save_transformers_tokenizer(tokenizer, directory):
    if not isinstance(tokenizer, keras_hub.tokenizers.T5Tokenizer):
        raise ValueError(
            f"A t5 checkpoint needs a keras_hub T5Tokenizer; got "
            f"{type(tokenizer).__name__}."
        )
    proto = tokenizer.proto
    target = os.path.join(directory, "spiece.model")
    if isinstance(proto, bytes):
        with open(target, "wb") as f:
            f.write(proto)
    else:
        shutil.copyfile(proto, target)
