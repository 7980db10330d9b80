"""`train(config)`: dataset -> zoo model -> fit -> run directory, resumable.

The run directory (`keras_seq.training.run_dir` owns its layout) holds, when a
run ends: `config.json`, `checkpoints/`, `logs/`, `tokenizer/`, `model.keras`,
`metrics.json` and `export/N/`, a verified SavedModel written by the same code
as `keras-seq-export` (`keras_seq.export.export_saved_model`).

Everything is checked before anything is written: the flags, the preset with
its overrides (the model is built), the sequence length against the model's
positions, that every split gives at least one batch, and what the run
directory already holds. Rules for a `model_dir` that holds a run:

- the same run (model, preset, overrides, dataset, tokenizer, sequence length,
  batch size, optimizer settings, seed) resumes from its latest checkpoint;
  with more `steps` it continues training, and the new model is exported as
  the next `export/N`; a finished run with nothing missing is left as is;
- anything else (other settings, fewer steps) is refused (`TrainError`)
  unless `overwrite=True`, which removes the old run's files first;
- a non-empty directory that holds no run (no `config.json`) is never used.

A latest checkpoint that cannot be read is reported and the previous one is
used (`Checkpointer.restore`); a missing or truncated `model.keras` of a
finished run is rebuilt from the checkpoint.

Every `validate_every` steps the model is evaluated on (the first
`validation_batches` batches of) the validation split with the family's
metrics (`keras_seq.training.best_keeper.BestKeeper`); the weights with the
best `validation_metric` (default: the family's `validation_metrics` fact) are
kept in `best/` and are the ones saved to `model.keras` and exported;
`early_stopping=N` stops training after N evaluations without improvement.
A resume (SIGKILL included) restores the best weights so far too.

`init_from` is a `.keras` / `.weights.h5` file to start from (same model), or
a pretrained checkpoint (`is_checkpoint`: a keras-hub preset or Hugging Face
directory, a keras-hub preset name, a `kaggle://` / `hf://` handle): then the
model is the checkpoint's (`zoo.from_preset`, `model` defaults to its family;
a BERT classifier gets a new head for the data's classes), the hyperparameters
are the checkpoint's with `overrides` applied (`preset` is not used), and the
tokenizer is the checkpoint's (`keras_seq.data.KerasHubTokenizer`, saved in
`tokenizer/`, so evaluate, generate and export read it like any run's).
Unset settings are then the family's `fine_tuning_defaults` (e.g. BERT's
learning rate 5e-5), not those for training the preset from scratch.

`strategy="mirrored"` and `"multi_worker"` (one process per worker, `TF_CONFIG`
sets the cluster) train with `distributed_loop.fit`; only the chief writes to
`model_dir`, the other workers write to a temporary directory.
"""

import dataclasses
import json
import math
import os
import shutil

import keras
import tensorflow as tf

import zoo
from keras_seq import data as seq_data
from keras_seq.diagnostics import GradientMonitor
from keras_seq.training import distributed_loop, evaluation, run_dir, tasks
from keras_seq.training.best_keeper import DIRECTIONS, BestKeeper
from keras_seq.training.checkpointer import Checkpointer
from keras_seq.training.schedules import SCHEDULES, make_schedule

# What identifies a run: a model_dir holding another run is not reused.
IDENTITY = (
    "model",
    "preset",
    "overrides",
    "dataset",
    "tokenizer",
    "validation_fraction",
)
# What else its checkpoints depend on: a resume must keep these too.
RESUME_KEYS = IDENTITY + (
    "vocabulary_size",
    "sequence_length",
    "model_hyperparameters",
    "batch_size",
    "learning_rate",
    "schedule",
    "warmup_steps",
    "clipnorm",
    "weight_decay",
    "seed",
    "mixed_precision",
    "init_from",
    "validation_metric",
)
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# Time axes are padded to a multiple of this under XLA (few compiled shapes).
PAD_MULTIPLE = 16
# Steps between the batch-level scalars in logs/ (training curves).
LOG_EVERY = 10
TOKENIZERS = ("auto", "char", "byte", "word_piece", "sentence_piece")
TEXT_TASKS = ("language_model", "classification", "seq2seq")


# The train tool's own defaults of the settings a family may choose per preset
# (`zoo.family.TRAINING_SETTINGS`, its `training_defaults` fact).
TOOL_DEFAULTS = {
    "steps": 600,
    "batch_size": 128,
    "learning_rate": 3e-3,
    "schedule": "constant",
    "weight_decay": 0.0,
}


