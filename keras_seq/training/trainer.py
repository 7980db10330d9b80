"""`train(config)`: dataset -> zoo model -> fit -> model_dir, resumable.

`model_dir` holds, when a run ends:

    config.json     the resolved run (flags and model hyperparameters)
    checkpoints/    model + optimizer every `checkpoint_every` steps
    best/           the weights with the best validation metric so far, and
                    `best.json`: every validation evaluation
    logs/           TensorBoard (`logs/validation`: the validation metrics)
    tokenizer/      the tokenizer the model reads (export embeds it)
    model.keras     the trained model: the weights of the best validation
    metrics.json    the evaluation on the test split, and `best_step`
    export/1/       a SavedModel in TF Serving layout (the same weights)

Every `validate_every` steps the model is evaluated on (the first
`validation_batches` batches of) the validation split with the family's
metrics (`keras_seq.training.best_keeper.BestKeeper`); the weights with the
best `validation_metric` (default: the family's `validation_metrics` fact) are the
ones saved and exported, and `early_stopping=N` stops training after N
evaluations without improvement.

Running the same command again after a crash (SIGKILL included) restores the
latest checkpoint and the best weights so far, and trains the remaining steps
only.

`strategy="mirrored"` and `"multi_worker"` (one process per worker, `TF_CONFIG`
sets the cluster) train with `distributed_loop.fit`; only the chief writes to
`model_dir`, the other workers write to a temporary directory.
"""

import dataclasses
import json
import math
import os
import shutil
import uuid

import keras
import tensorflow as tf

import zoo
from keras_seq import data as seq_data
from keras_seq.diagnostics import GradientMonitor
from keras_seq.training import distributed_loop, evaluation, tasks
from keras_seq.training.best_keeper import DIRECTIONS, BestKeeper
from keras_seq.training.checkpointer import Checkpointer
from keras_seq.training.schedules import make_schedule

# What identifies a run: a model_dir holding another run is not reused.
IDENTITY = (
    "model",
    "preset",
    "overrides",
    "dataset",
    "tokenizer",
    "validation_fraction",
)
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# Time axes are padded to a multiple of this under XLA (few compiled shapes).
PAD_MULTIPLE = 16
# Steps between the batch-level scalars in logs/ (training curves).
LOG_EVERY = 10
TOKENIZERS = ("auto", "char", "byte", "word_piece", "sentence_piece")


class TrainError(ValueError):
    """A bad run request; the message names the flag or file at fault."""


@dataclasses.dataclass
class TrainConfig:
    """One training run (the train tool's flags)."""

    model: str = "seq2seq_attention"
    preset: str = "tiny"
    overrides: dict = dataclasses.field(default_factory=dict)
    dataset: str = "date_normalization"
    data_dir: str = None
    model_dir: str = "runs/seq2seq_attention-date_normalization"
    steps: int = 600
    epochs: int = None
    batch_size: int = 128
    learning_rate: float = 3e-3
    schedule: str = "constant"
    warmup_steps: int = None
    clipnorm: float = 1.0
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

    def identity(self):
        return {k: getattr(self, k) for k in IDENTITY}


