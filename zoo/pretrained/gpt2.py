"""GPT-2 checkpoints for the `gpt` zoo family.

Formats: keras-hub `GPT2Backbone` presets and Hugging Face `gpt2`
directories (`GPT2Model` / `GPT2LMHeadModel` tensors, `vocab.json` +
`merges.txt`). GPT-2 is the pre-LN layout with a final LayerNorm, tied
input/output embeddings, GELU with the tanh approximation ("gelu_new") and
`1/sqrt(d_head)` attention scaling; `n_inner` (the feed-forward width, `4 *
n_embd` when unset) is honoured.
"""

import json
import os

import keras_hub
import numpy as np

from zoo import gpt
from zoo.pretrained import mapping

MODEL_CLASS = gpt.GPT
ZOO_NAME = "gpt"
MODEL_TYPE = "gpt2"
KERAS_HUB_BACKBONE = "GPT2Backbone"
STRIP_PREFIXES = ("transformer.",)
# Weight paths of ours that a keras-hub backbone preset has no values for.
KERAS_HUB_MISSING_HEADS = ()
TOKENIZER_FILES = ("vocab.json", "merges.txt")

# Our hyperparameter -> (Hugging Face config key, keras-hub config key): the one
# place that names a checkpoint's config keys.
CONFIG_KEYS = {
    "vocabulary_size": ("vocab_size", "vocabulary_size"),
    "max_sequence_length": ("n_positions", "max_sequence_length"),
    "num_layers": ("n_layer", "num_layers"),
    "d_model": ("n_embd", "hidden_dim"),
    "num_heads": ("n_head", "num_heads"),
    "dff": ("n_inner", "intermediate_dim"),
    "dropout": ("resid_pdrop", "dropout"),
    "layer_norm_epsilon": ("layer_norm_epsilon", None),
}
# Fixed by the architecture.
# GPT-2 has no pad token and its id 0 ("!") is real: no id is padding.
FIXED = {"normalize_first": True, "tie_embeddings": True, "pad_token_id": None}
GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def _hparams(config, column, source):
    hparams = mapping.read_config(
        config,
        CONFIG_KEYS,
        column,
        source,
        defaults=dict(FIXED, layer_norm_epsilon=1e-5),
        required=("vocabulary_size", "num_layers", "d_model", "num_heads"),
    )
    hparams.setdefault("dff", 4 * hparams["d_model"])  # HF: n_inner None
    hparams.setdefault("max_sequence_length", 1024)
    hparams.setdefault("dropout", 0.1)
    return hparams


def hparams_from_transformers(config, source):
    activation = config.get("activation_function", "gelu_new")
    if activation not in GELU_TANH:
        raise ValueError(
            f"Checkpoint {source}: activation_function={activation!r} is not "
            f"supported (the gpt family uses GELU's tanh form, {GELU_TANH})."
        )
    for flag in ("scale_attn_by_inverse_layer_idx", "add_cross_attention"):
        if config.get(flag):
            raise ValueError(f"Checkpoint {source}: {flag}=true is not supported.")
    if config.get("scale_attn_weights") is False:
        raise ValueError(
            f"Checkpoint {source}: scale_attn_weights=false is not supported."
        )
    return _hparams(config, 0, source)


def hparams_from_keras_hub(config, source):
    return _hparams(config, 1, source)


def build(hparams):
    return gpt.GPT(**hparams)


def transformers_config(model):
    config = mapping.write_config(model, CONFIG_KEYS, 0)
    config.update(
        model_type=MODEL_TYPE,
        architectures=["GPT2LMHeadModel"],
        activation_function="gelu_new",
        embd_pdrop=model.dropout,
        attn_pdrop=model.dropout,
        n_ctx=model.max_sequence_length,
        scale_attn_weights=True,
        tie_word_embeddings=True,
        bos_token_id=model.vocabulary_size - 1,
        eos_token_id=model.vocabulary_size - 1,
    )
    return config


def keras_hub_config(model):
    return mapping.write_config(model, CONFIG_KEYS, 1)


def _check_for_keras_hub(model):
    if not (model.normalize_first and model.tie_embeddings):
        raise ValueError(
            "Only GPT-2 (normalize_first=True, tie_embeddings=True) has a "
            "keras-hub / Hugging Face format; the original GPT layout has none."
        )


