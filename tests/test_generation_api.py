"""The public building blocks of `generate`: make_sampler, make_generate_function."""

import keras_hub
import numpy as np
import pytest

import zoo
from zoo.generation import seed_sampler


@pytest.fixture(scope="module")
def gpt():
    return zoo.build("gpt", "tiny")


def test_generate_function_is_what_generate_runs(gpt):
    prompts = np.array([[5, 6, 7, 0, 0, 0], [8, 9, 0, 0, 0, 0]], "int32")
    expected = gpt.generate(prompts, max_length=6, jit_compile=False)
    sampler = gpt.make_sampler("greedy")
    assert isinstance(sampler, keras_hub.samplers.GreedySampler)
    fn = gpt.make_generate_function(sampler, jit_compile=False)
    tokens = fn({}, prompts, np.int32(2))
    np.testing.assert_array_equal(np.asarray(tokens), expected)
    # The plain function (to trace into another graph) gives the same.
    plain = gpt.make_generate_function(sampler)
    np.testing.assert_array_equal(np.asarray(plain({}, prompts, np.int32(2))), expected)


def test_seed_sampler_restarts_the_random_stream(gpt):
    prompts = np.array([[5, 6, 0, 0, 0, 0, 0, 0]], "int32")
    sampler = gpt.make_sampler("top_k", k=10, temperature=2.0)
    fn = gpt.make_generate_function(sampler, jit_compile=False)
    runs = []
    for seed in (3, 3, 4):
        seed_sampler(sampler, seed)
        runs.append(np.asarray(fn({}, prompts, np.int32(2))))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert gpt.generation_vocabulary_size == 64


def test_make_sampler_checks_its_arguments(gpt):
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 64\]"):
        gpt.make_sampler("top_k", k=0)
    with pytest.raises(ValueError, match="unknown sampler 'nucleus'"):
        gpt.make_sampler("nucleus")


def test_a_model_without_the_cache_contract_generates_uncached_only():
    import keras

    from zoo.base import ZooModel, id_inputs
    from zoo.generation import GenerationMixin

    class Bigram(GenerationMixin, ZooModel):
        def __init__(self, vocabulary_size=16, **kwargs):
            inputs = id_inputs("token_ids")
            x = keras.layers.Embedding(vocabulary_size, 8)(inputs["token_ids"])
            logits = keras.layers.Dense(vocabulary_size)(x)
            super().__init__(inputs=inputs, outputs=logits, **kwargs)

    model = Bigram()
    prompts = np.array([[3, 4, 0, 0]], "int32")
    tokens = model.generate(prompts, max_length=4, use_cache=False, jit_compile=False)
    assert tokens.shape == (1, 4) and (tokens[0, :2] == [3, 4]).all()
    match = r"Bigram does not implement \['build_cache', 'call_with_cache'\]"
    with pytest.raises(ValueError, match=match):
        model.generate(prompts, max_length=4)