def train(config, log=print):
    """Runs (or resumes) `config`; returns the metrics dict.

    Raises:
        TrainError: a bad request (unknown model, preset, dataset, a dataset
            that does not fit the model, a model_dir of another run, ...);
            nothing in `model_dir` is changed then.
        keras_seq.training.checkpointer.NonFiniteLossError: the loss became
            NaN or Inf; the last good checkpoint is kept.
    """
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
    try:
        dataset = seq_data.load_dataset(
            config.dataset, config.data_dir, **_dataset_options(config)
        )
        seq_data.check_fit(config.model, dataset)
    except seq_data.DataError as e:
        raise TrainError(f"--dataset={config.dataset}: {e}") from e
    previous = _check_model_dir(config)
    distributed_loop.barrier(strategy)  # every worker read model_dir: now write
    tokenizer = _tokenizer(config, dataset, previous is not None, out_dir)

    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    hparams = zoo.preset_config(config.model, config.preset)
    hparams.update(tasks.data_overrides(hparams, dataset, tokenizer))
    hparams.update(config.overrides)
    steps = _total_steps(config, dataset, tokenizer)

    with strategy.scope():
        model = zoo.build(config.model, config.preset, **_only_changed(config, hparams))
        if config.init_from:
            _init_from(model, config.init_from)
        optimizer = keras.optimizers.Adam(
            make_schedule(
                config.schedule, config.learning_rate, steps, config.warmup_steps
            ),
            clipnorm=config.clipnorm,
        )
        tasks.compile_model(
            model, config.model, dataset.task, optimizer, jit_compile=config.jit_compile
        )
        optimizer.build(model.trainable_variables)
    train_batches = tasks.select_inputs(
        _batches(config, dataset, tokenizer, "train"), tasks.model_inputs(model)
    )
    if config.jit_compile:
        train_batches = tasks.pad_to_multiple(train_batches, PAD_MULTIPLE)
    checkpointer = Checkpointer(
        os.path.join(out_dir, "checkpoints"), model, config.checkpoint_every
    )
    try:
        # Every worker resumes from the chief's checkpoints.
        start = Checkpointer(
            os.path.join(config.model_dir, "checkpoints"), model, 1
        ).restore()
        distributed_loop.check_same_step(strategy, start)
    except ValueError as e:
        raise TrainError(f"--model_dir={config.model_dir}: {e}") from e
    # Written once the run is known to go ahead: a refused resume changes nothing.
    _write_json(
        out_dir,
        "config.json",
        {
            **dataclasses.asdict(config),
            "model_hyperparameters": hparams,
            "steps": steps,
        },
    )
    if start:
        log(f"Resuming from step {start} of {steps}.")
    verbose = 2 if os.environ.get("CI") else 1
    keeper = _best_keeper(
        config,
        model,
        dataset,
        tokenizer,
        hparams,
        out_dir,
        # A progress bar is redrawn in place: validation lines start below it.
        (lambda line: log(f"\n{line}")) if verbose == 1 else log,
    )
    if keeper is not None:
        chief_best = os.path.join(config.model_dir, "best")
        if out_dir != config.model_dir and os.path.isdir(chief_best):
            # Every worker resumes from the chief's best so far, so that all
            # make the same early-stopping decisions.
            shutil.copytree(chief_best, keeper.directory, dirs_exist_ok=True)
        try:
            keeper.resume(start)
        except ValueError as e:
            raise TrainError(f"--model_dir={config.model_dir}: {e}") from e
        if keeper.stopped_early_at is not None:
            log(f"Stopped early at step {keeper.stopped_early_at}: not training.")
    if start < steps and (keeper is None or keeper.stopped_early_at is None):
        callbacks = [
            checkpointer,
            *([keeper] if keeper is not None else []),
            # Keras records the epoch summaries only at a step its batch
            # summaries are recorded at: the last step must be one.
            keras.callbacks.TensorBoard(
                os.path.join(out_dir, "logs"), update_freq=math.gcd(steps, LOG_EVERY)
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
    split = "test" if "test" in dataset.splits else "validation"
    metrics = evaluation.evaluate(
        # Keras 3 evaluate does not run under multi-worker either.
        distributed_loop.local_copy(model)
        if config.strategy == "multi_worker"
        else model,
        config.model,
        dataset,
        tokenizer,
        split,
        config.batch_size,
        sequence_length=config.sequence_length,
    )
    metrics.update(steps=checkpointer.step, split=split)
    if keeper is not None and keeper.best is not None:
        metrics.update(
            best_step=best_step,
            validation_metric=keeper.metric,
            validation=keeper.best["metrics"],
            stopped_early_at=keeper.stopped_early_at,
        )
    _write_atomic(out_dir, "model.keras", model.save)
    _write_json(out_dir, "metrics.json", metrics)
    if config.export:
        _write_atomic(
            os.path.join(out_dir, "export"),
            "1",
            lambda path: model.export(path, format="tf_saved_model", verbose=False),
        )
    return metrics


def _validate(config):
    def bad(flag, why):
        raise TrainError(f"--{flag}={getattr(config, flag)!r}: {why}")

    if config.model not in zoo.list_models():
        bad("model", f"unknown model; known models: {zoo.list_models()}")
    try:
        zoo.preset_config(config.model, config.preset, **config.overrides)
    except ValueError as e:
        raise TrainError(str(e)) from e
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
    if config.strategy not in STRATEGIES:
        bad("strategy", f"must be one of {list(STRATEGIES)}")
    if config.tokenizer not in TOKENIZERS:
        bad("tokenizer", f"must be one of {list(TOKENIZERS)}")
    if config.gradient_stats_every < 0:
        bad("gradient_stats_every", "must be >= 0 (0: off)")
    if config.gradient_stats_every and config.strategy != "default":
        bad("gradient_stats_every", "needs --strategy=default")
    if config.init_from and not os.path.exists(config.init_from):
        bad("init_from", "no such file")


LOCAL_PREFIXES = ("text", "pairs", "labeled")


def _dataset_options(config):
    if config.validation_fraction is None:
        return {}
    return {"validation_fraction": config.validation_fraction}


def _best_keeper(config, model, dataset, tokenizer, hparams, out_dir, log):
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
        sequence_length=config.sequence_length,
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
        os.path.join(out_dir, "best"),
        evaluate,
        metric,
        mode,
        every=config.validate_every,
        patience=config.early_stopping,
        suggestion=", ".join(fixes[:-1]) + " or " + fixes[-1],
        summary_dir=os.path.join(out_dir, "logs", "validation"),
        log=log,
    )


def _check_model_dir(config):
    """Returns the previous run's config if this is a resume, else None."""
    path = os.path.join(config.model_dir, "config.json")
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise TrainError(
                f"--model_dir={config.model_dir}: unreadable {path}: {e}"
            ) from e
        theirs = {k: previous.get(k) for k in IDENTITY}
        if theirs != config.identity():
            diff = {k: theirs[k] for k in IDENTITY if theirs[k] != getattr(config, k)}
            raise TrainError(
                f"--model_dir={config.model_dir} holds another run ({diff}); "
                "use a new --model_dir or the same flags to resume."
            )
        return previous
    if os.path.isdir(config.model_dir) and os.listdir(config.model_dir):
        raise TrainError(
            f"--model_dir={config.model_dir} is not empty and holds no keras-seq run."
        )
    return None


def _tokenizer(config, dataset, resume, out_dir):
    directory = os.path.join(config.model_dir, "tokenizer")
    if resume and os.path.exists(directory):
        return seq_data.load_tokenizer(directory)
    tokenizer = None
    if config.tokenizer == "auto":
        tokenizer = seq_data.dataset_tokenizer(dataset)
        kind = "char" if dataset.task in ("language_model", "classification") else None
    else:
        kind = config.tokenizer
    if tokenizer is None and kind is not None:
        tokenizer = seq_data.train_tokenizer(kind, dataset, config.vocabulary_size)
    if tokenizer is not None:
        seq_data.save_tokenizer(
            tokenizer, os.path.join(out_dir, "tokenizer"), overwrite=True
        )
    return tokenizer


def _batches(config, dataset, tokenizer, split):
    batches = seq_data.make_batches(
        config.model,
        dataset,
        split,
        tokenizer=tokenizer,
        batch_size=config.batch_size,
        sequence_length=config.sequence_length,
        seed=config.seed,
        drop_remainder=True,
    )
    return batches.repeat()


def _total_steps(config, dataset, tokenizer):
    if config.epochs is None:
        return config.steps
    one_epoch = seq_data.make_batches(
        config.model,
        dataset,
        "train",
        tokenizer=tokenizer,
        batch_size=config.batch_size,
        sequence_length=config.sequence_length,
        drop_remainder=True,
        shuffle=False,
    )
    per_epoch = int(one_epoch.reduce(0, lambda n, _: n + 1))
    return max(1, per_epoch * config.epochs)


def _only_changed(config, hparams):
    preset = zoo.preset_config(config.model, config.preset)
    return {k: v for k, v in hparams.items() if preset.get(k) != v}


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


def _write_json(directory, name, value):
    _write_atomic(directory, name, lambda path: _dump(path, value))


def _dump(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True, default=str)


def _write_atomic(directory, name, write):
    """`write(tmp_path)` then rename to `directory/name`: never half-written."""
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, name)
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(directory, f".{stem}.tmp-{uuid.uuid4().hex[:8]}{ext}")
    try:
        write(tmp)
        if os.path.isdir(final) and not os.path.isdir(tmp):
            shutil.rmtree(final)
        if os.path.isdir(tmp) and os.path.exists(final):
            old = f"{final}.old-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        elif os.path.exists(tmp):
            os.remove(tmp)
