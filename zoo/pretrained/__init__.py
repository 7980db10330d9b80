"""Pretrained checkpoints: keras-hub presets and Hugging Face directories.

`from_preset(source)` builds the zoo model (`gpt`, `bert` or `t5`, made only
of `keras_seq.layers`) and fills it with a checkpoint's weights;
`tokenizer_from_preset(source)` returns the checkpoint's tokenizer (a keras-hub
tokenizer object); `save_preset(model, tokenizer, directory, format=...)`
writes a zoo model back as a keras-hub preset or a Hugging Face directory.

Sources:
- a local keras-hub preset directory (`config.json` naming
  `keras_hub>GPT2Backbone`, `BertBackbone` or `T5Backbone`, `model.weights.h5`
  or its shards, `tokenizer.json` and `assets/tokenizer/`);
- a local Hugging Face directory (`config.json` with `model_type` `gpt2`,
  `bert` or `t5`; `model.safetensors` or `model.safetensors.index.json` and
  shards, float32 / float16 / bfloat16; `vocab.json` + `merges.txt`,
  `vocab.txt` + `tokenizer_config.json`, or `spiece.model`);
- a keras-hub preset name (`"gpt2_base_en"`), a `kaggle://` handle or
  `hf://owner/name`, fetched by keras-hub's own downloader into its cache
  (this needs the network).

Each family module of this package (`gpt2`, `bert`, `t5`) holds the mapping
between the checkpoint's config keys and the zoo's hyperparameters
(`CONFIG_KEYS`) and between the stored tensors and the zoo model's variables.

Example:
    >>> import zoo
    >>> model = zoo.from_preset("./my_gpt2_dir")  # doctest: +SKIP
    >>> tokenizer = zoo.tokenizer_from_preset("./my_gpt2_dir")  # doctest: +SKIP
    >>> zoo.save_preset(model, tokenizer, "./out", format="keras_hub")  # doctest: +SKIP
"""

import inspect
import logging

import keras_hub

from keras_seq.export.atomic import atomic_directory
from zoo.pretrained import bert, gpt2, mapping, t5
from zoo.pretrained.safetensors_io import SafetensorsReader, write_safetensors
from zoo.pretrained.source import KERAS_HUB, TRANSFORMERS, Source

FAMILIES = (gpt2, bert, t5)
FORMATS = (KERAS_HUB, TRANSFORMERS)
KERAS_HUB_WEIGHTS = ("model.weights.h5", "model.weights.json")

_log = logging.getLogger(__name__)


def _family_of_config(source, config, fmt):
    if fmt == TRANSFORMERS:
        model_type = config["model_type"]
        for family in FAMILIES:
            if model_type == family.MODEL_TYPE:
                return family
        raise ValueError(
            f"Checkpoint {source}: model_type {model_type!r} is not supported; "
            f"supported: {sorted(f.MODEL_TYPE for f in FAMILIES)}."
        )
    name = str(config.get("registered_name", "")).split(">")[-1]
    for family in FAMILIES:
        if name == family.KERAS_HUB_BACKBONE:
            return family
    raise ValueError(
        f"Checkpoint {source}: keras-hub class {config.get('registered_name')!r} "
        f"is not supported; supported: "
        f"{sorted('keras_hub>' + f.KERAS_HUB_BACKBONE for f in FAMILIES)}."
    )


def _family_of_model(model):
    for family in FAMILIES:
        if isinstance(model, family.MODEL_CLASS):
            return family
    raise ValueError(
        f"save_preset: {type(model).__name__} is not a gpt, bert or t5 zoo model."
    )


def _hparams(source, family, fmt, config, overrides):
    if fmt == TRANSFORMERS:
        hparams = family.hparams_from_transformers(config, source)
    else:
        hparams = family.hparams_from_keras_hub(config.get("config", {}), source)
    known = set(inspect.signature(family.MODEL_CLASS).parameters) - {"kwargs"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"from_preset: unknown override(s) {unknown} for the "
            f"{family.ZOO_NAME} family; known: {sorted(known)}."
        )
    hparams.update(overrides)
    return hparams


