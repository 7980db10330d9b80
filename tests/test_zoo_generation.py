"""Tests of `zoo.generation.GenerationMixin` on three small toy families.

The toys implement the generation contract in a few lines each, so that the
mixin (prompt feeding, the compiled loop, samplers, stop tokens, seeds, beam
search with a cache) is tested apart from the zoo families:

- `ToyRecurrentLM`: a cumulative-sum "recurrent" state, fed one token at a time
  (`parallel_prefill = False`).
- `ToyAttentionLM`: one causal self-attention with a key cache written slot by
  slot (`parallel_prefill = True`).
- `ToyEncoderDecoder`: an encoder summary kept in the cache plus the recurrent
  decoder, started from `start_token_id`.

The reference for greedy decoding is a plain Python loop that calls the model
on the whole prefix and takes the arg-max.
"""

import gc
import weakref

import keras
import keras_hub
import numpy as np
import pytest
from keras import ops

import keras_seq  # noqa: F401  (sets the backend)
from zoo.generation import GenerationMixin

VOCAB = 13
DIM = 8
MAX_POSITIONS = 16


class CumulativeSum(keras.layers.Layer):
    """s_t = s_0 + sum_{j <= t} x_j, over the non-pad positions."""

    def call(self, x, token_ids, initial=None):
        mask = ops.expand_dims(ops.cast(ops.not_equal(token_ids, 0), x.dtype), -1)
        s = ops.cumsum(x * mask, axis=1)
        if initial is not None:
            s = s + ops.expand_dims(initial, 1)
        return s


class CausalSelfAttention(keras.layers.Layer):
    """softmax(q k^T / sqrt(d) + causal mask) v with q = k = v = x."""

    def call(self, x, keys=None, index=0):
        n = ops.shape(x)[1]
        keys = x if keys is None else keys
        query_pos = index + ops.arange(n)
        key_pos = ops.arange(ops.shape(keys)[1])
        allowed = ops.expand_dims(key_pos, 0) <= ops.expand_dims(query_pos, 1)
        scores = ops.einsum("bqd,bkd->bqk", x, keys) / np.sqrt(DIM)
        scores = ops.where(ops.expand_dims(allowed, 0), scores, -1e9)
        return ops.einsum("bqk,bkd->bqd", ops.softmax(scores, axis=-1), keys)


class AddPositions(keras.layers.Layer):
    """x_t + P[start + t], P a learned table."""

    def build(self, input_shape):
        self.table = self.add_weight(shape=(MAX_POSITIONS, DIM), name="table")

    def call(self, x, start=0):
        return x + ops.take(self.table, start + ops.arange(ops.shape(x)[1]), axis=0)


class ToyRecurrentLM(GenerationMixin, keras.Model):
    def __init__(self, **kwargs):
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        embedding = keras.layers.Embedding(VOCAB, DIM)
        cumsum = CumulativeSum()
        head = keras.layers.Dense(VOCAB)
        state = cumsum(embedding(token_ids), token_ids)
        logits = head(ops.tanh(state))
        super().__init__(inputs={"token_ids": token_ids}, outputs=logits, **kwargs)
        self.embedding, self.cumsum, self.head = embedding, cumsum, head

    def build_cache(self, inputs):
        return ops.zeros((ops.shape(inputs["token_ids"])[0], DIM))

    def call_with_cache(self, token_ids, cache, index):
        state = self.cumsum(self.embedding(token_ids), token_ids, initial=cache)
        return self.head(ops.tanh(state)), state[:, -1]


class ToyAttentionLM(GenerationMixin, keras.Model):
    parallel_prefill = True
    max_sequence_length = MAX_POSITIONS

    def __init__(self, **kwargs):
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        embedding = keras.layers.Embedding(VOCAB, DIM)
        positions = AddPositions()
        attention = CausalSelfAttention()
        head = keras.layers.Dense(VOCAB)
        x = positions(embedding(token_ids))
        logits = head(attention(x))
        super().__init__(inputs={"token_ids": token_ids}, outputs=logits, **kwargs)
        self.embedding, self.positions = embedding, positions
        self.attention, self.head = attention, head

    def build_cache(self, inputs):
        token_ids = inputs["token_ids"]
        return ops.zeros((ops.shape(token_ids)[0], ops.shape(token_ids)[1], DIM))

    def call_with_cache(self, token_ids, cache, index):
        x = self.positions(self.embedding(token_ids), start=index)
        cache = ops.slice_update(cache, [0, index, 0], x)
        return self.head(self.attention(x, keys=cache, index=index)), cache