class TrainError(ValueError):
    """A bad run request; the message names the flag or file at fault."""


@dataclasses.dataclass
class TrainConfig:
    """One training run (the train tool's flags)."""

    model: str = "seq2seq_attention"  # None: the init_from checkpoint's family
    preset: str = "tiny"
    overrides: dict = dataclasses.field(default_factory=dict)
    dataset: str = "date_normalization"
    data_dir: str = None
    model_dir: str = "runs/seq2seq_attention-date_normalization"
    # None: the family's `training_defaults` for the preset (its
    # `fine_tuning_defaults` from a pretrained checkpoint), else TOOL_DEFAULTS.
    steps: int = None
    epochs: int = None
    batch_size: int = None
    learning_rate: float = None
    schedule: str = None
    warmup_steps: int = None
    clipnorm: float = 1.0
    weight_decay: float = None
    seed: int = 0
    mixed_precision: bool = False
    jit_compile: bool = True
    strategy: str = "default"
    init_from: str = None
    checkpoint_every: int = 250
    tokenizer: str = "auto"
    vocabulary_size: int = None
    sequence_length: int = None
    export: bool = True
    gradient_stats_every: int = 0
    validate_every: int = 100  # 0: no validation (the last weights are kept)
    validation_batches: int = 8  # 0: the whole validation split
    validation_metric: str = "auto"
    early_stopping: int = None
    validation_fraction: float = None  # local files: default 0.1
    overwrite: bool = False

    def identity(self):
        return {k: getattr(self, k) for k in IDENTITY}

    def with_defaults(self):
        """A copy whose unset settings (`None`) are the family's
        `training_defaults` for the preset (its `fine_tuning_defaults` when
        `init_from` is a pretrained checkpoint), else `TOOL_DEFAULTS`."""
        chosen = {}
        if self.model in zoo.list_models():
            family = zoo.family(self.model)
            if is_checkpoint(self.init_from):
                chosen = family.fine_tuning_default()
            else:
                chosen = family.training_default(self.preset)
        unset = {
            key: chosen.get(key, default)
            for key, default in TOOL_DEFAULTS.items()
            if getattr(self, key) is None
        }
        if self.sequence_length is None and "sequence_length" in chosen:
            # Else the family's default_sequence_length (_sequence_length).
            unset["sequence_length"] = chosen["sequence_length"]
        return dataclasses.replace(self, **unset)


def train(config, log=print):
    """Runs (or resumes) `config`; returns the metrics dict.

    Raises:
        TrainError: a bad request (unknown model, preset, dataset, a dataset
            that does not fit the model, bad overrides, too little data, a
            model_dir of another run, ...); nothing in `model_dir` is changed
            then.
        keras_seq.training.checkpointer.NonFiniteLossError: the loss became
            NaN or Inf; the last good checkpoint is kept.
    """
    config = _with_checkpoint_family(config)
    config = config.with_defaults()
    _validate(config)
    try:
        # Before any TF op: multi-worker collectives are set up at startup.
        strategy = _strategy(config.strategy)
    except ValueError as e:
        raise TrainError(f"--strategy={config.strategy}: {e}") from e
    # `mixed_precision` sets Keras's global dtype policy for the run; the
    # caller's policy is restored afterwards.
    policy = keras.config.dtype_policy()
    try:
        with distributed_loop.output_dir(strategy, config.model_dir) as out_dir:
            return _train(config, strategy, out_dir, log)
    finally:
        keras.config.set_dtype_policy(policy)


