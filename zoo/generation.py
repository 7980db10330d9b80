"""Token generation shared by the zoo's generative families.

`GenerationMixin` gives a zoo model a `generate()` method: it picks one of
keras-hub's samplers (greedy, top-k, top-p, beam), seeds it, feeds the prompt,
runs the sampling loop compiled with `tf.function` (XLA by default), stops on
stop tokens and returns the token ids.

A family only implements a small contract:

- `generation_prompt_key` (class attribute): the model input that holds the
  tokens being generated: `"token_ids"` for a language model,
  `"decoder_token_ids"` for an encoder-decoder.
- `build_cache(inputs)`: `inputs` is the model's input dict whose prompt input
  is the whole `(B, L)` token buffer (the prompt, then pad ids 0 up to
  `max_length`). Returns the decoding cache before any token was fed: a nested
  structure (dict/tuple) of tensors whose first axis is the batch (beam search
  repeats and reorders it along that axis). For an RNN it is the zero state, for
  a Transformer decoder the zero key/value slots; an encoder-decoder runs its
  encoder here once and keeps the encoder output (and its padding mask) in the
  cache.
- `call_with_cache(token_ids, cache, index)`: feeds `token_ids` `(B, n)`, the
  tokens at positions `index ... index + n - 1`, and returns
  `(logits, cache)`, `logits` `(B, n, V)` being the next-token logits at those
  positions. Pad ids only ever follow the prompt, so a cached call needs causal
  masking only.
- `parallel_prefill` (class attribute, default `False`): `True` when one call of
  `call_with_cache` on the whole buffer at index 0 leaves every cache position
  right that later steps read before rewriting (a causal Transformer: a
  position's keys/values depend on tokens up to it only, and each step rewrites
  its own slot). Then the prompt is fed in parallel calls of
  `prefill_chunk_length` positions (class attribute, default 16; `None`: one
  call over the whole buffer, pad positions included), as many as the
  shortest prompt needs. With `False` (a recurrent state) the prompt is fed
  one token at a time.
- optionally `start_token_id` (used as the one-token prompt when the prompt input
  is not given, e.g. an encoder-decoder's decoder) and `max_sequence_length`
  (the longest sequence it can take).

`use_cache=False` recomputes the full model on the whole prefix at every step:
the reference the cached loop must match.

The model's pad id (`pad_token_id`, 0 by default) is never generated (its
logit is set to -1e9), so generated and padded positions stay
distinguishable; a model without one (`pad_token_id=None`, a GPT-2
checkpoint) takes an explicit `prompt_mask` instead. Generation with keras-hub samplers
follows `keras_hub.models.CausalLM.generate`.
"""

import weakref

import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

SAMPLERS = ("greedy", "top_k", "top_p", "beam")

# model -> {key: (compiled function, sampler)}. Kept off the model so that the
# functions and the samplers' seed variables are not tracked (saved) with it.
_GENERATE_FUNCTIONS = weakref.WeakKeyDictionary()