class ToyEncoderDecoder(GenerationMixin, keras.Model):
    generation_prompt_key = "decoder_token_ids"
    start_token_id = 1

    def __init__(self, **kwargs):
        encoder_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
        decoder_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
        embedding = keras.layers.Embedding(VOCAB, DIM)
        cumsum = CumulativeSum()
        head = keras.layers.Dense(VOCAB)
        summary = self._encode(embedding, encoder_ids)
        state = cumsum(embedding(decoder_ids), decoder_ids)
        logits = head(ops.tanh(state + ops.expand_dims(summary, 1)))
        super().__init__(
            inputs={"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids},
            outputs=logits,
            **kwargs,
        )
        self.embedding, self.cumsum, self.head = embedding, cumsum, head

    @staticmethod
    def _encode(embedding, encoder_ids):
        mask = ops.cast(ops.not_equal(encoder_ids, 0), "float32")
        total = ops.sum(embedding(encoder_ids) * ops.expand_dims(mask, -1), axis=1)
        return total / ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)

    def build_cache(self, inputs):
        summary = self._encode(self.embedding, inputs["encoder_token_ids"])
        return {"summary": summary, "state": ops.zeros_like(summary)}

    def call_with_cache(self, token_ids, cache, index):
        x = self.embedding(token_ids)
        state = self.cumsum(x, token_ids, initial=cache["state"])
        logits = self.head(ops.tanh(state + ops.expand_dims(cache["summary"], 1)))
        return logits, {"summary": cache["summary"], "state": state[:, -1]}


def _generate(model, inputs, max_length, **kwargs):
    """`model.generate` without XLA unless asked: XLA compiles cost seconds."""
    kwargs.setdefault("jit_compile", False)
    return model.generate(inputs, max_length, **kwargs)


TOYS = {
    "recurrent": ToyRecurrentLM,
    "attention": ToyAttentionLM,
    "encoder_decoder": ToyEncoderDecoder,
}


def _inputs(kind, rng):
    prompt = rng.integers(1, VOCAB, size=(3, 4)).astype("int32")
    prompt[1, 2:] = 0  # prompts of unequal length: 4, 2, 4 tokens
    if kind == "encoder_decoder":
        source = rng.integers(1, VOCAB, size=(3, 5)).astype("int32")
        source[2, 3:] = 0
        return {"encoder_token_ids": source}
    return {"token_ids": prompt}


def _reference_greedy(model, inputs, max_length):
    """Greedy decoding by a Python loop over full-prefix calls."""
    key = model.generation_prompt_key
    inputs = {k: np.asarray(v) for k, v in inputs.items()}
    if key not in inputs:
        batch_size = next(iter(inputs.values())).shape[0]
        inputs[key] = np.full((batch_size, 1), model.start_token_id, "int32")
    prompt = inputs[key]
    lengths = (prompt != 0).sum(axis=1)
    tokens = np.zeros((prompt.shape[0], max_length), "int32")
    tokens[:, : prompt.shape[1]] = prompt
    for t in range(lengths.min(), max_length):
        logits = np.array(model({**inputs, key: tokens}))[:, t - 1]
        logits[:, 0] = -np.inf  # the pad id is never generated
        generated = t >= lengths
        tokens[generated, t] = logits[generated].argmax(axis=-1)
    return tokens


@pytest.fixture(scope="module", params=sorted(TOYS))
def toy(request):
    """One model per toy for the module: its compiled generate functions are
    reused across tests (tracing dominates the cost here)."""
    keras.utils.set_random_seed(0)
    model = TOYS[request.param]()
    return model, _inputs(request.param, np.random.default_rng(0))


