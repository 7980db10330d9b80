"""A custom training loop for `tf.distribute` strategies, multi-worker included.

Keras 3 `model.fit` cannot train under `tf.distribute.MultiWorkerMirroredStrategy`
(keras-team/keras#20585), and under `MirroredStrategy` it differs from
single-device training: it clips each replica's gradient before the
all-reduce, averages the replicas' mean losses even when they hold different
numbers of unmasked tokens, and opens an extra dataset iterator for its
symbolic build, so a seeded `reshuffle_each_iteration` dataset is read in
another order. `fit` here makes one step on a global batch equal one
single-device step on that batch (replica r holds N_r of the N positions the
compiled loss averages over, and its mean loss is mean_r):

    L       = sum_r N_r mean_r / N            the global-batch loss
    g       = sum_r (N_r / N) grad mean_r     its gradient
    theta  <- optimizer(clip(g))              the same update on every replica

Each replica hands the optimizer its own term of g, scaled by the clipping
factor of the summed g, and the optimizer's all-reduce adds them: an
embedding's `IndexedSlices` gradient then holds the same rows as on one
device (Keras' Adam squares those rows one by one).

A multi-worker run is configured by the `TF_CONFIG` environment variable. The
chief (task `chief`, else `worker` 0) writes to `model_dir`; the other workers
write the same files to a temporary directory that is deleted afterwards, the
standard TensorFlow pattern, so that every worker runs the same collective
ops (checkpoint saves included).

Example:
    On one device; a multi-worker run builds and compiles the model in
    `multi_worker_strategy().scope()` and trains the same way.

    >>> import keras, numpy as np, tensorflow as tf
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> data = tf.data.Dataset.from_tensors((np.ones((4, 3)), np.ones((4, 1))))
    >>> losses = fit(model, data.repeat(), steps=2, verbose=0, log=lambda _: None)
    >>> len(losses)
    2

References:
    - TensorFlow, "Custom training loop with Keras and
      MultiWorkerMirroredStrategy",
      https://www.tensorflow.org/tutorials/distribute/multi_worker_with_ctl
"""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

SUM = tf.distribute.ReduceOp.SUM


def multi_worker_strategy():
    """`MultiWorkerMirroredStrategy` from `TF_CONFIG`, with clear errors.

    Must run before TensorFlow runs any op in this process. Without
    `TF_CONFIG` the strategy trains on this process alone.

    Raises:
        ValueError: `TF_CONFIG` is malformed, or TensorFlow already started.
    """
    raw = os.environ.get("TF_CONFIG")
    if raw:
        _check_tf_config(raw)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as e:
        raise ValueError(
            "MultiWorkerMirroredStrategy must be created before TensorFlow runs "
            f"any op; start a fresh process ({e})"
        ) from e


def _check_tf_config(raw):
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not JSON: {e}") from e
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(f"TF_CONFIG needs 'cluster' and 'task' objects, got {raw!r}")
    kind, index = task.get("type"), task.get("index")
    hosts = cluster.get(kind)
    if not isinstance(hosts, list) or not isinstance(index, int):
        raise ValueError(f"TF_CONFIG task {task} is not in cluster {sorted(cluster)}")
    if not 0 <= index < len(hosts):
        raise ValueError(
            f"TF_CONFIG task index {index} is out of range for the "
            f"{len(hosts)} '{kind}' hosts"
        )