def transformers_entries(model, reader=None):
    """The Hugging Face `GPT2Model` tensors (Conv1D weights are `(in, out)`)."""
    _check_for_keras_hub(model)
    d = model.d_model

    def split(a):
        return [a[..., :d], a[..., d : 2 * d], a[..., 2 * d :]]

    def concat(arrays):
        return np.concatenate(arrays, axis=-1)

    entries = [
        mapping.Entry("wte.weight", [model.token_embedding.embeddings]),
        mapping.Entry("wpe.weight", [model.position_embedding.embeddings]),
    ]
    for i, block in enumerate(model.transformer_layers):
        attention, ffn = block.self_attention, block.feed_forward
        p = f"h.{i}."
        entries += [
            mapping.Entry(p + "ln_1.weight", [block.self_attention_layer_norm.gamma]),
            mapping.Entry(p + "ln_1.bias", [block.self_attention_layer_norm.beta]),
            mapping.Entry(
                p + "attn.c_attn.weight",
                [attention.wq.kernel, attention.wk.kernel, attention.wv.kernel],
                split,
                concat,
            ),
            mapping.Entry(
                p + "attn.c_attn.bias",
                [attention.wq.bias, attention.wk.bias, attention.wv.bias],
                split,
                concat,
            ),
            mapping.Entry(p + "attn.c_proj.weight", [attention.dense.kernel]),
            mapping.Entry(p + "attn.c_proj.bias", [attention.dense.bias]),
            mapping.Entry(p + "ln_2.weight", [block.feedforward_layer_norm.gamma]),
            mapping.Entry(p + "ln_2.bias", [block.feedforward_layer_norm.beta]),
            mapping.Entry(p + "mlp.c_fc.weight", [ffn.intermediate_dense.kernel]),
            mapping.Entry(p + "mlp.c_fc.bias", [ffn.intermediate_dense.bias]),
            mapping.Entry(p + "mlp.c_proj.weight", [ffn.output_dense.kernel]),
            mapping.Entry(p + "mlp.c_proj.bias", [ffn.output_dense.bias]),
        ]
    entries += [
        mapping.Entry("ln_f.weight", [model.layer_norm.gamma]),
        mapping.Entry("ln_f.bias", [model.layer_norm.beta]),
    ]
    return entries


def keras_hub_pairs(backbone, model):
    """`(keras-hub variable, ours, factor)` for every weight."""
    _check_for_keras_hub(model)
    pairs = [
        (backbone.token_embedding.embeddings, model.token_embedding.embeddings, 1),
        (
            backbone.position_embedding.position_embeddings,
            model.position_embedding.embeddings,
            1,
        ),
    ]
    for theirs, ours in zip(backbone.transformer_layers, model.transformer_layers):
        mha, attention = theirs._self_attention_layer, ours.self_attention
        for a, b in [
            (mha.query_dense, attention.wq),
            (mha.key_dense, attention.wk),
            (mha.value_dense, attention.wv),
            (mha.output_dense, attention.dense),
            (
                theirs._feedforward_intermediate_dense,
                ours.feed_forward.intermediate_dense,
            ),
            (theirs._feedforward_output_dense, ours.feed_forward.output_dense),
        ]:
            pairs += [(a.kernel, b.kernel, 1), (a.bias, b.bias, 1)]
        for a, b in [
            (theirs._self_attention_layer_norm, ours.self_attention_layer_norm),
            (theirs._feedforward_layer_norm, ours.feedforward_layer_norm),
        ]:
            pairs += [(a.gamma, b.gamma, 1), (a.beta, b.beta, 1)]
    pairs += [
        (backbone.layer_norm.gamma, model.layer_norm.gamma, 1),
        (backbone.layer_norm.beta, model.layer_norm.beta, 1),
    ]
    return pairs


def tokenizer_from_transformers(source):
    return keras_hub.tokenizers.GPT2Tokenizer(
        vocabulary=source.path("vocab.json"), merges=source.path("merges.txt")
    )


def save_transformers_tokenizer(tokenizer, directory):
    if not isinstance(tokenizer, keras_hub.tokenizers.GPT2Tokenizer):
        raise ValueError(
            f"A gpt checkpoint needs a keras_hub GPT2Tokenizer; got "
            f"{type(tokenizer).__name__}."
        )
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer.vocabulary, f, ensure_ascii=False)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        # keras-hub keeps a merges file's "#version" header line as a merge.
        merges = [m for m in tokenizer.merges if not m.startswith("#version")]
        f.write("".join(merge + "\n" for merge in merges))
    end = tokenizer.end_token
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        "bos_token": end,
        "eos_token": end,
        "unk_token": end,
        "model_max_length": 1024,
    }
    with open(
        os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8"
    ) as f:
        json.dump(config, f)