class GenerationMixin:
    """Adds `generate()` to a zoo model (see the module docstring)."""

    generation_prompt_key = "token_ids"
    parallel_prefill = False
    prefill_chunk_length = 16
    generate_jit_compile = True

    # The contract a family implements, `build_cache(inputs)` and
    # `call_with_cache(token_ids, cache, index)` (see the module docstring), is
    # not declared here: a model without them generates with `use_cache=False`
    # only (`make_generate_function` says so).

    def generate(
        self,
        inputs,
        max_length,
        sampler="greedy",
        temperature=1.0,
        k=5,
        p=0.9,
        num_beams=4,
        stop_token_ids=None,
        seed=None,
        use_cache=True,
        jit_compile=None,
        prompt_mask=None,
    ):
        """Generates token ids autoregressively.

        Args:
            inputs: dict of int arrays, the model's inputs. The prompt input
                (`generation_prompt_key`) holds right-padded prompts `(B, P)`
                with at least one token each; an encoder-decoder may leave it
                out to start from `start_token_id`. A language model also takes
                the prompt array alone.
            max_length: int, the length of the returned sequences, prompt
                included.
            sampler: `"greedy"`, `"top_k"`, `"top_p"`, `"beam"` or a
                `keras_hub.samplers.Sampler` instance (which then owns its
                temperature and seed).
            temperature: float > 0, divides the logits before the softmax.
            k: int, the number of tokens `"top_k"` samples from.
            p: float in (0, 1], the probability mass `"top_p"` samples from.
            num_beams: int, the beam width of `"beam"`.
            stop_token_ids: optional list of token ids. A row is finished
                once it generated one of them; the loop ends when all rows are
                finished, and positions after a row's stop token are pad (0).
            seed: optional int: the same seed gives the same tokens (for the
                same `jit_compile`: TF's stateless random ops draw other
                numbers under XLA).
            use_cache: `True` feeds one token per step through the cache;
                `False` reruns the model on the whole prefix each step.
            jit_compile: compile the loop with XLA (default: the class's
                `generate_jit_compile`, `True`).
            prompt_mask: optional `(B, P)` bool array, True at the prompt's
                tokens (right-aligned padding after them). Default: the ids
                other than the model's `pad_token_id` (and position 0). A
                model whose every id is a real token (`pad_token_id=None`, a
                GPT-2 checkpoint) needs it to batch prompts of different
                lengths (keras-hub's `padding_mask`).

        Returns:
            An int32 numpy array `(B, max_length)`: the prompt followed by the
            generated tokens (pad 0 after a stop token).
        """
        name = type(self).__name__
        key = self.generation_prompt_key
        inputs = self._generation_inputs(inputs)
        prompt = inputs.pop(key)
        vocab_size = self.generation_vocabulary_size
        pad_id = getattr(self, "pad_token_id", 0)
        lengths = _check_prompt(name, key, prompt, vocab_size, pad_id, prompt_mask)
        max_length = _check_max_length(name, max_length, lengths, self)
        stop_token_ids = _check_stop_ids(name, stop_token_ids, vocab_size)
        if jit_compile is None:
            jit_compile = self.generate_jit_compile
        is_beam = sampler == "beam" or isinstance(
            sampler, keras_hub.samplers.BeamSampler
        )
        if is_beam and len(set(lengths)) > 1:
            # keras-hub's BeamSampler scores forced prompt tokens as if chosen.
            raise ValueError(
                f"{name}.generate: beam search needs prompts of equal length; "
                f"got prompt lengths {lengths.tolist()}."
            )

        sampler_key, factory = _sampler_spec(
            name, sampler, temperature, k, p, num_beams, seed, vocab_size
        )
        fn_key = (
            sampler_key,
            stop_token_ids,
            bool(use_cache),
            bool(jit_compile),
            pad_id,
        )
        functions = _GENERATE_FUNCTIONS.setdefault(self, {})
        if fn_key not in functions:
            sampler_obj = factory()
            fn = self.make_generate_function(
                sampler_obj, stop_token_ids, use_cache, jit_compile=jit_compile
            )
            functions[fn_key] = (fn, sampler_obj)
        fn, sampler_obj = functions[fn_key]
        if isinstance(sampler, str) and seed is not None:
            seed_sampler(sampler_obj, seed)

        buffer = np.zeros((prompt.shape[0], max_length), dtype="int32")
        width = min(prompt.shape[1], max_length)
        buffer[:, :width] = prompt[:, :width]
        start = np.int32(lengths.min())
        prompt_mask = np.arange(max_length)[None, :] < lengths[:, None]
        tokens = fn(inputs, buffer, start, prompt_mask)
        return np.asarray(tokens, dtype="int32")

    def _prefill(self, token_ids, cache, start):
        """Feeds positions `0 ... start - 2`; step `start` feeds `start - 1`."""
        batch_size = ops.shape(token_ids)[0]
        if self.parallel_prefill:
            chunk = self.prefill_chunk_length
            if chunk is None:
                _, cache = self.call_with_cache(token_ids, cache, 0)
                return cache
            return self._chunked_prefill(token_ids, cache, start, chunk)

        def cond(i, cache):
            return i < start - 1

        def body(i, cache):
            token = ops.slice(token_ids, [0, i], [batch_size, 1])
            _, cache = self.call_with_cache(token, cache, i)
            return i + 1, cache

        _, cache = ops.while_loop(cond, body, (ops.convert_to_tensor(0), cache))
        return cache

    def _chunked_prefill(self, token_ids, cache, start, chunk):
        """Feeds positions `0 ... start - 2` in calls of `chunk` positions.

        Only the prompt is fed: the buffer's pad positions after it cost
        nothing (one call over the whole buffer computes all `max_length`
        positions). A chunk that would run past the buffer starts earlier,
        at `max_length - chunk`, and rewrites positions already fed with the
        same keys and values.
        """
        batch_size, max_length = ops.shape(token_ids)[0], ops.shape(token_ids)[1]
        width = ops.minimum(chunk, max_length)

        def cond(i, cache):
            return i < start - 1

        def body(i, cache):
            at = ops.minimum(i, max_length - width)
            tokens = ops.slice(token_ids, [0, at], [batch_size, width])
            _, cache = self.call_with_cache(tokens, cache, at)
            return i + width, cache

        _, cache = ops.while_loop(cond, body, (ops.convert_to_tensor(0), cache))
        return cache

    def _generation_inputs(self, inputs):
        name = type(self).__name__
        key = self.generation_prompt_key
        input_names = sorted(self.input)  # zoo models take a dict of inputs
        if not isinstance(inputs, dict):
            if input_names != [key]:
                raise ValueError(
                    f"{name}.generate takes a dict with keys {input_names}; "
                    f"got {type(inputs).__name__}."
                )
            inputs = {key: inputs}
        unknown = sorted(set(inputs) - set(input_names))
        if unknown:
            raise ValueError(
                f"{name}.generate got unknown inputs {unknown}; "
                f"the model takes {input_names}."
            )
        inputs = {k: np.asarray(v) for k, v in inputs.items()}
        if key not in inputs:
            start_id = getattr(self, "start_token_id", None)
            others = [v for k, v in inputs.items() if k != key]
            if start_id is None or not others:
                raise ValueError(f"{name}.generate needs the prompt input {key!r}.")
            batch_size = others[0].shape[0]
            inputs[key] = np.full((batch_size, 1), start_id, dtype="int32")
        missing = sorted(set(input_names) - set(inputs))
        if missing:
            raise ValueError(
                f"{name}.generate is missing inputs {missing}; "
                f"the model takes {input_names}."
            )
        batch_sizes = {k: v.shape[0] if v.ndim else None for k, v in inputs.items()}
        if len(set(batch_sizes.values())) != 1:
            raise ValueError(
                f"{name}.generate: inputs disagree on the batch size: {batch_sizes}."
            )
        for k, v in inputs.items():
            if v.ndim != 2 or not np.issubdtype(v.dtype, np.integer):
                raise ValueError(
                    f"{name}.generate: input {k!r} must be a 2D integer array "
                    f"(batch, length); got shape {v.shape} and dtype {v.dtype}."
                )
        return {k: v.astype("int32") for k, v in inputs.items()}

    @property
    def generation_vocabulary_size(self):
        """The number of token ids the model scores (its logits' last axis)."""
        vocab_size = getattr(self, "vocabulary_size", None)
        if vocab_size is None:
            vocab_size = self.outputs[0].shape[-1]
        return int(vocab_size)

    # === Public building blocks of `generate` (as keras-hub's CausalLM) ===

    def make_sampler(
        self, sampler="greedy", temperature=1.0, k=5, p=0.9, num_beams=4, seed=None
    ):
        """A new keras-hub sampler, checked against this model.

        Args:
            sampler: `"greedy"`, `"top_k"`, `"top_p"`, `"beam"` or a
                `keras_hub.samplers.Sampler` instance (returned as is).
            temperature, k, p, num_beams, seed: as in `generate`.

        Returns:
            A `keras_hub.samplers.Sampler`.

        Raises:
            ValueError: an unknown sampler or an argument out of range.
        """
        _, factory = _sampler_spec(
            type(self).__name__,
            sampler,
            temperature,
            k,
            p,
            num_beams,
            seed,
            self.generation_vocabulary_size,
        )
        return factory()

    def make_generate_function(
        self, sampler, stop_token_ids=None, use_cache=True, jit_compile=None
    ):
        """The decoding loop of `generate` for one sampler, as a function.

        `fn(other_inputs, token_ids, start, prompt_mask=None)` takes the
        model's other inputs (dict of `(B, ...)` int tensors; `{}` for a
        language model), the token buffer `(B, max_length)` (right-padded
        prompts, pad id the model's `pad_token_id`, 0 by default), the first
        position to generate (int32 scalar: the shortest prompt's length) and
        optionally the `(B, max_length)` bool mask of prompt tokens (default:
        non-pad ids, and position 0 always), and returns the token ids
        `(B, max_length)`. It is made of TensorFlow ops
        only, so it can be traced into a SavedModel signature
        (`keras_seq.export` does that).

        Args:
            sampler: a `keras_hub.samplers.Sampler` (see `make_sampler`).
            stop_token_ids: optional tuple of ids that finish a row; the
                positions after it are pad (0).
            use_cache: feed one token per step through the cache, or rerun
                the model on the whole prefix.
            jit_compile: `None` returns the plain function (to trace into
                another graph); `True`/`False` returns it as a `tf.function`
                compiled with or without XLA.

        Raises:
            ValueError: `use_cache=True` on a model whose class does not
                implement `build_cache` and `call_with_cache`.
        """
        missing = [
            method
            for method in ("build_cache", "call_with_cache")
            if not callable(getattr(self, method, None))
        ]
        if use_cache and missing:
            raise ValueError(
                f"{type(self).__name__} does not implement {missing} (the cache "
                "contract of zoo.generation.GenerationMixin): generate with "
                "use_cache=False, or implement them."
            )
        fn = _generate_step_fn(
            weakref.ref(self),
            sampler,
            None if stop_token_ids is None else tuple(stop_token_ids),
            use_cache,
            getattr(self, "pad_token_id", 0),
        )
        if jit_compile is None:
            return fn
        return tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)


