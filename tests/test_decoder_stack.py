"""One decoder stack and one cache structure for gpt, transformer and t5."""

import numpy as np
import pytest

import zoo
from zoo.decoder_stack import DecoderStack

GENERATE = {
    "gpt": lambda: {
        "token_ids": np.array([[5, 6, 7, 0, 0, 0, 0, 0], [8, 0, 0, 0, 0, 0, 0, 0]])
    },
    "transformer": lambda: {
        "encoder_token_ids": np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    },
    "t5": lambda: {"encoder_token_ids": np.array([[5, 6, 7, 0], [8, 9, 0, 0]])},
    "char_rnn": lambda: {
        "token_ids": np.array([[5, 6, 7, 0, 0, 0], [8, 0, 0, 0, 0, 0]])
    },
    "seq2seq_attention": lambda: {
        "encoder_token_ids": np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    },
}
TRANSFORMERS = ("gpt", "transformer", "t5")


@pytest.mark.parametrize("family", TRANSFORMERS)
def test_cache_is_a_tuple_of_per_layer_5d_caches(family):
    model = zoo.build(family, "tiny")
    assert isinstance(model.decoder_stack, DecoderStack)
    inputs = GENERATE[family]()
    buffer = np.zeros((2, 8), "int32")
    cache = model.build_cache({**inputs, model.generation_prompt_key: buffer})
    caches = [cache] if family == "gpt" else [cache[k] for k in sorted(cache)]
    per_layer = [c for c in caches if isinstance(c, tuple)]
    assert len(per_layer) == (1 if family == "gpt" else 2)
    depth = 32 // 4
    for layer_caches in per_layer:
        assert len(layer_caches) == model.num_layers
        for c in layer_caches:
            assert (
                c.shape[0] == 2
                and c.shape[1] == 2
                and tuple(c.shape[3:])
                == (
                    4,
                    depth,
                )
            )


@pytest.mark.parametrize("family", TRANSFORMERS)
def test_cached_generation_equals_uncached(family):
    # (char_rnn and seq2seq_attention: in their own test files.)
    model = zoo.build(family, "tiny")
    inputs = GENERATE[family]()
    kwargs = dict(max_length=8, jit_compile=False)
    cached = model.generate(inputs, use_cache=True, **kwargs)
    uncached = model.generate(inputs, use_cache=False, **kwargs)
    np.testing.assert_array_equal(cached, uncached)


@pytest.mark.parametrize("chunk", [4, 16])
def test_chunked_prefill_equals_one_call(chunk):
    """The prompt is fed `prefill_chunk_length` positions at a time (chunk 4
    at max_length 11: positions 0-3, 4-7, then 7-10, moved back to end at
    the buffer's end; chunk 16 is cut to the buffer), and leaves the cache
    of the one call over the whole buffer at the positions read later."""
    model = zoo.build("gpt", "tiny")
    assert model.prefill_chunk_length == 16
    prompts = np.array([list(range(5, 15)), list(range(20, 30))], "int32")
    buffer = np.zeros((2, 11), "int32")
    buffer[:, :10] = prompts
    start = 10
    empty = model.build_cache({"token_ids": buffer})
    model.prefill_chunk_length = None
    whole = model._prefill(buffer, empty, start)
    model.prefill_chunk_length = chunk
    chunked = model._prefill(buffer, empty, start)
    for a, b in zip(chunked, whole):
        # Positions 0 ... start - 2 are read before being rewritten.
        np.testing.assert_allclose(
            np.asarray(a)[:, :, : start - 1], np.asarray(b)[:, :, : start - 1],
            atol=1e-5,
        )  # fmt: skip
    # Prompts of different lengths: the shortest one sets what is prefilled.
    prompts[1, 4:] = 0
    kwargs = dict(max_length=11, jit_compile=False)
    cached = model.generate(prompts, **kwargs)
    uncached = model.generate(prompts, use_cache=False, **kwargs)
    np.testing.assert_array_equal(cached, uncached)
    np.testing.assert_array_equal(cached[:, :4], prompts[:, :4])
