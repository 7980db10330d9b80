"""BERT checkpoints for the `bert` zoo family.

Formats: keras-hub `BertBackbone` presets and Hugging Face `bert`
directories (`BertModel` / `BertForMaskedLM` / `BertForPreTraining` /
`BertForSequenceClassification` tensors, `vocab.txt` + `tokenizer_config.json`
with its `do_lower_case`). The encoder activation (`hidden_act`: exact "gelu"
or the tanh form) and the LayerNorm epsilon (`layer_norm_eps`) are the
checkpoint's. The encoder and pooler always load; a head the checkpoint lacks
(the masked-LM head of a keras-hub backbone preset, a new classifier) keeps
its initial values, as in keras-hub's task models.
"""

import json
import os

import keras_hub

from zoo import bert
from zoo.pretrained import mapping

MODEL_CLASS = bert.Bert
ZOO_NAME = "bert"
MODEL_TYPE = "bert"
KERAS_HUB_BACKBONE = "BertBackbone"
STRIP_PREFIXES = ("bert.",)
# Weight paths of ours that a keras-hub backbone preset has no values for.
KERAS_HUB_MISSING_HEADS = ("mlm_", "logits")
TOKENIZER_FILES = ("vocab.txt",)

# Our hyperparameter -> (Hugging Face config key, keras-hub config key): the one
# place that names a checkpoint's config keys.
CONFIG_KEYS = {
    "vocabulary_size": ("vocab_size", "vocabulary_size"),
    "num_layers": ("num_hidden_layers", "num_layers"),
    "num_heads": ("num_attention_heads", "num_heads"),
    "d_model": ("hidden_size", "hidden_dim"),
    "dff": ("intermediate_size", "intermediate_dim"),
    "dropout": ("hidden_dropout_prob", "dropout"),
    "max_sequence_length": ("max_position_embeddings", "max_sequence_length"),
    "num_segments": ("type_vocab_size", "num_segments"),
    "layer_norm_epsilon": ("layer_norm_eps", None),
}
# Hugging Face `hidden_act` -> our activation name.
HIDDEN_ACT = {
    "gelu": "gelu",
    "gelu_new": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
}


def _hparams(config, column, source):
    return mapping.read_config(
        config,
        CONFIG_KEYS,
        column,
        source,
        defaults={"layer_norm_epsilon": bert.LAYER_NORM_EPSILON},
        required=("vocabulary_size", "num_layers", "num_heads", "d_model", "dff"),
    )


def hparams_from_transformers(config, source):
    act = config.get("hidden_act", "gelu")
    if act not in HIDDEN_ACT:
        raise ValueError(
            f"Checkpoint {source}: hidden_act={act!r} is not supported "
            f"(supported: {sorted(HIDDEN_ACT)})."
        )
    kind = config.get("position_embedding_type", "absolute")
    if kind != "absolute":
        raise ValueError(
            f"Checkpoint {source}: position_embedding_type={kind!r} is not "
            "supported (only 'absolute')."
        )
    hparams = _hparams(config, 0, source)
    hparams["activation"] = HIDDEN_ACT[act]
    return hparams


def hparams_from_keras_hub(config, source):
    hparams = _hparams(config, 1, source)
    hparams["activation"] = "gelu_approximate"  # keras-hub's BertBackbone
    return hparams


def build(hparams):
    return bert.Bert(**hparams)


def transformers_config(model):
    config = mapping.write_config(model, CONFIG_KEYS, 0)
    act = {"gelu": "gelu", "gelu_approximate": "gelu_new"}[model.activation]
    architecture = "BertForMaskedLM"
    if model.num_classes:
        architecture = "BertForSequenceClassification"
        config["num_labels"] = model.num_classes
    config.update(
        model_type=MODEL_TYPE,
        architectures=[architecture],
        hidden_act=act,
        attention_probs_dropout_prob=model.dropout,
        position_embedding_type="absolute",
        pad_token_id=0,
    )
    return config


def keras_hub_config(model):
    return mapping.write_config(model, CONFIG_KEYS, 1)


def _linear(key, dense, optional=False):
    """A torch Linear `(out, in)` weight and bias -> a Dense kernel and bias."""
    return [
        mapping.Entry(
            key + ".weight",
            [dense.kernel],
            mapping.transpose,
            mapping.transposed,
            optional,
        ),
        mapping.Entry(key + ".bias", [dense.bias], optional=optional),
    ]


def _norm(key, norm, names=("weight", "bias"), optional=False):
    return [
        mapping.Entry(f"{key}.{names[0]}", [norm.gamma], optional=optional),
        mapping.Entry(f"{key}.{names[1]}", [norm.beta], optional=optional),
    ]