def test_greedy_matches_python_loop(toy):
    """Cached, uncached and XLA-compiled greedy decoding all equal the loop."""
    model, inputs = toy
    expected = _reference_greedy(model, inputs, max_length=9)
    for kwargs in (
        dict(use_cache=True),
        dict(use_cache=False),
        # TF's stateless random ops draw other numbers under XLA, so seeded
        # sampling is reproducible within a mode only (test_seed_determinism).
        dict(use_cache=True, jit_compile=True),
    ):
        tokens = _generate(model, inputs, max_length=9, **kwargs)
        np.testing.assert_array_equal(tokens, expected, err_msg=str(kwargs))


def test_cached_equals_uncached(toy):
    model, inputs = toy
    for sampler in ("top_k", "top_p", "beam"):
        if sampler == "beam" and "token_ids" in inputs:
            inputs = {"token_ids": inputs["token_ids"][[0, 2]]}  # equal lengths
        kwargs = dict(max_length=10, sampler=sampler, k=4, p=0.8, num_beams=3, seed=7)
        cached = _generate(model, inputs, use_cache=True, **kwargs)
        uncached = _generate(model, inputs, use_cache=False, **kwargs)
        np.testing.assert_array_equal(cached, uncached, err_msg=sampler)


def test_seed_determinism(toy):
    model, inputs = toy
    setups = [("top_k", False), ("top_p", False)]
    if isinstance(model, ToyEncoderDecoder):  # XLA compiles cost seconds: once
        setups.append(("top_k", True))
    for sampler, jit_compile in setups:
        kwargs = dict(max_length=12, sampler=sampler, k=VOCAB - 1, p=1.0)
        kwargs["jit_compile"] = jit_compile
        first = _generate(model, inputs, seed=11, **kwargs)
        again = _generate(model, inputs, seed=11, **kwargs)
        other = _generate(model, inputs, seed=12, **kwargs)
        np.testing.assert_array_equal(first, again, err_msg=str(kwargs))
        # 3 rows x >= 8 tokens from ~12 ids: equal draws are (almost) impossible.
        assert not np.array_equal(first, other), kwargs


def test_degenerate_samplers_are_greedy(rng):
    """top_k with k=1, top_p with tiny p and beam width 1 all pick the arg-max."""
    model, inputs = ToyAttentionLM(), _inputs("attention", rng)
    greedy = _generate(model, inputs, max_length=9)
    for kwargs in (
        dict(sampler="top_k", k=1, seed=1),
        dict(sampler="top_p", p=1e-6, seed=1),
        dict(sampler="top_k", k=VOCAB, temperature=1e-4, seed=1),
    ):
        np.testing.assert_array_equal(_generate(model, inputs, 9, **kwargs), greedy)
    if "token_ids" in inputs:
        inputs = {"token_ids": inputs["token_ids"][[0, 2]]}
        greedy = greedy[[0, 2]]
    beam = _generate(model, inputs, 9, sampler="beam", num_beams=1)
    np.testing.assert_array_equal(beam, greedy)


def test_output_and_stop_tokens(toy):
    model, inputs = toy
    key = model.generation_prompt_key
    prompt = inputs.get(key, np.full((3, 1), getattr(model, "start_token_id", 0)))
    lengths = (prompt != 0).sum(axis=1)

    tokens = _generate(model, inputs, max_length=10, sampler="top_k", k=VOCAB, seed=0)
    assert tokens.shape == (3, 10) and tokens.dtype == np.int32
    for row, length in enumerate(lengths):
        np.testing.assert_array_equal(tokens[row, :length], prompt[row, :length])
    assert tokens.min() >= 1 and tokens.max() < VOCAB  # never the pad id

    greedy = _generate(model, inputs, max_length=10)
    stop_id = int(greedy[0, lengths[0]])  # row 0 stops at once
    tokens = _generate(model, inputs, max_length=10, stop_token_ids=[stop_id])
    expected = greedy.copy()
    for row, length in enumerate(lengths):
        hits = np.nonzero(greedy[row, length:] == stop_id)[0]
        if len(hits):
            expected[row, length + hits[0] + 1 :] = 0
    np.testing.assert_array_equal(tokens, expected)
    assert (tokens[0, lengths[0] + 1 :] == 0).all()