def _train(config, strategy, out_dir, log):
    """`train` on this process, writing to `out_dir` (`model_dir` unless this
    is a non-chief worker)."""
    # First: in eager mode `tf.random.set_seed` drops kernel-owned resources,
    # such as the SentencePiece model of a tokenizer made before it.
    keras.utils.set_random_seed(config.seed)
    try:
        dataset = seq_data.load_dataset(
            config.dataset, config.data_dir, **_dataset_options(config)
        )
        seq_data.check_fit(config.model, dataset)
    except seq_data.DataError as e:
        raise TrainError(f"--dataset={config.dataset}: {e}") from e
    previous = _previous_run(config)
    reuse = previous is not None and not config.overwrite
    checkpoint = is_checkpoint(config.init_from)
    if checkpoint:
        checkpoint_hparams = _checkpoint_hparams(config)
        tokenizer = _checkpoint_tokenizer(
            config, checkpoint_hparams, previous if reuse else None
        )
        # The checkpoint's hyperparameters; the data sets the classes only.
        hparams = dict(checkpoint_hparams)
        # Keys the family's presets have (num_classes) count, too.
        known = {**zoo.preset_config(config.model, config.preset), **hparams}
        extra = tasks.data_overrides(known, dataset, tokenizer)
        hparams.update({k: v for k, v in extra.items() if k not in CHECKPOINT_FIXED})
    else:
        tokenizer = _tokenizer(config, dataset, previous if reuse else None)
        # The model's hyperparameters, resolved once: preset, data, overrides.
        hparams = zoo.preset_config(config.model, config.preset)
        hparams.update(tasks.data_overrides(hparams, dataset, tokenizer))
    hparams.update(config.overrides)
    _check_vocabulary(config, hparams, dataset, tokenizer)
    length = _sequence_length(config, dataset, hparams)
    split = "test" if "test" in dataset.splits else "validation"
    _check_enough_data(config, dataset, tokenizer, length, split)
    steps = _total_steps(config, dataset, tokenizer, length)
    record = {
        **{k: v for k, v in dataclasses.asdict(config).items() if k != "overwrite"},
        "sequence_length": length,
        "model_hyperparameters": hparams,
        "steps": steps,
    }
    fresh = not reuse or _check_resume(config, previous, record)

    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    with strategy.scope():
        if checkpoint:
            model = _from_checkpoint(config, hparams, checkpoint_hparams)
        else:
            model = _build(config, hparams)
        if config.init_from and not checkpoint:
            _init_from(model, config.init_from)
        optimizer = _optimizer(config, steps)
        tasks.compile_model(
            model,
            config.model,
            dataset.task,
            optimizer,
            jit_compile=config.jit_compile,
            pad_id=_pad_id(tokenizer),
        )
        optimizer.build(model.trainable_variables)
    train_batches = tasks.select_inputs(
        _batches(config, dataset, tokenizer, "train", length),
        tasks.model_inputs(model),
    )
    if config.jit_compile:
        train_batches = tasks.pad_to_multiple(
            train_batches,
            PAD_MULTIPLE,
            limit=tasks.max_sequence_length(config.model, hparams),
            pad_id=_pad_id(tokenizer),
        )
    start = 0
    if not fresh:
        try:
            # Every worker resumes from the chief's checkpoints.
            start = Checkpointer(
                run_dir.path(config.model_dir, run_dir.CHECKPOINTS), model, 1
            ).restore(log=log)
        except ValueError as e:
            raise TrainError(f"--model_dir={config.model_dir}: {e}") from e
    try:
        distributed_loop.check_same_step(strategy, start)
    except ValueError as e:
        raise TrainError(f"--model_dir={config.model_dir}: {e}") from e
    distributed_loop.barrier(strategy)  # every worker read model_dir: now write

    # Written once the run is known to go ahead: a refused run changes nothing.
    if fresh and previous is not None and out_dir == config.model_dir:
        log(f"--overwrite: removing the previous run in {config.model_dir}.")
        run_dir.clear(out_dir)
    if fresh or start < steps:
        run_dir.write_json(out_dir, run_dir.CONFIG, record)
    if tokenizer is not None and not os.path.isdir(
        run_dir.path(out_dir, run_dir.TOKENIZER)
    ):
        seq_data.save_tokenizer(
            tokenizer, run_dir.path(out_dir, run_dir.TOKENIZER), overwrite=True
        )
    checkpointer = Checkpointer(
        run_dir.path(out_dir, run_dir.CHECKPOINTS), model, config.checkpoint_every
    )
    if 0 < start < steps:
        log(f"Resuming from step {start} of {steps}.")
    verbose = 2 if os.environ.get("CI") else 1
    keeper = _best_keeper(
        config,
        model,
        dataset,
        tokenizer,
        hparams,
        length,
        out_dir,
        # A progress bar is redrawn in place: validation lines start below it.
        (lambda line: log(f"\n{line}")) if verbose == 1 else log,
    )
    if keeper is not None:
        chief_best = run_dir.path(config.model_dir, run_dir.BEST)
        if out_dir != config.model_dir and os.path.isdir(chief_best):
            # Every worker resumes from the chief's best so far, so that all
            # make the same early-stopping decisions.
            shutil.copytree(chief_best, keeper.directory, dirs_exist_ok=True)
        try:
            keeper.resume(start)
        except ValueError as e:
            raise TrainError(f"--model_dir={config.model_dir}: {e}") from e
        if keeper.stopped_early_at is not None and start < steps:
            log(f"Stopped early at step {keeper.stopped_early_at}: not training.")
    trained = start < steps and (keeper is None or keeper.stopped_early_at is None)
    if trained:
        callbacks = [
            checkpointer,
            *([keeper] if keeper is not None else []),
            # Keras records the epoch summaries only at a step its batch
            # summaries are recorded at: the last step must be one.
            keras.callbacks.TensorBoard(
                run_dir.path(out_dir, run_dir.LOGS),
                update_freq=math.gcd(steps, LOG_EVERY),
            ),
        ]
        if config.gradient_stats_every:
            callbacks.append(
                GradientMonitor(
                    next(iter(train_batches)),
                    os.path.join(out_dir, "logs", "gradients"),
                    every=config.gradient_stats_every,
                )
            )
        if config.strategy == "default":
            model.fit(
                train_batches.skip(start),
                epochs=1,
                steps_per_epoch=steps - start,
                shuffle=False,  # the pipeline shuffles, with the run's seed
                callbacks=callbacks,
                verbose=verbose,
            )
        else:  # Keras 3 fit: no multi-worker, and see distributed_loop
            distributed_loop.fit(
                model, train_batches.skip(start), steps - start, callbacks, verbose, log
            )
        checkpointer.check()
        checkpointer.save()
    best_step = keeper.restore_best(model) if keeper is not None else None
    write_model = trained or run_dir.model_problem(out_dir) is not None
    metrics_path = run_dir.path(out_dir, run_dir.METRICS)
    if write_model or not os.path.isfile(metrics_path):
        metrics = _evaluate(config, model, dataset, tokenizer, split, length)
        metrics.update(steps=checkpointer.step, split=split)
        if keeper is not None and keeper.best is not None:
            metrics.update(
                best_step=best_step,
                validation_metric=keeper.metric,
                validation=keeper.best["metrics"],
                stopped_early_at=keeper.stopped_early_at,
            )
        run_dir.write_atomic(out_dir, run_dir.MODEL, model.save)
        run_dir.write_json(out_dir, run_dir.METRICS, metrics)
    else:
        with open(metrics_path, encoding="utf-8") as f:
            metrics = json.load(f)
    export_base = run_dir.path(out_dir, run_dir.EXPORT)
    exported = run_dir.export_versions(export_base)
    chief = out_dir == config.model_dir
    if config.export and chief and (write_model or not exported):
        _export(out_dir, run_dir.next_export_version(export_base))
    elif not write_model and not trained:
        log(
            f"The run in {config.model_dir} already finished step {start}; "
            "nothing to do (more --steps continue it, --overwrite starts over)."
        )
    return metrics