def _generate_step_fn(model_ref, sampler, stop_token_ids, use_cache, pad_id=0):
    """The generation function for one sampler setup, to compile."""

    # Its loops are `ops.while_loop`s already: AutoGraph has nothing to convert
    # (and warns that it cannot, because of the closure).
    @tf.autograph.experimental.do_not_convert
    def generate_step(other_inputs, token_ids, start, prompt_mask=None):
        # A weak reference: the compiled function, kept in a dict weakly keyed
        # by the model, must not keep the model alive.
        model = model_ref()
        key = model.generation_prompt_key
        if prompt_mask is None:
            prompt_mask = _prompt_mask(token_ids, pad_id)
        if use_cache:
            cache = model.build_cache({**other_inputs, key: token_ids})
            cache = model._prefill(token_ids, cache, start)
        else:
            cache = ()

        def next_logits(prompt, state, index):
            model_cache, others = state
            if use_cache:
                # Feed the previous token; its logits predict position index.
                rows = ops.shape(prompt)[0]  # batch * beams in beam search
                last = ops.slice(prompt, [0, index - 1], [rows, 1])
                logits, model_cache = model.call_with_cache(
                    last, model_cache, index - 1
                )
                logits = ops.squeeze(logits, axis=1)
            else:
                logits = model({**others, key: prompt}, training=False)
                logits = ops.take(logits, index - 1, axis=1)
            logits = _mask_pad_logit(ops.cast(logits, "float32"), pad_id)
            return logits, None, (model_cache, others)

        tokens = sampler(
            next=next_logits,
            prompt=token_ids,
            cache=(cache, other_inputs),
            index=start,
            mask=prompt_mask,
            stop_token_ids=stop_token_ids,
            model=model,
        )
        if stop_token_ids:
            tokens = _pad_after_stop(tokens, stop_token_ids, prompt_mask)
        return tokens

    return generate_step


