"""What every zoo family gets from `zoo.ZooModel`: config and dtype policy."""

import json
import os
import zipfile

import keras
import numpy as np
import pytest

import zoo
from zoo.base import ZooModel, dtype_policy_scope


def _float16_layers(model):
    return [
        layer.name
        for layer in model._flatten_layers(include_self=False)
        if layer.weights and layer.compute_dtype == "float16"
    ]


@pytest.mark.parametrize("family", zoo.list_models())
def test_dtype_policy_round_trips(family, tmp_path):
    assert keras.config.dtype_policy().name == "float32"
    model = zoo.build(family, "tiny", dtype="mixed_float16")
    # zoo.build leaves the global policy alone.
    assert keras.config.dtype_policy().name == "float32"
    assert isinstance(model, ZooModel)
    assert model.dtype_policy.name == "mixed_float16"
    assert _float16_layers(model), "no layer computes in float16"
    config = model.get_config()
    assert set(model.hyperparameter_names()) <= set(config)
    assert config["dtype"]["config"]["name"] == "mixed_float16"

    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = zoo.load(path)  # under the float32 global policy
    assert reloaded.dtype_policy.name == "mixed_float16"
    assert _float16_layers(reloaded) == _float16_layers(model)
    assert reloaded.get_config() == config
    inputs = {
        name: np.ones((1, *(d or 4 for d in tensor.shape[1:])), tensor.dtype)
        for name, tensor in model.input.items()
    }
    np.testing.assert_allclose(
        np.asarray(reloaded(inputs), "float32"),
        np.asarray(model(inputs), "float32"),
        atol=1e-3,
    )


def test_dtype_policy_scope_restores_on_error():
    with pytest.raises(RuntimeError), dtype_policy_scope("mixed_float16"):
        assert keras.config.dtype_policy().name == "mixed_float16"
        raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"


def test_constructor_arguments_are_stored_and_in_the_config():
    class Plain(ZooModel):
        def __init__(self, width, use_bias=False, **kwargs):
            inputs = keras.Input((3,))
            outputs = keras.layers.Dense(width, use_bias=use_bias)(inputs)
            super().__init__(inputs, outputs, **kwargs)

    model = Plain(2, name="plain")
    assert (model.width, model.use_bias) == (2, False)
    config = model.get_config()
    assert config["width"] == 2 and config["use_bias"] is False
    assert config["name"] == "plain"
    assert Plain.from_config(config).get_config() == config
    # A model whose every argument has a default builds with none given
    # (Keras's automatic config reads the wrapped constructor's signature).

    class AllDefaults(Plain):
        def __init__(self, width=4, **kwargs):
            super().__init__(width, **kwargs)

    assert AllDefaults().width == 4
    assert AllDefaults.from_config(AllDefaults().get_config()).width == 4


@pytest.mark.parametrize("family", ["bert", "t5"])
def test_keras_file_saved_with_keras_hub_names_loads(family, tmp_path):
    # bert and t5 once said hidden_dim / intermediate_dim (keras-hub's names);
    # their .keras files still load, under the course's d_model / dff.
    model = zoo.build(family, "tiny")
    new_path, old_path = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(new_path)
    with zipfile.ZipFile(new_path) as new, zipfile.ZipFile(old_path, "w") as old:
        for item in new.infolist():
            data = new.read(item)
            if item.filename == "config.json":
                saved = json.loads(data)
                config = saved["config"]
                config["hidden_dim"] = config.pop("d_model")
                config["intermediate_dim"] = config.pop("dff")
                data = json.dumps(saved).encode()
            old.writestr(item, data)
    reloaded = zoo.load(str(old_path))
    assert (reloaded.d_model, reloaded.dff) == (model.d_model, model.dff)
    assert reloaded.get_config() == model.get_config()
    for ours, theirs in zip(reloaded.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