def _evaluate(config, model, dataset, tokenizer, split, length):
    try:
        return evaluation.evaluate(
            # Keras 3 evaluate does not run under multi-worker either.
            distributed_loop.local_copy(model)
            if config.strategy == "multi_worker"
            else model,
            config.model,
            dataset,
            tokenizer,
            split,
            config.batch_size,
            sequence_length=length,
            jit_compile=config.jit_compile,
        )
    except ValueError as e:
        raise TrainError(f"--dataset={config.dataset}: {e}") from e


def _export(model_dir, version):
    """`model_dir/export/<version>`: what `keras-seq-export` writes (verified)."""
    from keras_seq.export import ExportError, export_saved_model, load_run

    try:
        export_saved_model(
            load_run(model_dir), run_dir.path(model_dir, run_dir.EXPORT), version
        )
    except ExportError as e:
        raise TrainError(
            f"export to {run_dir.path(model_dir, run_dir.EXPORT)}/{version} "
            f"failed (model.keras and metrics.json are written): {e}"
        ) from e


def _validate(config):
    """Checks that need no data and no TensorFlow work."""

    def bad(flag, why):
        raise TrainError(f"--{flag}={getattr(config, flag)!r}: {why}")

    if config.model not in zoo.list_models():
        bad("model", f"unknown model; known models: {zoo.list_models()}")
    if is_checkpoint(config.init_from):
        # The checkpoint's hyperparameters are what overrides replace.
        try:
            _, preset = zoo.preset_hyperparameters(config.init_from)
            zoo.preset_hyperparameters(config.init_from, **config.overrides)
        except ValueError as e:
            raise TrainError(f"--init_from={config.init_from}: {e}") from e
    else:
        try:
            preset = zoo.preset_config(config.model, config.preset)
            zoo.preset_config(config.model, config.preset, **config.overrides)
        except ValueError as e:
            raise TrainError(str(e)) from e
    for key, value in config.overrides.items():
        why = _type_mismatch(preset.get(key), value)
        if why:
            raise TrainError(
                f"--override={key}={value!r}: {why} ({config.model} preset "
                f"{config.preset!r} has {key}={preset[key]!r})."
            )
    if config.epochs is None and (config.steps is None or config.steps < 1):
        bad("steps", "must be >= 1")
    if config.epochs is not None and config.epochs < 1:
        bad("epochs", "must be >= 1")
    for flag in ("batch_size", "checkpoint_every"):
        if getattr(config, flag) < 1:
            bad(flag, "must be >= 1")
    for flag in ("validate_every", "validation_batches"):
        if getattr(config, flag) < 0:
            bad(flag, "must be >= 0")
    if config.early_stopping is not None and config.early_stopping < 1:
        bad("early_stopping", "must be >= 1")
    if config.validation_metric != "auto" and config.validation_metric not in (
        DIRECTIONS
    ):
        bad("validation_metric", f"must be 'auto' or one of {sorted(DIRECTIONS)}")
    if config.validation_fraction is not None:
        if not 0.0 < config.validation_fraction < 1.0:
            bad("validation_fraction", "must be in (0, 1)")
        if config.dataset.partition(":")[0] not in LOCAL_PREFIXES:
            bad(
                "validation_fraction",
                f"only for local files ({', '.join(LOCAL_PREFIXES)}:PATH), "
                f"not --dataset={config.dataset}",
            )
    if not config.learning_rate > 0:
        bad("learning_rate", "must be > 0")
    if not config.weight_decay >= 0:
        bad("weight_decay", "must be >= 0 (0: Adam, no decay)")
    if config.schedule not in SCHEDULES:
        bad("schedule", f"must be one of {list(SCHEDULES)}")
    if config.strategy not in STRATEGIES:
        bad("strategy", f"must be one of {list(STRATEGIES)}")
    if config.tokenizer not in TOKENIZERS:
        bad("tokenizer", f"must be one of {list(TOKENIZERS)}")
    if config.gradient_stats_every < 0:
        bad("gradient_stats_every", "must be >= 0 (0: off)")
    if config.gradient_stats_every and config.strategy != "default":
        bad("gradient_stats_every", "needs --strategy=default")
    if (
        config.init_from
        and not os.path.isfile(config.init_from)
        and not is_checkpoint(config.init_from)
    ):
        bad(
            "init_from",
            "no such file (nor a checkpoint directory with a config.json, a "
            "keras-hub preset name, or a kaggle:// / hf:// handle)",
        )
    if is_checkpoint(config.init_from) and config.tokenizer != "auto":
        bad(
            "tokenizer",
            "a pretrained checkpoint (--init_from) brings its own tokenizer; "
            "leave --tokenizer=auto",
        )
    try:
        run_dir.check_writable(config.model_dir)
    except run_dir.RunDirError as e:
        raise TrainError(str(e)) from e