def _prompt_mask(token_ids, pad_id=0):
    """True at prompt tokens of a right-padded buffer: ids other than `pad_id`,
    and position 0 (always a real token, even the pad id)."""
    first = ops.equal(ops.cumsum(ops.ones_like(token_ids), axis=1), 1)
    if pad_id is None:
        return ops.ones_like(first)
    return ops.logical_or(ops.not_equal(token_ids, pad_id), first)


def _check_prompt(name, key, prompt, vocab_size, pad_id=0, prompt_mask=None):
    """Returns the prompt lengths (right padding with `pad_id`).

    The first token is always real (T5 checkpoints start decoding from the
    pad id 0); `pad_id=None` (a model whose every id is a real token, like a
    GPT-2 checkpoint's) makes every position a prompt token, unless
    `prompt_mask` (bool, the prompt's shape) marks the prompt's tokens.
    """
    if prompt.shape[1] == 0:
        raise ValueError(f"{name}.generate: the prompt {key!r} is empty.")
    if prompt.min() < 0 or prompt.max() >= vocab_size:
        raise ValueError(
            f"{name}.generate: prompt ids must be in [0, {vocab_size}); got "
            f"values in [{prompt.min()}, {prompt.max()}]."
        )
    if prompt_mask is not None:
        present = np.asarray(prompt_mask).astype(bool)
        if present.shape != prompt.shape:
            raise ValueError(
                f"{name}.generate: prompt_mask has shape {present.shape}, the "
                f"prompt {key!r} {prompt.shape}."
            )
        present = present.copy()
    elif pad_id is None:
        present = np.ones(prompt.shape, bool)
    else:
        present = prompt != pad_id
    present[:, 0] = True  # the first token is real even if it is the pad id
    lengths = present.sum(axis=1)
    # Right padding: every row is `length` tokens then only pad ids.
    right_padded = np.arange(prompt.shape[1])[None, :] < lengths[:, None]
    if not np.array_equal(present, right_padded):
        rows = np.nonzero((present != right_padded).any(axis=1))[0].tolist()
        raise ValueError(
            f"{name}.generate: prompts must be right-padded (the pad id "
            f"{pad_id} or a False prompt_mask inside a prompt is not allowed); "
            f"rows {rows} of {key!r} are not."
        )
    if lengths.min() == 0:
        rows = np.nonzero(lengths == 0)[0].tolist()
        raise ValueError(
            f"{name}.generate: every prompt needs at least one token (e.g. a "
            f"start id); rows {rows} of {key!r} are empty."
        )
    return lengths