def task(strategy):
    """`(task_type, task_id)` of this process (`(None, None)` if local)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Whether this process writes the run's files: task `chief`, else worker 0."""
    task_type, task_id = task(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


@contextlib.contextmanager
def output_dir(strategy, model_dir):
    """Yields where this process writes: `model_dir` on the chief, else a
    temporary directory that is deleted on exit."""
    if is_chief(strategy):
        yield model_dir
        return
    task_type, task_id = task(strategy)
    directory = tempfile.mkdtemp(prefix=f"keras-seq-{task_type}{task_id}-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def barrier(strategy):
    """Returns once every worker has reached this call (no-op on one worker)."""
    if task(strategy)[0] is not None:
        one = tf.constant(1.0)
        done = strategy.run(lambda: _replica_context().all_reduce(SUM, one))
        for value in strategy.experimental_local_results(done):
            value.numpy()  # waits: eager collectives may run asynchronously


def check_same_step(strategy, step):
    """Raises `ValueError` unless every worker passes the same `step`."""
    if task(strategy)[0] is None:
        return
    step = tf.reshape(tf.cast(step, "int64"), [1])
    steps = strategy.experimental_local_results(
        strategy.run(lambda: _replica_context().all_gather(step, axis=0))
    )[0]
    low, high = int(tf.reduce_min(steps)), int(tf.reduce_max(steps))
    if low != high:
        raise ValueError(
            f"the workers restored steps {low} to {high}: every worker must "
            "read the chief's checkpoints (one model_dir on a shared filesystem)"
        )


def fit(model, batches, steps, callbacks=(), verbose=1, log=print):
    """Trains `model` for `steps` steps under the strategy it was built in.

    Args:
        model: a compiled `keras.Model` created in a strategy's scope; its
            optimizer is built.
        batches: `tf.data.Dataset` of global batches `(x, y[, sample_weight])`;
            each worker reads the same batches in the same order and keeps
            its replicas' slices of each. It must hold `steps` batches.
        steps: number of steps to train.
        callbacks: Keras callbacks, called as by `model.fit` with a one-epoch
            training of `steps` batches; `logs` holds the global `loss`.
            Setting `model.stop_training` stops after the current step.
        verbose: 0 silent, 1 progress bar, 2 one line at the end.
        log: where the final weights' digest line goes.

    Returns:
        The list of global losses, one per step trained.

    Raises:
        ValueError: the replicas start from different steps (workers that do
            not see the same checkpoints), or the optimizer clips by value.
    """
    strategy = model.distribute_strategy
    replicas = strategy.num_replicas_in_sync
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    if optimizer.clipvalue:
        raise ValueError(
            "distributed_loop.fit: clipvalue is not supported (use clipnorm or "
            f"global_clipnorm), got clipvalue={optimizer.clipvalue}"
        )
    if not model.optimizer.built:  # e.g. the loss-scale wrapper of a built one
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
    check_same_step(strategy, model.optimizer.iterations)
    options = tf.data.Options()
    # Every worker reads all global batches and keeps its replicas' slices.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    iterator = iter(
        strategy.experimental_distribute_dataset(batches.with_options(options))
    )
    step_fn = _train_step(model, replicas, _clip_factors(optimizer))

    @tf.function(autograph=False)
    def train_step(iterator):
        per_replica = strategy.run(step_fn, args=(next(iterator),))
        return strategy.reduce(SUM, per_replica, axis=None)

    callbacks = keras.callbacks.CallbackList(
        list(callbacks),
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=1,
        steps=steps,
    )
    model.stop_training = False
    losses = []
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    with _own_clipping_off(optimizer):
        for batch in range(steps):
            callbacks.on_train_batch_begin(batch)
            losses.append(float(train_step(iterator)))
            callbacks.on_train_batch_end(batch, {"loss": losses[-1]})
            if model.stop_training:
                break
    logs = {"loss": losses[-1]} if losses else {}
    callbacks.on_epoch_end(0, logs)
    callbacks.on_train_end(logs)
    task_type, task_id = task(strategy)
    who = "local" if task_type is None else f"{task_type} {task_id}"
    log(
        f"Trained to step {int(model.optimizer.iterations.numpy())} on {replicas} "
        f"replicas ({who}); weights sha256 {weights_digest(model)}"
    )
    return losses


def _train_step(model, replicas, clip_factors):
    """The per-replica step: global-batch loss, clipped summed gradient."""
    optimizer = model.optimizer
    variables = model.trainable_variables

    def local_gradients(x, y, sample_weight):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            # compute_loss divides by the replica count under a strategy.
            mean = model.compute_loss(x, y, y_pred, sample_weight, training=True)
            mean = mean * replicas  # mean_r
            scale = optimizer.scale_loss(tf.constant(1.0))  # loss scale, or 1
            grads = tape.gradient(mean * scale, variables)
        return mean, _loss_positions(y_pred), scale, grads

    if model.jit_compile:
        local_gradients = tf.function(local_gradients, jit_compile=True)

    def step(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        mean, count, scale, grads = local_gradients(x, y, sample_weight)
        context = _replica_context()
        share = count / context.all_reduce(SUM, count)  # N_r / sum_r N_r
        grads = [_scaled(g, share) for g in grads]  # sum_r of these: scale * g
        factors = clip_factors(context, grads, scale)
        # The optimizer sums the replicas' gradients (as in `model.fit`).
        optimizer.apply_gradients(
            zip([_scaled(g, f) for g, f in zip(grads, factors)], variables)
        )
        return mean * share  # L_r

    return step


def _clip_factors(optimizer):
    """`clip_factors(context, grads, scale)`: one factor per gradient that
    clips the replicas' summed gradient g as single-device training does.

    `tf.clip_by_norm(g, c) = g * c / max(|g|, c)`, and likewise for the global
    norm, so scaling each replica's share by that factor clips their sum
    (`model.fit` under a strategy instead clips each share on its own). An
    `IndexedSlices` norm counts repeated indices apart, as `tf.clip_by_norm`
    does. A non-finite g gives NaN factors on every replica, so that loss
    scaling skips the step everywhere.
    """
    clipnorm, global_clipnorm = optimizer.clipnorm, optimizer.global_clipnorm

    def clip_factors(context, grads, scale):
        if not (clipnorm or global_clipnorm):
            finite = tf.cast(tf.reduce_all([_finite(g) for g in grads]), "float32")
            finite = context.all_reduce(SUM, finite) == context.num_replicas_in_sync
            return [tf.where(finite, 1.0, float("nan"))] * len(grads)
        summed = context.all_reduce(SUM, grads)
        finite = tf.reduce_all([_finite(g) for g in summed])
        squares = [_sum_of_squares(g) / tf.square(scale) for g in summed]
        if clipnorm:
            factors = [clipnorm / tf.maximum(tf.sqrt(q), clipnorm) for q in squares]
        else:
            norm = tf.sqrt(tf.add_n(squares))
            factors = [global_clipnorm / tf.maximum(norm, global_clipnorm)] * len(grads)
        return [tf.where(finite, f, float("nan")) for f in factors]

    return clip_factors


@contextlib.contextmanager
def _own_clipping_off(optimizer):
    """Turns the optimizer's clipping off while `fit` traces its step: it
    would clip each replica's share of the gradient, not their sum."""
    saved = optimizer.clipnorm, optimizer.global_clipnorm
    optimizer.clipnorm = optimizer.global_clipnorm = None
    try:
        yield
    finally:
        optimizer.clipnorm, optimizer.global_clipnorm = saved


def _replica_context():
    return tf.distribute.get_replica_context()


def _values(g):
    return g.values if isinstance(g, tf.IndexedSlices) else g


def _finite(g):
    return tf.reduce_all(tf.math.is_finite(_values(g)))


def _sum_of_squares(g):
    return tf.reduce_sum(tf.square(tf.cast(_values(g), "float32")))


def _loss_positions(y_pred):
    """How many positions the compiled loss averages over on this replica.

    Keras' `sum_over_batch_size` divides by the unmasked positions when the
    output carries a mask, else by every position (all but the last axis).
    Multi-output models count 1 per replica (Keras' plain replica mean).
    """
    outputs = tf.nest.flatten(y_pred)
    if len(outputs) != 1:
        return tf.constant(1.0)
    mask = getattr(outputs[0], "_keras_mask", None)
    if mask is not None:
        return tf.reduce_sum(tf.cast(mask, "float32"))
    return tf.cast(tf.reduce_prod(tf.shape(outputs[0])[:-1]), "float32")


def _scaled(g, factor):
    factor = tf.cast(factor, g.dtype)
    if isinstance(g, tf.IndexedSlices):
        return tf.IndexedSlices(g.values * factor, g.indices, g.dense_shape)
    return g * factor


def weights_digest(model):
    """sha256 of the model's weights, to compare replicas and saved models."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def local_copy(model):
    """`model` rebuilt outside any strategy, with its weights and compile
    settings (Keras 3 `evaluate` does not run under multi-worker)."""
    copy = model.__class__.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    copy.compile_from_config(model.get_compile_config())
    return copy