LOCAL_PREFIXES = ("text", "pairs", "labeled")


def _dataset_options(config):
    if config.validation_fraction is None:
        return {}
    return {"validation_fraction": config.validation_fraction}


def _best_keeper(config, model, dataset, tokenizer, hparams, length, out_dir, log):
    """The validation callback of this run, or None (no validation split, or
    `validate_every=0`)."""
    if config.validate_every == 0:
        return None
    if "validation" not in dataset.splits:
        log(f"{config.dataset} has no validation split: the last weights are kept.")
        return None
    metric, mode = zoo.validation_metric(config.model, dataset.task)
    if config.validation_metric != "auto" and config.validation_metric != metric:
        metric, mode = config.validation_metric, DIRECTIONS[config.validation_metric]
    batches = evaluation.eval_batches(
        model,
        config.model,
        dataset,
        tokenizer,
        "validation",
        config.batch_size,
        max_batches=config.validation_batches or None,
        sequence_length=length,
    )

    def evaluate(model):
        if config.strategy == "multi_worker":  # Keras 3 evaluate cannot run there
            model = distributed_loop.local_copy(model)
        # Unpadded batches (padding would change the loss of models whose
        # output carries no mask), so without XLA, which would compile each
        # shape; the train step was compiled before this runs.
        jit_compile, model.jit_compile = model.jit_compile, False
        try:
            # Teacher-forced exact match equals greedy decoding's: no decoding.
            return evaluation.evaluate_batches(
                model, config.model, dataset.task, batches, tokenizer, decode=False
            )
        finally:
            model.jit_compile = jit_compile

    fixes = ["fewer --steps or --early_stopping=N"]
    if "dropout" in hparams:
        more = min(0.5, round(float(hparams["dropout"]) + 0.2, 2))
        fixes.append(f"more dropout (--override=dropout={more})")
    fixes.append("a smaller --preset")
    return BestKeeper(
        run_dir.path(out_dir, run_dir.BEST),
        evaluate,
        metric,
        mode,
        every=config.validate_every,
        patience=config.early_stopping,
        suggestion=", ".join(fixes[:-1]) + " or " + fixes[-1],
        summary_dir=os.path.join(run_dir.path(out_dir, run_dir.LOGS), "validation"),
        log=log,
    )