def _check_max_length(name, max_length, lengths, model):
    if not isinstance(max_length, (int, np.integer)) or isinstance(max_length, bool):
        raise ValueError(
            f"{name}.generate: max_length must be an int; got {max_length!r}."
        )
    if max_length <= lengths.max():
        raise ValueError(
            f"{name}.generate: max_length={max_length} leaves no room after the "
            f"longest prompt ({lengths.max()} tokens)."
        )
    limit = getattr(model, "max_sequence_length", None)
    if limit is not None and max_length > limit:
        raise ValueError(
            f"{name}.generate: max_length={max_length} exceeds the model's "
            f"max_sequence_length={limit}."
        )
    return int(max_length)


def _check_stop_ids(name, stop_token_ids, vocab_size):
    if stop_token_ids is None:
        return None
    if isinstance(stop_token_ids, (int, np.integer)):
        stop_token_ids = [stop_token_ids]
    ids = tuple(int(i) for i in stop_token_ids)
    bad = [i for i in ids if not 0 < i < vocab_size]
    if bad or not ids:
        raise ValueError(
            f"{name}.generate: stop_token_ids must be non-empty ids in "
            f"[1, {vocab_size}) (0 is the pad id); got {list(stop_token_ids)}."
        )
    return ids


def _sampler_spec(name, sampler, temperature, k, p, num_beams, seed, vocab_size):
    """Returns (a hashable key for the compiled function, a sampler factory)."""
    if isinstance(sampler, keras_hub.samplers.Sampler):
        unsupported = (
            keras_hub.samplers.ContrastiveSampler,
            keras_hub.samplers.SpeculativeSampler,
        )
        if isinstance(sampler, unsupported):
            raise ValueError(
                f"{name}.generate does not support {type(sampler).__name__} "
                "(it needs hidden states or a draft model)."
            )
        if seed is not None:
            raise ValueError(
                f"{name}.generate: a sampler instance owns its seed; pass "
                f"seed={seed} to {type(sampler).__name__} instead."
            )
        return ("instance", id(sampler)), lambda: sampler
    if sampler not in SAMPLERS:
        raise ValueError(
            f"{name}.generate: unknown sampler {sampler!r}; use one of {SAMPLERS} "
            "or a keras_hub.samplers.Sampler instance."
        )
    if not temperature > 0:
        raise ValueError(
            f"{name}.generate: temperature must be > 0; got {temperature}."
        )
    samplers = keras_hub.samplers
    if sampler == "greedy":
        return ("greedy", temperature), lambda: samplers.GreedySampler(
            temperature=temperature
        )
    if sampler == "top_k":
        if not isinstance(k, (int, np.integer)) or not 0 < k <= vocab_size:
            raise ValueError(
                f"{name}.generate: k must be an int in [1, {vocab_size}]; got {k!r}."
            )
        return ("top_k", temperature, int(k)), lambda: samplers.TopKSampler(
            k=int(k), seed=seed, temperature=temperature
        )
    if sampler == "top_p":
        if not 0 < p <= 1:
            raise ValueError(f"{name}.generate: p must be in (0, 1]; got {p!r}.")
        return ("top_p", temperature, float(p)), lambda: samplers.TopPSampler(
            p=float(p), seed=seed, temperature=temperature
        )
    if not isinstance(num_beams, (int, np.integer)) or num_beams < 1:
        raise ValueError(
            f"{name}.generate: num_beams must be a positive int; got {num_beams!r}."
        )
    return ("beam", temperature, int(num_beams)), lambda: samplers.BeamSampler(
        num_beams=int(num_beams), temperature=temperature
    )