def transformers_entries(model, reader=None):
    """The Hugging Face tensors (without the `bert.` prefix)."""
    # Checkpoints converted from TF name LayerNorm variables gamma/beta.
    names = ("weight", "bias")
    if reader is not None and "embeddings.LayerNorm.gamma" in reader:
        names = ("gamma", "beta")
    entries = [
        mapping.Entry(
            "embeddings.word_embeddings.weight", [model.token_embedding.embeddings]
        ),
        mapping.Entry(
            "embeddings.position_embeddings.weight",
            [model.position_embedding.embeddings],
        ),
        mapping.Entry(
            "embeddings.token_type_embeddings.weight",
            [model.segment_embedding.embeddings],
        ),
    ]
    entries += _norm("embeddings.LayerNorm", model.embeddings_layer_norm, names)
    for i, block in enumerate(model.transformer_layers):
        p = f"encoder.layer.{i}."
        attention = block.self_attention
        entries += _linear(p + "attention.self.query", attention.wq)
        entries += _linear(p + "attention.self.key", attention.wk)
        entries += _linear(p + "attention.self.value", attention.wv)
        entries += _linear(p + "attention.output.dense", attention.dense)
        entries += _norm(
            p + "attention.output.LayerNorm", block.self_attention_layer_norm, names
        )
        entries += _linear(
            p + "intermediate.dense", block.feed_forward.intermediate_dense
        )
        entries += _linear(p + "output.dense", block.feed_forward.output_dense)
        entries += _norm(p + "output.LayerNorm", block.feedforward_layer_norm, names)
    if model.num_classes:
        entries += _linear("pooler.dense", model.pooled_dense)
        entries += _linear("classifier", model.logits_dense, optional=True)
    else:
        head = "cls.predictions."
        entries += _linear(
            head + "transform.dense", model.mlm_intermediate_dense, optional=True
        )
        entries += _norm(
            head + "transform.LayerNorm", model.mlm_layer_norm, names, optional=True
        )
        entries.append(
            mapping.Entry(head + "bias", [model.mlm_output_bias.bias], optional=True)
        )
    return entries


def keras_hub_pairs(backbone, model):
    """`(keras-hub BertBackbone variable, ours, factor)`: the encoder (+pooler)."""
    pairs = [
        (backbone.token_embedding.embeddings, model.token_embedding.embeddings, 1),
        (
            backbone.position_embedding.position_embeddings,
            model.position_embedding.embeddings,
            1,
        ),
        (backbone.segment_embedding.embeddings, model.segment_embedding.embeddings, 1),
    ]

    def dense(a, b):
        return [(a.kernel, b.kernel, 1), (a.bias, b.bias, 1)]

    def norm(a, b):
        return [(a.gamma, b.gamma, 1), (a.beta, b.beta, 1)]

    pairs += norm(backbone.embeddings_layer_norm, model.embeddings_layer_norm)
    for theirs, ours in zip(backbone.transformer_layers, model.transformer_layers):
        mha, attention = theirs._self_attention_layer, ours.self_attention
        pairs += dense(mha.query_dense, attention.wq)
        pairs += dense(mha.key_dense, attention.wk)
        pairs += dense(mha.value_dense, attention.wv)
        pairs += dense(mha.output_dense, attention.dense)
        pairs += norm(theirs._self_attention_layer_norm, ours.self_attention_layer_norm)
        pairs += dense(
            theirs._feedforward_intermediate_dense,
            ours.feed_forward.intermediate_dense,
        )
        pairs += dense(theirs._feedforward_output_dense, ours.feed_forward.output_dense)
        pairs += norm(theirs._feedforward_layer_norm, ours.feedforward_layer_norm)
    if model.num_classes:
        pairs += dense(backbone.pooled_dense, model.pooled_dense)
    return pairs


def tokenizer_from_transformers(source):
    lowercase = True  # Hugging Face BertTokenizer's default
    if source.has("tokenizer_config.json"):
        lowercase = bool(
            source.json("tokenizer_config.json").get("do_lower_case", True)
        )
    return keras_hub.tokenizers.BertTokenizer(
        vocabulary=source.path("vocab.txt"), lowercase=lowercase
    )


def save_transformers_tokenizer(tokenizer, directory):
    if not isinstance(tokenizer, keras_hub.tokenizers.BertTokenizer):
        raise ValueError(
            f"A bert checkpoint needs a keras_hub BertTokenizer; got "
            f"{type(tokenizer).__name__}."
        )
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in tokenizer.get_vocabulary()))

    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": tokenizer.lowercase}
    with open(
        os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8"
    ) as f:
        json.dump(config, f)