def _type_mismatch(default, value):
    """Why `value` cannot replace the preset's `default`, or `None`."""
    if default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "expected an integer"
    if isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "expected a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "expected a string"
    return None


def _previous_run(config):
    """The config of the run `model_dir` holds, or `None` if it is empty."""
    if run_dir.is_run(config.model_dir):
        try:
            return run_dir.read_config(config.model_dir)
        except run_dir.RunDirError as e:
            raise TrainError(f"--model_dir={config.model_dir}: {e}") from e
    if os.path.isdir(config.model_dir) and os.listdir(config.model_dir):
        raise TrainError(
            f"--model_dir={config.model_dir} is not empty and holds no keras-seq "
            "run (no config.json); it is left alone: use a new --model_dir."
        )
    return None


def _normal(value):
    """`value` as it reads back from config.json (tuples are lists, ...)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _check_resume(config, previous, record):
    """Whether a run in `model_dir` is replaced (`True`) or resumed (`False`).

    Raises `TrainError` when it may be neither (see the module docstring).
    """
    if config.overwrite:
        return True
    changed = {}
    for key in RESUME_KEYS:
        theirs, ours = previous.get(key), _normal(record.get(key))
        if key not in previous and ours == _normal(TOOL_DEFAULTS.get(key)):
            continue  # a run recorded before the setting existed
        if theirs != ours:
            if isinstance(theirs, dict) and isinstance(ours, dict):
                keys = sorted(set(theirs) | set(ours))
                keys = [k for k in keys if theirs.get(k) != ours.get(k)]
                theirs = {k: theirs.get(k) for k in keys}
                ours = {k: ours.get(k) for k in keys}
            changed[key] = f"{theirs!r} -> {ours!r}"
    if previous.get("steps") is not None and record["steps"] < previous["steps"]:
        changed["steps"] = f"{previous['steps']} -> {record['steps']} (fewer)"
    if changed:
        what = "; ".join(f"{k}: {v}" for k, v in changed.items())
        raise TrainError(
            f"--model_dir={config.model_dir} holds another run ({what}); resume "
            "with its flags (more --steps continue it), pass --overwrite to "
            "replace it, or use a new --model_dir."
        )
    return False


def _tokenizer(config, dataset, previous):
    """The run's tokenizer, in memory (saved once the run goes ahead)."""
    if previous is not None and all(
        previous.get(k) == _normal(getattr(config, k))
        for k in ("dataset", "tokenizer", "vocabulary_size")
    ):
        saved = run_dir.load_tokenizer(config.model_dir)
        if saved is not None:
            return saved
    if dataset.task not in TEXT_TASKS:
        if config.tokenizer != "auto":
            raise TrainError(
                f"--tokenizer={config.tokenizer}: dataset {config.dataset!r} "
                f"(task {dataset.task}) holds ids or numbers, not text; it takes "
                "no tokenizer (leave --tokenizer=auto)."
            )
        return None
    if config.tokenizer == "auto":
        # The data's own vocabulary, else characters.
        tokenizer = seq_data.dataset_tokenizer(dataset)
        if tokenizer is not None:
            return tokenizer
        kind = "char"
    else:
        kind = config.tokenizer
    try:
        return seq_data.train_tokenizer(kind, dataset, config.vocabulary_size)
    except (seq_data.DataError, ValueError) as e:
        raise TrainError(f"--tokenizer={config.tokenizer}: {e}") from e


def _check_vocabulary(config, hparams, dataset, tokenizer):
    """The model's vocabulary must hold every id the data gives it."""
    if "vocabulary_size" not in hparams:
        return
    if tokenizer is not None:
        needed = int(tokenizer.vocabulary_size)
    elif dataset.vocabulary is not None:
        needed = len(dataset.vocabulary)
    else:
        return
    if hparams["vocabulary_size"] < needed:
        raise TrainError(
            f"--override=vocabulary_size={hparams['vocabulary_size']}: the data "
            f"has {needed} token ids, so the {config.model} model needs "
            f"vocabulary_size >= {needed}."
        )


