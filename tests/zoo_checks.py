"""Shared checks for the zoo's families (used by every `tests/test_zoo_*.py`).

For a family's `tiny` preset and a small synthetic batch:

- `check_config(name, model)`: `get_config` holds the hyperparameters (also as
  attributes) and `from_config` rebuilds the same config.
- `check_fit(model, x, y)`: `fit` on one fixed batch makes the loss go down.
- `check_keras_round_trip(model, x)`: `.keras` save / `load_model(safe_mode=True)`
  gives the same class, config and outputs (and greedy tokens, if
  `generate_inputs` is given).
- `check_saved_model(model, x)`: `model.export` writes a SavedModel that, loaded
  in a process that never imports keras_seq or zoo, gives the same outputs.
- `check_generation(model, inputs, max_length)`: cached == uncached tokens
  (greedy and beam), seeded sampling is reproducible, XLA and plain
  `tf.function` agree, the prompt is kept, pad is never generated, stop tokens
  end rows.
- `check_zoo_model(name, x, y, ...)`: all of the above in one go.
- `count_parameters(name, preset)`: builds a (big) preset without initializing
  its variables (seconds instead of minutes on CPU) and counts its parameters.

Batches: `lm_batch` (token_ids -> next tokens) and `seq2seq_batch`
(encoder/decoder ids -> targets). Pad id 0 everywhere; the last row of each
batch is partly padding so that masks matter.

Example (in a family's test file):

    import zoo_checks  # tests/ is on sys.path under pytest

    def test_tiny_gpt():
        hp = zoo.preset_config("gpt", "tiny")
        x, y = zoo_checks.lm_batch(hp["vocabulary_size"])
        zoo_checks.check_zoo_model(
            "gpt", x, y, generate_inputs={"token_ids": x["token_ids"][:, :3]},
            max_length=10,
        )
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

import zoo
from keras_seq.testing import run_saved_model_in_clean_process

# --------------------------------------------------------------------------
# Synthetic batches.


def lm_batch(vocab_size, batch_size=4, length=12, seed=0, pad=3):
    """Language-model batch: `x = {"token_ids": s[:, :-1]}`, `y = s[:, 1:]`.

    The last row ends with `pad` pad ids (0), which the loss ignores.
    """
    rng = np.random.default_rng(seed)
    seq = rng.integers(1, vocab_size, size=(batch_size, length + 1)).astype("int32")
    if pad:
        seq[-1, -pad:] = 0
    return {"token_ids": seq[:, :-1]}, seq[:, 1:]


def seq2seq_batch(
    vocab_size,
    start_token_id,
    end_token_id=None,
    batch_size=4,
    source_length=10,
    target_length=8,
    seed=0,
):
    """Encoder-decoder batch: the target is the reversed source (teacher forcing).

    Returns `x = {"encoder_token_ids": (B, S), "decoder_token_ids": (B, T)}` and
    `y` `(B, T)`: `decoder_token_ids` is `y` shifted right behind the start id.
    Content ids avoid 0 and the start/end ids; the last row has a shorter
    source and target (padded with 0).
    """
    rng = np.random.default_rng(seed)
    special = {0, start_token_id, end_token_id}
    content = np.array([i for i in range(vocab_size) if i not in special])
    source = rng.choice(content, size=(batch_size, source_length)).astype("int32")
    source[-1, source_length // 2 :] = 0
    body = target_length - (end_token_id is not None)
    target = np.zeros((batch_size, target_length), "int32")
    for row in range(batch_size):
        tokens = source[row][source[row] != 0][::-1][:body]
        if end_token_id is not None:
            tokens = np.append(tokens, end_token_id)
        target[row, : len(tokens)] = tokens
    decoder = np.concatenate(
        [np.full((batch_size, 1), start_token_id, "int32"), target[:, :-1]], axis=1
    )
    decoder[target == 0] = 0  # no decoder inputs past the target's end
    x = {"encoder_token_ids": source, "decoder_token_ids": decoder}
    return x, target


# --------------------------------------------------------------------------
# Checks.


def check_config(name, model, preset="tiny", **overrides):
    """Hyperparameters are in `get_config` and attributes; `from_config` agrees."""
    hparams = zoo.preset_config(name, preset, **overrides)
    config = model.get_config()
    cls = type(model).__name__
    for key, value in hparams.items():
        assert key in config, f"{cls}.get_config() lacks hyperparameter {key!r}"
        assert config[key] == value, (
            f"{cls}.get_config()[{key!r}] is {config[key]!r}, built with {value!r}"
        )
        assert getattr(model, key) == value, (
            f"{cls}.{key} is {getattr(model, key, None)!r}, built with {value!r}"
        )
    clone = type(model).from_config(config)
    assert clone.get_config() == config, f"{cls}.from_config changed the config"
    assert clone.count_params() == model.count_params()
    return clone


def check_fit(
    model,
    x,
    y,
    steps=25,
    learning_rate=1e-2,
    loss=None,
    max_ratio=0.7,
    jit_compile=False,
):
    """Fits `steps` Adam steps on the fixed batch; the loss must fall.

    Args:
        loss: a Keras loss; default sparse categorical cross-entropy on logits,
            ignoring target 0 (pad) when the outputs are per token (3D).
        max_ratio: the last loss must be below `max_ratio` times the first.

    Returns:
        The per-step losses.
    """
    if loss is None:
        per_token = len(model.outputs[0].shape) == 3
        loss = keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=0 if per_token else None
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        jit_compile=jit_compile,
    )
    # One epoch of `steps` batches (cheaper than `steps` one-batch epochs).
    data = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
    losses = []
    history = model.fit(
        data, epochs=1, shuffle=False, verbose=0, callbacks=[_BatchLosses(losses)]
    )
    assert history.history["loss"], "fit ran no step"
    name = type(model).__name__
    assert np.all(np.isfinite(losses)), f"{name}: non-finite losses {losses}"
    assert losses[-1] < max_ratio * losses[0], (
        f"{name}: loss did not go down enough in {steps} steps: "
        f"{losses[0]:.4f} -> {losses[-1]:.4f}"
    )
    return losses


class _BatchLosses(keras.callbacks.Callback):
    """Records the loss after every batch (Keras reports a running mean)."""

    def __init__(self, losses):
        super().__init__()
        self.losses = losses
        self.count = 0
        self.total = 0.0

    def on_train_batch_end(self, batch, logs=None):
        # logs["loss"] is the mean over the epoch so far: recover each batch's.
        mean = float(logs["loss"])
        self.losses.append(mean * (self.count + 1) - self.total)
        self.count += 1
        self.total += self.losses[-1]


def check_keras_round_trip(model, x, atol=1e-5, generate_inputs=None, max_length=None):
    """`.keras` save and `load_model(safe_mode=True)`: same class/config/outputs."""
    expected = _numpy(model(x, training=False))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
    name = type(model).__name__
    assert type(reloaded) is type(model), (
        f"{name} reloaded as {type(reloaded).__name__}"
    )
    assert reloaded.get_config() == model.get_config(), (
        f"{name}: the reloaded config differs"
    )
    _assert_all_close(expected, _numpy(reloaded(x, training=False)), atol, ".keras")
    if generate_inputs is not None:
        before = model.generate(generate_inputs, max_length, jit_compile=False)
        after = reloaded.generate(generate_inputs, max_length, jit_compile=False)
        np.testing.assert_array_equal(
            after, before, err_msg=f"{name}: greedy tokens changed by .keras reload"
        )
    return reloaded


def check_saved_model(model, x, atol=1e-5):
    """`model.export` loads and runs without keras_seq/zoo, with equal outputs."""
    expected = _numpy(model(x, training=False))
    with tempfile.TemporaryDirectory() as tmp:
        export_dir = os.path.join(tmp, "saved_model")
        model.export(export_dir, format="tf_saved_model", verbose=False)
        outputs = run_saved_model_in_clean_process(
            export_dir, {k: np.asarray(v) for k, v in x.items()}
        )
    _assert_all_close(expected, outputs, atol, "SavedModel without keras_seq")


def check_generation(
    model,
    inputs,
    max_length,
    samplers=("greedy", "beam"),
    num_beams=3,
    check_xla=True,
):
    """Generation properties of a family that mixes in `GenerationMixin`.

    - every sampler in `samplers`: the cached loop gives the same tokens as
      recomputing the whole prefix each step (same seed for the random ones;
      greedy and beam by default: beam also checks that the cache is
      reordered with the beams; the random samplers run the same cache code,
      and tests/test_zoo_generation.py checks them on toy models);
    - seeded top-k sampling repeats with the same seed and (at a high
      temperature) changes with another one;
    - greedy tokens are the same with and without XLA (`check_xla`);
    - output shape and dtype; the prompt is kept; ids are in [1, V);
    - a stop token ends a row: pad (0) follows it.

    `inputs` must hold prompts of equal length when "beam" is in `samplers`.
    Generation runs without XLA except in the XLA check (compiles are slow on
    CPU).
    """
    name = type(model).__name__
    key = model.generation_prompt_key
    vocab_size = model.generation_vocabulary_size
    kwargs = dict(k=min(5, vocab_size), p=0.9, num_beams=num_beams, jit_compile=False)

    def generate(**more):
        return model.generate(inputs, max_length, **{**kwargs, **more})

    for sampler in samplers:
        cached = generate(sampler=sampler, seed=1, use_cache=True)
        uncached = generate(sampler=sampler, seed=1, use_cache=False)
        np.testing.assert_array_equal(
            cached,
            uncached,
            err_msg=f"{name}: sampler {sampler!r}: cached != uncached tokens",
        )

    hot = dict(sampler="top_k", k=vocab_size - 1, temperature=10.0)
    first, again, other = (generate(**hot, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(first, again, err_msg=f"{name}: seed 5 twice")
    assert not np.array_equal(first, other), f"{name}: seeds 5 and 6 gave the same"

    greedy = generate()
    if check_xla:
        xla = generate(jit_compile=True)
        np.testing.assert_array_equal(
            xla, greedy, err_msg=f"{name}: greedy tokens differ under XLA"
        )

    prompt = np.asarray(inputs[key]) if key in inputs else None
    batch_size = len(next(iter(inputs.values())))
    if prompt is None:
        prompt = np.full((batch_size, 1), model.start_token_id, "int32")
    lengths = (prompt != 0).sum(axis=1)
    assert first.shape == (batch_size, max_length) and first.dtype == np.int32, (
        f"{name}: generate returned {first.shape} {first.dtype}"
    )
    for row, length in enumerate(lengths):
        np.testing.assert_array_equal(first[row, :length], prompt[row, :length])
        assert first[row, length:].min() >= 1, f"{name}: generated the pad id"
    assert first.max() < vocab_size

    stop_id = int(greedy[0, lengths[0]])  # row 0 stops at its first new token
    stopped = generate(stop_token_ids=[stop_id])
    expected = greedy.copy()
    for row, length in enumerate(lengths):
        hits = np.nonzero(greedy[row, length:] == stop_id)[0]
        if len(hits):
            expected[row, length + hits[0] + 1 :] = 0
    np.testing.assert_array_equal(
        stopped, expected, err_msg=f"{name}: stop_token_ids={[stop_id]}"
    )


def check_zoo_model(
    name,
    x,
    y,
    *,
    preset="tiny",
    overrides=None,
    generate_inputs=None,
    max_length=None,
    fit_kwargs=None,
    generation_kwargs=None,
    atol=1e-5,
):
    """Runs every check above on `zoo.build(name, preset, **overrides)`.

    Args:
        name: the zoo family.
        x, y: a small training batch (inputs dict, targets).
        generate_inputs: prompts for `generate` (generative families only);
            `None` skips the generation checks.
        max_length: the `generate` length.
        fit_kwargs: extra arguments of `check_fit` (steps, learning_rate, ...).
        generation_kwargs: extra arguments of `check_generation`.

    Returns:
        The trained model.
    """
    overrides = dict(overrides or {})
    model = zoo.build(name, preset, **overrides)
    check_config(name, model, preset, **overrides)
    outputs = model(x, training=False)
    assert np.all(np.isfinite(_numpy(outputs))), f"{name}: non-finite outputs"
    check_fit(model, x, y, **(fit_kwargs or {}))
    check_keras_round_trip(model, x, atol=atol)
    check_saved_model(model, x, atol=atol)
    if generate_inputs is not None:
        check_generation(
            model, generate_inputs, max_length, **(generation_kwargs or {})
        )
    return model


def count_parameters(name, preset, **overrides):
    """`zoo.build(name, preset).count_params()` without initializing weights.

    The model is built inside a `keras.StatelessScope` that leaves its
    variables uninitialized: every layer and weight shape exists, but the
    random initializers (most of the cost for 100M+ parameters) never run.
    The model is unusable afterwards; the Keras session is cleared.
    """
    with keras.StatelessScope(initialize_variables=False):
        model = zoo.build(name, preset, **overrides)
    count = model.count_params()
    del model
    keras.utils.clear_session()
    return count


def _numpy(outputs):
    return keras.tree.map_structure(
        lambda t: np.asarray(keras.ops.convert_to_numpy(t)), outputs
    )


def _assert_all_close(expected, actual, atol, what):
    expected = keras.tree.flatten(expected)
    actual = keras.tree.flatten(actual)
    assert len(expected) == len(actual), (
        f"{what}: {len(actual)} outputs, expected {len(expected)}"
    )
    for i, (e, a) in enumerate(zip(expected, actual)):
        np.testing.assert_allclose(
            a, e, atol=atol, rtol=0, err_msg=f"{what}: output {i}"
        )
