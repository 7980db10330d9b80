"""The train tool's settings a family chooses per preset (`training_defaults`)."""

import dataclasses

import keras
import numpy as np
import pytest

import zoo
from keras_seq.training import trainer
from keras_seq.training.trainer import TOOL_DEFAULTS, TrainConfig
from zoo.family import Family


def _family(**facts):
    return Family(
        name="toy",
        build_model=lambda **hp: None,
        presets={"tiny": {}, "small": {}},
        tasks={"language_model": "causal_lm"},
        **facts,
    )


def test_a_family_chooses_settings_per_preset_and_flags_win():
    # The papers' settings: weight decay where the paper uses it (BERT, GPT-1:
    # 0.01; GPT-3: 0.1), their peak learning rates with warm-up and decay.
    assert zoo.family("bert").training_default("base") == {
        "learning_rate": 1e-4,
        "schedule": "cosine",
        "weight_decay": 0.01,
    }
    gpt3_small = zoo.family("gpt").training_default("gpt3_small")
    assert gpt3_small["weight_decay"] == 0.1
    assert gpt3_small["learning_rate"] == 6e-4
    assert zoo.family("gpt").training_default("gpt3_175b")["learning_rate"] == 6e-5
    assert zoo.family("gpt").training_default("tiny") == {}
    small = zoo.family("char_rnn").training_default("small")
    assert small, "char_rnn --preset=small declares its measured settings"
    resolved = TrainConfig(model="char_rnn", preset="small").with_defaults()
    for key, value in TOOL_DEFAULTS.items():
        assert getattr(resolved, key) == small.get(key, value)
    # tiny (the test preset) keeps the tool's defaults.
    tiny = TrainConfig(model="char_rnn", preset="tiny").with_defaults()
    assert {k: getattr(tiny, k) for k in TOOL_DEFAULTS} == TOOL_DEFAULTS
    # A setting the user passes is kept.
    mine = TrainConfig(model="char_rnn", preset="small", steps=7, batch_size=3)
    mine = mine.with_defaults()
    assert (mine.steps, mine.batch_size) == (7, 3)
    assert mine.learning_rate == resolved.learning_rate
    # An unknown model gets the tool's defaults (and _validate's error later).
    unknown = TrainConfig(model="nope").with_defaults()
    assert dataclasses.asdict(unknown)["steps"] == TOOL_DEFAULTS["steps"]


def test_a_pretrained_checkpoint_fine_tunes_with_the_familys_fine_tuning_defaults(
    tmp_path,
):
    # A keras-hub preset or Hugging Face directory (is_checkpoint) needs a far
    # smaller learning rate than training the preset from scratch.
    checkpoint = tmp_path / "bert_dir"
    checkpoint.mkdir()
    assert trainer.is_checkpoint(str(checkpoint))
    tuned = TrainConfig(model="bert", init_from=str(checkpoint)).with_defaults()
    assert (tuned.learning_rate, tuned.batch_size) == (5e-5, 32)
    assert (tuned.schedule, tuned.weight_decay) == ("cosine", 0.01)
    assert tuned.steps == TOOL_DEFAULTS["steps"]  # not chosen: the tool's
    gpt = TrainConfig(model="gpt", init_from=str(checkpoint)).with_defaults()
    assert gpt.learning_rate == 6.25e-5
    # A flag the user passes still wins.
    mine = TrainConfig(model="bert", init_from=str(checkpoint), learning_rate=2e-5)
    assert mine.with_defaults().learning_rate == 2e-5
    # A weights file to start from is not a pretrained checkpoint: the
    # preset's defaults (tiny: the tool's).
    weights = tmp_path / "model.weights.h5"
    weights.write_bytes(b"")
    start = TrainConfig(model="bert", init_from=str(weights)).with_defaults()
    assert start.learning_rate == TOOL_DEFAULTS["learning_rate"]
    # A family without fine-tuning defaults gets the tool's.
    assert zoo.family("char_rnn").fine_tuning_default() == {}


def test_bad_training_defaults_name_the_family_and_the_setting():
    assert _family(training_defaults={"small": {"steps": 5}}).training_default(
        "small"
    ) == {"steps": 5}
    with pytest.raises(ValueError, match="'toy'.*preset 'big'"):
        _family(training_defaults={"big": {"steps": 5}})
    with pytest.raises(ValueError, match=r"unknown settings \['epochs'\]"):
        _family(training_defaults={"small": {"epochs": 5}})
    with pytest.raises(ValueError, match=r"'toy'.*fine_tuning_defaults.*\['warmup'\]"):
        _family(fine_tuning_defaults={"warmup": 5})
    assert _family(fine_tuning_defaults={"steps": 5}).fine_tuning_default() == {
        "steps": 5
    }


def test_weight_decay_trains_with_adamw_sparing_biases_and_norms():
    config = TrainConfig(weight_decay=0.1, clipnorm=None).with_defaults()
    optimizer = trainer._optimizer(config, 10)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    model = zoo.build("gpt", "tiny")
    before = {v.path: v.numpy() for v in model.trainable_variables}
    # Zero gradients: Adam's step is 0, so only the decay moves a variable.
    optimizer.apply_gradients(
        [(keras.ops.zeros_like(v), v) for v in model.trainable_variables]
    )
    moved = {
        v.path
        for v in model.trainable_variables
        if not np.array_equal(v.numpy(), before[v.path])
    }
    names = {p.split("/")[-1] for p in moved}
    assert names == {"kernel", "embeddings"}  # not bias, gamma, beta
    plain = trainer._optimizer(TrainConfig().with_defaults(), 10)
    assert type(plain) is keras.optimizers.Adam
    with pytest.raises(trainer.TrainError, match="--weight_decay"):
        trainer._validate(dataclasses.replace(config, weight_decay=-1.0))