def _sequence_length(config, dataset, hparams):
    """The sequence length the pipeline uses: the flag, else the family's
    default, never more than the model's positions take."""
    limit = tasks.max_sequence_length(config.model, hparams)
    where = f"the {config.model} model (preset {config.preset!r})"
    if dataset.task == "tagging":  # fixed-length id sequences
        spec = dataset.split("train").element_spec["inputs"]
        width = spec.shape[0]
        if limit and width and width > limit:
            raise TrainError(
                f"--dataset={config.dataset}: its sequences are {width} long; "
                f"{where} takes at most {limit} positions "
                f"(--override=max_sequence_length={width} makes room)."
            )
        return config.sequence_length
    if dataset.task == "regression":
        return config.sequence_length
    # Seq2seq examples get </s> (encoder, targets) or <s> (decoder) added.
    room = limit - 1 if limit and dataset.task == "seq2seq" else limit
    if config.sequence_length is not None:
        if room and config.sequence_length > room:
            extra = " (one more for <s> or </s>)" if room != limit else ""
            raise TrainError(
                f"--sequence_length={config.sequence_length}: {where} takes at "
                f"most {limit} positions, so --sequence_length <= {room}{extra}; "
                f"or --override=max_sequence_length=N."
            )
        return config.sequence_length
    default = zoo.family(config.model).default_sequence_length
    if default is None:
        return room
    return min(default, room) if room else default


def _check_enough_data(config, dataset, tokenizer, length, eval_split):
    """One-line errors, before anything is written, for data too short for one
    training batch or one evaluation example."""
    for split, full in (("train", True), (eval_split, False)):
        try:
            batches = seq_data.make_batches(
                config.model,
                dataset,
                split,
                tokenizer=tokenizer,
                batch_size=config.batch_size,
                sequence_length=length,
                shuffle=False,
                drop_remainder=full,
                cache=False,
            )
            empty = next(iter(batches.take(1)), None) is None
        except (seq_data.DataError, tf.errors.OpError) as e:
            first = str(e).strip().splitlines()[0]
            raise TrainError(f"--dataset={config.dataset}: {first}") from e
        if empty:
            what = f"a batch of --batch_size={config.batch_size}" if full else "one"
            at = f" at sequence length {length}" if length else ""
            raise TrainError(
                f"--dataset={config.dataset}: the {split} split is too small "
                f"for {what} example{'s' if full else ''}{at}; use more data"
                f"{' or a smaller --batch_size' if full else ''}"
                f"{' or --sequence_length' if length else ''}."
            )


