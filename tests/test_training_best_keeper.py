"""BestKeeper on a tiny Dense model with scripted validation values."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_seq.training.best_keeper import BestKeeper


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5]], "float32")


class Scripted:
    """`evaluate(model)`: the next scripted loss; remembers the weights seen."""

    def __init__(self, values):
        self.values = list(values)
        self.seen = []

    def __call__(self, model):
        self.seen.append((int(model.optimizer.iterations.numpy()), model.get_weights()))
        return {"loss": self.values[len(self.seen) - 1], "unit": "token"}


def _fit(model, keeper, steps):
    x, y = _data()
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    model.fit(
        batches,
        epochs=1,
        steps_per_epoch=steps,
        shuffle=False,
        verbose=0,
        callbacks=[keeper],
    )


def test_keeps_the_best_weights_and_stops_early(tmp_path):
    # Evaluations at steps 0, 2, 4, ...: best at step 4, then 3 worse ones.
    script = Scripted([5.0, 3.0, 2.0, 2.5, 2.6, 2.7, 1.0, 1.0])
    lines = []
    model = _model()
    keeper = BestKeeper(
        str(tmp_path), script, "loss", "min", every=2, patience=3, log=lines.append
    )
    _fit(model, keeper, 20)
    assert [s for s, _ in script.seen] == [0, 2, 4, 6, 8, 10]
    assert int(model.optimizer.iterations.numpy()) == 10  # stopped early
    state = json.loads((tmp_path / "best.json").read_text())
    assert state["best"]["step"] == 4
    assert state["stopped_early_at"] == 10
    assert [h["step"] for h in state["history"]] == [0, 2, 4, 6, 8, 10]
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["step-4.weights.npz"]
    assert keeper.restore_best(model) == 4
    for ours, theirs in zip(model.get_weights(), script.seen[2][1]):
        np.testing.assert_array_equal(ours, theirs)
    assert int(model.optimizer.iterations.numpy()) == 10  # weights only
    assert any("Early stopping at step 10" in line for line in lines)


def test_overfitting_warning_fires_once_when_validation_rises(tmp_path):
    # The training loss falls (SGD on a linear fit) while validation rises.
    script = Scripted([5.0, 3.0, 2.0, 2.05, 2.5, 3.0, 3.5])
    lines = []
    keeper = BestKeeper(str(tmp_path), script, "loss", "min", every=2, log=lines.append)
    _fit(_model(), keeper, 12)
    warnings = [line for line in lines if "overfitting" in line]
    assert len(warnings) == 1, lines
    # 2.05 is within the 5% margin of 2.0: the warning comes at 2.5 (step 8).
    assert "best validation loss 2 at step 4, now 2.5 at step 8" in warnings[0]
    assert "Fix:" in warnings[0]


def test_no_overfitting_warning_while_validation_improves(tmp_path):
    script = Scripted([5.0, 3.0, 2.0, 1.9, 1.95, 1.8, 1.7])
    lines = []
    keeper = BestKeeper(str(tmp_path), script, "loss", "min", every=2, log=lines.append)
    _fit(_model(), keeper, 12)
    assert not [line for line in lines if "overfitting" in line]
    assert keeper.best["step"] == 12


def test_max_mode_and_ties_go_to_the_lower_loss(tmp_path):
    values = [
        {"exact_match": 0.5, "loss": 2.0},
        {"exact_match": 0.9, "loss": 1.0},
        {"exact_match": 0.9, "loss": 0.8},
        {"exact_match": 0.9, "loss": 0.9},
    ]
    calls = iter(values)
    keeper = BestKeeper(
        str(tmp_path),
        lambda m: next(calls),
        "exact_match",
        "max",
        every=3,
        log=lambda _: None,
    )
    _fit(_model(), keeper, 9)
    assert keeper.best["step"] == 6


def test_resume_keeps_the_best_and_drops_later_evaluations(tmp_path):
    script = Scripted([5.0, 3.0, 1.0, 2.0, 2.5])
    model = _model()
    keeper = BestKeeper(
        str(tmp_path), script, "loss", "min", every=2, log=lambda _: None
    )
    _fit(model, keeper, 8)  # evaluations at 0, 2, 4 (best), 6, 8
    best_weights = script.seen[2][1]
    # A restart from a checkpoint at step 2: the evaluations after it are
    # trained again, but the best (step 4) stays the best so far.
    resumed = BestKeeper(
        str(tmp_path), Scripted([1.5, 0.5]), "loss", "min", every=2, log=lambda _: None
    )
    resumed.resume(2)
    assert [h["step"] for h in resumed.state["history"]] == [0, 2]
    assert resumed.best["step"] == 4
    fresh = _model()
    resumed.restore_best(fresh)
    for ours, theirs in zip(fresh.get_weights(), best_weights):
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(ValueError, match="resume with the same"):
        BestKeeper(str(tmp_path), script, "accuracy", "max", every=2).resume(2)


def test_every_family_has_a_validation_metric_for_each_task():
    import zoo
    from keras_seq.training.best_keeper import DIRECTIONS
    from zoo.family import Family

    for name in zoo.list_models():
        family = zoo.family(name)
        for task in family.tasks:
            metric, mode = zoo.validation_metric(name, task)
            assert DIRECTIONS[metric] == mode, (name, task)
    with pytest.raises(ValueError, match="no validation metric for task 'nope'"):
        zoo.validation_metric("char_rnn", "nope")
    # The default is the batch format's; a family's declaration wins.
    assert zoo.validation_metric("char_rnn", "language_model") == ("loss", "min")
    custom = Family(
        name="custom",
        build_model=zoo.family("char_rnn").build_model,
        presets=zoo.presets("char_rnn"),
        tasks={"language_model": "causal_lm"},
        validation_metrics={"language_model": ("bits_per_character", "min")},
    )
    assert custom.validation_metric("language_model") == ("bits_per_character", "min")
