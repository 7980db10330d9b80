"""Scalars from TensorBoard event files, for pictures without TensorBoard."""

import glob
import os

import numpy as np
import tensorflow as tf


def read_scalars(log_dir):
    """Every scalar under `log_dir`, by tag and run.

    A run is a subdirectory holding event files (`train`, `validation`,
    `gradients`, as `keras-seq-train` writes them). Both TF2 summaries
    (tensors) and TF1 `simple_value`s are read; a step logged twice (a
    resumed run) keeps its last value.

    Args:
        log_dir: a TensorBoard log directory (a run's `logs/`).

    Returns:
        `{tag: {run: (steps, values)}}`, numpy arrays sorted by step.

    Raises:
        ValueError: no event file under `log_dir`.
    """
    files = sorted(
        glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True)
    )
    if not files:
        raise ValueError(f"{log_dir}: no TensorBoard event files there.")
    points = {}
    for path in files:
        run = os.path.relpath(os.path.dirname(path), log_dir)
        run = "." if run == os.curdir else run
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = _scalar(value)
                if number is not None:
                    points.setdefault(value.tag, {}).setdefault(run, {})[event.step] = (
                        number
                    )
    scalars = {}
    for tag, runs in points.items():
        for run, by_step in runs.items():
            steps = np.array(sorted(by_step))
            values = np.array([by_step[s] for s in steps], np.float64)
            scalars.setdefault(tag, {})[run] = (steps, values)
    return scalars


def _scalar(value):
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":
        plugin = value.metadata.plugin_data.plugin_name
        if plugin and plugin != "scalars":
            return None
        array = tf.make_ndarray(value.tensor)
        if array.ndim == 0 and np.issubdtype(array.dtype, np.number):
            return float(array)
    return None
