"""Checkpointer: step-level save/restore, and a NaN loss keeps the last good one."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_seq.training.checkpointer import Checkpointer, NonFiniteLossError


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _data(nan_at_batch=None):
    x = np.ones((12, 3), "float32")
    if nan_at_batch is not None:
        x[nan_at_batch * 2] = np.nan  # batches of 2
    return tf.data.Dataset.from_tensor_slices((x, np.zeros((12, 2), "float32"))).batch(
        2
    )


def test_restore_continues_from_the_saved_step_with_equal_state(tmp_path):
    model = _model()
    checkpointer = Checkpointer(str(tmp_path), model, every=2)
    assert checkpointer.restore() == 0
    model.fit(_data(), epochs=1, steps_per_epoch=5, callbacks=[checkpointer], verbose=0)
    fresh = _model()
    assert Checkpointer(str(tmp_path), fresh, every=2).restore() == 4
    model_at_4 = _model()
    Checkpointer(str(tmp_path), model_at_4, every=2).restore()
    for a, b in zip(fresh.weights, model_at_4.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    model = _model()
    checkpointer = Checkpointer(str(tmp_path), model, every=1)
    model.fit(_data(nan_at_batch=3), epochs=1, callbacks=[checkpointer], verbose=0)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at step 4") as e:
        checkpointer.check()
    assert "ckpt-3" in str(e.value)
    assert checkpointer.save() is None  # nothing is saved after a bad step
    restored = _model()
    assert Checkpointer(str(tmp_path), restored, every=1).restore() == 3
    assert all(np.isfinite(w.numpy()).all() for w in restored.weights)


def test_corrupt_checkpoint_names_the_file(tmp_path):
    model = _model()
    checkpointer = Checkpointer(str(tmp_path), model, every=1)
    model.fit(_data(), epochs=1, steps_per_epoch=1, callbacks=[checkpointer], verbose=0)
    for path in tmp_path.glob("*.data-*"):
        path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="ckpt-1 cannot be restored"):
        Checkpointer(str(tmp_path), _model(), every=1).restore()


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    model = _model()
    checkpointer = Checkpointer(str(tmp_path), model, every=1)
    model.fit(_data(), epochs=1, steps_per_epoch=2, callbacks=[checkpointer], verbose=0)
    for path in tmp_path.glob("ckpt-2.data-*"):
        path.write_bytes(b"garbage")
    logged = []
    restored = _model()
    step = Checkpointer(str(tmp_path), restored, every=1).restore(log=logged.append)
    assert step == 1
    assert len(logged) == 1 and "ckpt-2 cannot be restored" in logged[0], logged
    assert "using the previous one" in logged[0] and "ckpt-1" in logged[0]