def seed_sampler(sampler, seed):
    """Restarts `sampler`'s random stream at `seed` (int or int tensor).

    Samplers without randomness (greedy, beam) are left as they are.
    """
    generator = getattr(sampler, "seed_generator", None)
    if generator is not None:
        state = generator.state
        seed = ops.cast(seed, state.dtype)
        state.assign(ops.stack([seed, ops.zeros_like(seed)]))


def _mask_pad_logit(logits, pad_id=0):
    """Sets the logit of the pad id to -1e9: it is never generated."""
    if pad_id is None:
        return logits
    vocab_ids = ops.arange(ops.shape(logits)[-1])
    return ops.where(ops.expand_dims(vocab_ids == pad_id, 0), -1e9, logits)


def _pad_after_stop(tokens, stop_token_ids, prompt_mask):
    """Replaces the tokens after each row's first generated stop id by 0."""
    ids = ops.convert_to_tensor(stop_token_ids, dtype=tokens.dtype)
    is_stop = ops.any(ops.expand_dims(tokens, -1) == ids, axis=-1)
    is_stop = ops.cast(ops.logical_and(is_stop, ops.logical_not(prompt_mask)), "int32")
    after_stop = (ops.cumsum(is_stop, axis=-1) - is_stop) > 0
    return ops.where(after_stop, ops.zeros_like(tokens), tokens)


__all__ = ["SAMPLERS", "GenerationMixin", "seed_sampler"]