def _build(config, hparams):
    """The model, or `TrainError` with the family's own message."""
    try:
        return zoo.build(config.model, config.preset, **hparams)
    except (ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        flag = (
            " ".join(f"--override={k}={v}" for k, v in config.overrides.items())
            or f"--model={config.model}"
        )
        raise TrainError(f"{flag}: {first}") from e


def _batches(config, dataset, tokenizer, split, length):
    batches = seq_data.make_batches(
        config.model,
        dataset,
        split,
        tokenizer=tokenizer,
        batch_size=config.batch_size,
        sequence_length=length,
        seed=config.seed,
        drop_remainder=True,
        # Language models see new cuts of the text every epoch.
        random_offsets=split == "train",
    )
    return batches.repeat()


def _total_steps(config, dataset, tokenizer, length):
    if config.epochs is None:
        return config.steps
    one_epoch = seq_data.make_batches(
        config.model,
        dataset,
        "train",
        tokenizer=tokenizer,
        batch_size=config.batch_size,
        sequence_length=length,
        drop_remainder=True,
        shuffle=False,
    )
    per_epoch = int(one_epoch.reduce(0, lambda n, _: n + 1))
    return max(1, per_epoch * config.epochs)


def _optimizer(config, steps):
    """Adam, or AdamW (decoupled weight decay, Loshchilov & Hutter, 2019)
    when `weight_decay > 0` (biases and norms are not decayed)."""
    schedule = make_schedule(
        config.schedule, config.learning_rate, steps, config.warmup_steps
    )
    if not config.weight_decay:
        return keras.optimizers.Adam(schedule, clipnorm=config.clipnorm)
    optimizer = keras.optimizers.AdamW(
        schedule, weight_decay=config.weight_decay, clipnorm=config.clipnorm
    )
    optimizer.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
    return optimizer


# Variables AdamW leaves alone, as BERT's and GPT's code does: biases and the
# scales and offsets of layer norms (RMS norm: `scale`); kernels and
# embeddings are decayed.
NO_WEIGHT_DECAY = ["bias", "gamma", "beta", "scale"]


def _strategy(name):
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return distributed_loop.multi_worker_strategy()
    if name == "tpu":
        return _tpu_strategy()
    return tf.distribute.get_strategy()


def _tpu_strategy():
    """`TPUStrategy` on the TPU that `TPUClusterResolver` finds (TPU_NAME, a
    TPU VM's local chips); trained with the custom loop like `mirrored`."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"no TPU could be reached ({first})") from e
    return tf.distribute.TPUStrategy(resolver)


# Hyperparameters a checkpoint fixes (the data does not change them).
CHECKPOINT_FIXED = ("vocabulary_size", "start_token_id", "end_token_id")
WEIGHT_SUFFIXES = (".keras", ".h5")


def is_checkpoint(init_from):
    """Whether `init_from` names a pretrained checkpoint, not a weights file.

    A checkpoint is a directory (it must hold `config.json`), a `kaggle://` or
    `hf://` handle, or a bare keras-hub preset name (`"gpt2_base_en"`: no
    path separator, no `.keras` / `.h5` suffix, not a file).
    """
    if not init_from:
        return False
    init_from = os.fspath(init_from)
    if os.path.isfile(init_from):
        return False
    if os.path.isdir(init_from) or "://" in init_from:
        return True
    return os.sep not in init_from and not init_from.endswith(WEIGHT_SUFFIXES)


def _with_checkpoint_family(config):
    """`config` with `model` set to the checkpoint's family when it is None;
    `TrainError` when it names another family than the checkpoint's."""
    if not is_checkpoint(config.init_from):
        if config.model is None:
            raise TrainError("--model is required (no --init_from checkpoint).")
        return config
    family, _ = _checkpoint_family(config)
    if config.model is None:
        return dataclasses.replace(config, model=family)
    if config.model != family:
        raise TrainError(
            f"--init_from={config.init_from}: a {family} checkpoint; it "
            f"fine-tunes as --model={family}, not --model={config.model}."
        )
    return config


def _checkpoint_family(config):
    try:
        return zoo.preset_hyperparameters(config.init_from)
    except ValueError as e:
        raise TrainError(f"--init_from={config.init_from}: {e}") from e


def _checkpoint_hparams(config):
    _, hparams = _checkpoint_family(config)
    return hparams


def _checkpoint_tokenizer(config, hparams, previous):
    """The checkpoint's tokenizer (`KerasHubTokenizer`), the saved one on a
    resume; its start / end ids are the model's where it has them (a T5
    checkpoint's decoder starts from the pad id 0)."""
    if previous is not None and previous.get("init_from") == config.init_from:
        saved = run_dir.load_tokenizer(config.model_dir)
        if saved is not None:
            return saved
    try:
        layer = zoo.tokenizer_from_preset(config.init_from)
        specials = {
            ours: hparams[key]
            for key, ours in (("start_token_id", "bos"), ("end_token_id", "eos"))
            if hparams.get(key) is not None
        }
        return seq_data.KerasHubTokenizer(layer, **specials)
    except (ValueError, seq_data.DataError) as e:
        raise TrainError(f"--init_from={config.init_from}: {e}") from e


def _from_checkpoint(config, hparams, checkpoint_hparams):
    """The checkpoint's model with `hparams`' changes (a classifier head, ...)."""
    changes = {k: v for k, v in hparams.items() if checkpoint_hparams.get(k) != v}
    try:
        return zoo.from_preset(config.init_from, **changes)
    except (ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TrainError(f"--init_from={config.init_from}: {first}") from e


def _pad_id(tokenizer):
    """The id batches are padded with: the tokenizer's pad id, else 0."""
    if tokenizer is None:
        return 0
    return int(tokenizer.special_ids["pad"])


def _init_from(model, path):
    source = (
        keras.saving.load_model(path, compile=False)
        if path.endswith(".keras")
        else None
    )
    try:
        if source is None:
            model.load_weights(path)
        else:
            model.set_weights(source.get_weights())
    except ValueError as e:
        raise TrainError(
            f"--init_from={path}: weights do not fit the model: {e}"
        ) from e