def preset_hyperparameters(source, **overrides):
    """`(family, hyperparameters)` of a checkpoint, without loading weights.

    `family` is the zoo family's name (`"gpt"`, `"bert"` or `"t5"`); the
    hyperparameters are what `from_preset(source, **overrides)` builds (the
    checkpoint's config with `overrides` applied). Reads `config.json` only.

    Raises:
        ValueError: as `from_preset`, for the config and the overrides.
    """
    source = Source(source)
    fmt = source.format()
    config = source.json("config.json")
    family = _family_of_config(source, config, fmt)
    return family.ZOO_NAME, _hparams(source, family, fmt, config, overrides)


def from_preset(source, **overrides):
    """Builds a zoo model from a checkpoint (see the module docstring).

    Args:
        source: a local keras-hub preset or Hugging Face directory, a keras-hub
            preset name, or a `kaggle://` / `hf://` handle.
        **overrides: hyperparameters replacing the checkpoint's, e.g.
            `dropout=0.0` or, for BERT, `num_classes=3` (a classifier whose
            new output layer starts from random values).

    Returns:
        The zoo model (`zoo.gpt.GPT`, `zoo.bert.Bert` or `zoo.t5.T5`). Its
        `newly_initialized` attribute lists the head tensors the checkpoint
        did not have (e.g. a BERT masked-LM head of a backbone-only preset).

    Raises:
        ValueError: a missing file, an unsupported model type, a tensor
            missing or of the wrong shape (named with both shapes).
    """
    from zoo import sizes

    source = Source(source)
    fmt = source.format()
    config = source.json("config.json")
    family = _family_of_config(source, config, fmt)
    hparams = _hparams(source, family, fmt, config, overrides)
    sizes.check_fits_in_memory(family.ZOO_NAME, hparams)
    if fmt == TRANSFORMERS:
        reader = SafetensorsReader(source, family.STRIP_PREFIXES)
        model = family.build(hparams)
        entries = family.transformers_entries(model, reader)
        skipped = mapping.load(entries, reader, source, family.ZOO_NAME)
    else:
        if not any(source.has(name) for name in KERAS_HUB_WEIGHTS):
            raise ValueError(
                f"Checkpoint {source}: missing file 'model.weights.h5' (or sharded "
                "'model.weights.json')."
            )
        try:
            backbone = keras_hub.models.Backbone.from_preset(source.source)
        except (ValueError, OSError, KeyError) as e:
            raise ValueError(
                f"Checkpoint {source}: keras-hub could not load the preset's "
                f"weights: {e}"
            ) from e
        model = family.build(hparams)
        mapping.copy_pairs(family.keras_hub_pairs(backbone, model))
        # Heads a keras-hub backbone preset does not hold (e.g. BERT's MLM).
        skipped = [
            w.path
            for w in model.weights
            if w.path.startswith(family.KERAS_HUB_MISSING_HEADS)
        ]
        del backbone
    model.newly_initialized = skipped
    model.checkpoint_source = str(source)
    if skipped:
        _log.warning(
            "%s: %d tensor(s) of the %s model are not in the checkpoint and keep "
            "their initial values: %s",
            source,
            len(skipped),
            family.ZOO_NAME,
            skipped,
        )
    return model


def _vocabulary_size(source, family, fmt, config):
    column = 0 if fmt == TRANSFORMERS else 1
    if fmt == KERAS_HUB:
        config = config.get("config", {})
    key = family.CONFIG_KEYS["vocabulary_size"][column]
    if key not in config:
        raise ValueError(f"Checkpoint {source}: config.json lacks {key!r}.")
    return config[key]