def test_sampler_instance_and_state_continues(rng):
    model = ToyRecurrentLM()
    inputs = _inputs("recurrent", rng)
    sampler = keras_hub.samplers.TopKSampler(k=VOCAB - 1, seed=5)
    first = _generate(model, inputs, 12, sampler=sampler)
    second = _generate(model, inputs, 12, sampler=sampler)
    # The instance's random stream goes on between calls...
    assert not np.array_equal(first, second)
    # ...and a fresh one with the same seed repeats the first draw.
    fresh = keras_hub.samplers.TopKSampler(k=VOCAB - 1, seed=5)
    np.testing.assert_array_equal(_generate(model, inputs, 12, sampler=fresh), first)


def test_compiled_generation_is_not_kept_on_the_model(rng):
    """The sampler is not tracked (no new weights) and the cached compiled
    functions do not keep a deleted model alive."""
    model = ToyAttentionLM()
    weights_before = len(model.weights)
    _generate(model, _inputs("attention", rng), 8, sampler="top_k", seed=1)
    assert len(model.weights) == weights_before
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


BAD_ARGUMENTS = [
    (dict(sampler="nucleus"), "unknown sampler 'nucleus'"),
    (dict(sampler="top_k", k=0), "k must be an int in"),
    (dict(sampler="top_p", p=1.5), r"p must be in \(0, 1\]"),
    (dict(temperature=0.0), "temperature must be > 0"),
    (dict(stop_token_ids=[0]), r"stop_token_ids must be .* \(0 is the pad id\)"),
    (dict(max_length=4), "max_length=4 leaves no room"),
    (dict(max_length=MAX_POSITIONS + 1), "max_length=17 exceeds the model's max_seq"),
    (dict(sampler="beam"), "beam search needs prompts of equal length"),
    (
        dict(sampler=keras_hub.samplers.BeamSampler(num_beams=2)),
        "beam search needs prompts of equal length",
    ),
    (
        dict(sampler=keras_hub.samplers.TopKSampler(seed=1), seed=2),
        "a sampler instance owns its seed",
    ),
]


def test_bad_arguments_raise(rng):
    model = ToyAttentionLM()
    for kwargs, match in BAD_ARGUMENTS:
        kwargs = {"max_length": 8, **kwargs}
        with pytest.raises(ValueError, match=f"ToyAttentionLM.generate: {match}"):
            model.generate(_inputs("attention", rng), **kwargs)


def test_bad_prompts_raise(rng):
    model = ToyEncoderDecoder()
    source = rng.integers(1, VOCAB, size=(2, 5))
    with pytest.raises(ValueError, match=r"right-padded.*rows \[1\]"):
        model.generate(
            {"encoder_token_ids": source, "decoder_token_ids": [[1, 2, 0], [4, 0, 3]]},
            6,
        )
    # The first token is always real, even the pad id (T5 starts from id 0).
    tokens = model.generate(
        {"encoder_token_ids": source, "decoder_token_ids": [[0, 3], [0, 0]]},
        6,
        jit_compile=False,
    )
    assert tokens[:, 0].tolist() == [0, 0] and tokens[0, 1] == 3
    with pytest.raises(ValueError, match=r"unknown inputs \['tokens'\]"):
        model.generate({"encoder_token_ids": source, "tokens": source}, 6)
    with pytest.raises(ValueError, match="disagree on the batch size"):
        model.generate({"encoder_token_ids": source, "decoder_token_ids": [[1]]}, 6)
    with pytest.raises(ValueError, match=r"prompt ids must be in \[0, 13\)"):
        model.generate(
            {"encoder_token_ids": source, "decoder_token_ids": [[1], [VOCAB]]}, 6
        )
