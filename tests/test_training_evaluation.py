"""The metrics each task reports, from a train run to keras-seq-evaluate's JSON."""

import math

import pytest

from keras_seq.training.evaluation import evaluate_model_dir
from keras_seq.training.trainer import TrainConfig, train


def _run(tmp_path, **kwargs):
    config = TrainConfig(
        model_dir=str(tmp_path / "run"),
        data_dir=str(tmp_path / "tfds"),
        steps=5,
        batch_size=16,
        jit_compile=False,
        export=False,
        **kwargs,
    )
    train(config, log=lambda *_: None)
    return config.model_dir


def _labeled_file(tmp_path):
    path = tmp_path / "reviews.tsv"
    rows = [
        f"{'good great fine' if i % 2 else 'bad awful poor'} {i}\t{i % 2}"
        for i in range(60)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return f"labeled:{path}"


@pytest.mark.parametrize(
    "model, dataset, keys",
    [
        ("rnn_classifier", "adding_problem/small", ("mse", "mae", "loss")),
        ("rnn_classifier", None, ("accuracy", "loss")),
    ],
    ids=["regression", "classification"],
)
def test_evaluate_reports_the_task_metrics(tmp_path, model, dataset, keys):
    dataset = dataset or _labeled_file(tmp_path)
    model_dir = _run(tmp_path, model=model, dataset=dataset)
    metrics, split = evaluate_model_dir(model_dir)
    assert metrics["dataset"] == dataset and metrics["split"] == split
    for key in keys:
        assert math.isfinite(metrics[key]), key
    if "mse" in keys:
        assert metrics["mse"] == pytest.approx(metrics["loss"])
    if "accuracy" in keys:
        assert 0.0 <= metrics["accuracy"] <= 1.0


def test_evaluate_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        evaluate_model_dir(str(tmp_path))