def tokenizer_from_preset(source):
    """The checkpoint's tokenizer, a keras-hub tokenizer object.

    GPT-2: `keras_hub.tokenizers.GPT2Tokenizer` (byte-pair); BERT:
    `BertTokenizer` (WordPiece, with the checkpoint's lower-casing); T5:
    `T5Tokenizer` (SentencePiece).

    Raises:
        ValueError: a tokenizer file is missing, or the tokenizer has more
            tokens than the model's vocabulary.
    """
    source = Source(source)
    fmt = source.format()
    config = source.json("config.json")
    family = _family_of_config(source, config, fmt)
    if fmt == TRANSFORMERS:
        tokenizer = family.tokenizer_from_transformers(source)
    else:
        for name in ("tokenizer.json",):
            source.path(name)  # a ValueError naming the file when missing
        try:
            tokenizer = keras_hub.tokenizers.Tokenizer.from_preset(source.source)
        except (ValueError, OSError) as e:
            raise ValueError(
                f"Checkpoint {source}: keras-hub could not load the tokenizer: {e}"
            ) from e
    vocabulary_size = _vocabulary_size(source, family, fmt, config)
    if tokenizer.vocabulary_size() > vocabulary_size:
        raise ValueError(
            f"Checkpoint {source}: the tokenizer has {tokenizer.vocabulary_size()} "
            f"tokens but the model's vocabulary has {vocabulary_size}; they do not "
            "belong together."
        )
    return tokenizer


def save_preset(
    model,
    tokenizer,
    directory,
    format=KERAS_HUB,
    overwrite=False,
    max_shard_bytes=None,
    dtype="float32",
):
    """Writes a zoo model and its tokenizer as a checkpoint directory.

    Args:
        model: a `gpt` (GPT-2 layout), `bert` or `t5` zoo model.
        tokenizer: its keras-hub tokenizer (`GPT2Tokenizer`, `BertTokenizer`,
            `T5Tokenizer`), or `None` to write the weights only.
        directory: the directory to create.
        format: `"keras_hub"` (loads with keras-hub's `from_preset`; the
            backbone and tokenizer, as keras-hub presets hold them) or
            `"transformers"` (a Hugging Face directory: `config.json`,
            `model.safetensors`, tokenizer files).
        overwrite: replace an existing `directory`.
        max_shard_bytes: transformers format: shard `model.safetensors` above
            this size.
        dtype: transformers format: `"float32"`, `"float16"` or `"bfloat16"`.

    The directory is written to a temporary sibling and renamed at the end:
    a failure leaves nothing half-written.
    """
    if format not in FORMATS:
        raise ValueError(
            f"save_preset: format must be one of {FORMATS}; got {format!r}."
        )
    family = _family_of_model(model)
    if tokenizer is not None and tokenizer.vocabulary_size() > model.vocabulary_size:
        raise ValueError(
            f"save_preset: the tokenizer has {tokenizer.vocabulary_size()} tokens "
            f"but the model's vocabulary has {model.vocabulary_size}."
        )
    with atomic_directory(str(directory), overwrite=overwrite) as tmp:
        if format == TRANSFORMERS:
            import json
            import os

            with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as f:
                json.dump(family.transformers_config(model), f, indent=2)
            tensors = mapping.export(family.transformers_entries(model))
            write_safetensors(
                tensors, tmp, max_shard_bytes=max_shard_bytes, dtype=dtype
            )
            if tokenizer is not None:
                family.save_transformers_tokenizer(tokenizer, tmp)
        else:
            backbone_class = getattr(keras_hub.models, family.KERAS_HUB_BACKBONE)
            backbone = backbone_class(**family.keras_hub_config(model))
            mapping.copy_pairs(family.keras_hub_pairs(backbone, model), to_ours=False)
            backbone.save_to_preset(tmp)
            if tokenizer is not None:
                tokenizer.save_to_preset(tmp)


__all__ = [
    "FORMATS",
    "from_preset",
    "preset_hyperparameters",
    "save_preset",
    "tokenizer_from_preset",
]
