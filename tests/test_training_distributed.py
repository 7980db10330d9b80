"""keras-seq-train under tf.distribute, against single-process training.

- `--strategy=multi_worker`: two worker processes on localhost ports train,
  stop, resume, and end with identical weights that match one process
  training on the same global batches.
- `--strategy=mirrored` over two logical CPU devices matches the default.
- `distributed_loop.fit` averages a masked loss over the global batch, as
  Keras `model.fit` does on one device, where a mean of the replicas' means
  would not.

Tolerance: a distributed step sums the same float32 terms in another order
(two half-batch sums, then the all-reduce), a relative difference of ~1e-7
in losses and gradients. Adam moves each weight by at most about the
learning rate (3e-3) per step, so after 4 steps the weights agree to ~1e-7
(measured <= 6e-8); `atol=1e-5` is 300 times below one step on another batch
or with another clipping, the errors this guards against. `--clipnorm=0.05`
is below the norms of two of the six gradients (about 0.1 to 0.25), so
clipping acts at every step.
"""

import doctest
import json
import os
import re
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import zoo.char_rnn  # noqa: F401  (registers CharRNN for load_model)
from keras_seq.training import distributed_loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATOL = 1e-5
MULTI_WORKER = "--strategy=multi_worker"
DIGEST = re.compile(r"replicas \(([^)]*)\); weights sha256 ([0-9a-f]{64})")

# Splits the CPU into N logical devices before TensorFlow starts, then runs
# the train tool (test-only: gives MirroredStrategy two devices).
ON_CPUS = """
import sys
import tensorflow as tf
n = int(sys.argv.pop(1))
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * n
)
from tools import train
train.run()
"""


def _env(**extra):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1", **extra}


def _run(args, env=None, timeout=240):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _flags(corpus, model_dir, steps):
    return [
        "--model=char_rnn",
        f"--dataset=text:{corpus}",
        f"--model_dir={model_dir}",
        f"--steps={steps}",
        "--batch_size=8",
        "--sequence_length=16",
        "--override=num_layers=1",
        "--override=embedding_dim=8",
        "--override=hidden_dim=16",
        "--clipnorm=0.05",
        "--nojit_compile",
        "--noexport",
    ]


def _weights(model_dir):
    return keras.saving.load_model(
        os.path.join(model_dir, "model.keras"), compile=False
    )


def _assert_same_weights(model_dir, reference_dir):
    ours, theirs = _weights(model_dir), _weights(reference_dir)
    for weight, a, b in zip(ours.weights, ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=ATOL, err_msg=weight.path)
    loss = _metrics(model_dir)["loss"]
    assert loss == pytest.approx(_metrics(reference_dir)["loss"], rel=1e-5)


def _metrics(model_dir):
    with open(os.path.join(model_dir, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _two_workers(flags, tmp_dir):
    """Runs the tool as workers 0 and 1 of one cluster; returns their outputs."""
    hosts = [f"localhost:{port}" for port in _free_ports(2)]
    logs = [tmp_dir.parent / f"worker{index}.log" for index in range(2)]
    processes = []
    for index, log in enumerate(logs):
        tf_config = {
            "cluster": {"worker": hosts},
            "task": {"type": "worker", "index": index},
        }
        env = _env(TF_CONFIG=json.dumps(tf_config), TMPDIR=str(tmp_dir))
        with open(log, "w") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tools.train", *flags, MULTI_WORKER],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    deadline = time.monotonic() + 240
    try:
        # A worker that fails leaves the other waiting on its collectives.
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            if any(p.poll() not in (None, 0) for p in processes):
                break
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
    outputs = [log.read_text() for log in logs]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    return outputs


def _digests(outputs):
    found = [DIGEST.findall(output) for output in outputs]
    assert all(len(f) == 1 for f in found), [o[-2000:] for o in outputs]
    return [f[0] for f in found]


@pytest.fixture(scope="module")
def single_process(corpus, tmp_path_factory):
    """The reference: 4 steps on one device with the default strategy."""
    model_dir = tmp_path_factory.mktemp("single") / "run"
    result = _run(["-m", "tools.train", *_flags(corpus, model_dir, 4)])
    assert result.returncode == 0, result.stderr[-3000:]
    return str(model_dir)


def test_two_workers_resume_and_match_single_process(corpus, single_process, tmp_path):
    model_dir = tmp_path / "run"
    worker_tmp = tmp_path / "worker_tmp"
    worker_tmp.mkdir()

    # 2 steps, then the same command with --steps=4 resumes from step 2.
    first = _two_workers(_flags(corpus, model_dir, 2), worker_tmp)
    (chief, digest), (other, other_digest) = _digests(first)
    assert (chief, other) == ("worker 0", "worker 1")
    assert digest == other_digest
    assert _metrics(model_dir)["steps"] == 2

    second = _two_workers(_flags(corpus, model_dir, 4), worker_tmp)
    for output in second:
        assert "Resuming from step 2 of 4." in output, output[-2000:]
    (_, digest), (_, other_digest) = _digests(second)
    assert digest == other_digest, "the workers ended with different weights"
    # The chief saved the weights both workers hold.
    assert distributed_loop.weights_digest(_weights(model_dir)) == digest
    assert _metrics(model_dir)["steps"] == 4
    _assert_same_weights(model_dir, single_process)
    # Worker 1 wrote its copies to a temporary directory, then removed it.
    assert list(worker_tmp.iterdir()) == []


def test_mirrored_on_two_cpus_matches_default(corpus, single_process, tmp_path):
    model_dir = tmp_path / "run"
    flags = [*_flags(corpus, model_dir, 4), "--strategy=mirrored"]
    result = _run(["-c", ON_CPUS, "2", *flags])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on 2 replicas (local)" in result.stdout + result.stderr
    _assert_same_weights(model_dir, single_process)


def test_bad_tf_config_exits_2_with_one_line(corpus, tmp_path):
    model_dir = tmp_path / "run"
    result = _run(
        ["-m", "tools.train", *_flags(corpus, model_dir, 2), MULTI_WORKER],
        env=_env(TF_CONFIG="{not json"),
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "--strategy=multi_worker: TF_CONFIG is not JSON" in result.stderr
    assert not model_dir.exists()


# distributed_loop.fit under MirroredStrategy on two logical CPUs against
# Keras model.fit on one device, with a masked, weighted loss whose replica
# halves hold different numbers of tokens (11 and 45) and weights. Prints JSON.
MASKED = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras
from keras_seq.training import distributed_loop

rng = np.random.default_rng(0)
lengths = [2, 3, 4, 2, 12, 11, 12, 10]  # replica 0: rows 0-3, replica 1: 4-7
x = np.zeros((8, 12), "int32")
for row, n in enumerate(lengths):
    x[row, :n] = rng.integers(1, 20, n)
y = np.roll(x, -1, axis=1)
w = np.repeat([[3.0], [1.0]], 4, axis=0) * np.ones((8, 12), "float32")
batches = tf.data.Dataset.from_tensors((x, y, w)).repeat()


def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(20, 8, mask_zero=True)(inputs)
    h = keras.layers.Dense(16, activation="tanh")(h)
    model = keras.Model(inputs, keras.layers.Dense(20)(h))
    model.compile(
        optimizer=keras.optimizers.Adam(0.01, clipnorm=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    return model


reference = build()
loss_fn = reference.loss
halves = [
    float(loss_fn(y[s], reference(x[s]), w[s])) for s in (slice(0, 4), slice(4, 8))
]
history = reference.fit(batches, epochs=3, steps_per_epoch=1, verbose=0)
strategy = tf.distribute.MirroredStrategy()
with strategy.scope():
    model = build()
losses = distributed_loop.fit(model, batches, 3, verbose=0)
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "mean_of_halves": float(np.mean(halves)),
    "reference_losses": history.history["loss"],
    "losses": losses,
    "max_weight_difference": max(
        float(np.abs(a - b).max())
        for a, b in zip(model.get_weights(), reference.get_weights())
    ),
}))
"""


def test_loop_averages_a_masked_loss_over_the_global_batch():
    result = _run(["-c", MASKED])
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    np.testing.assert_allclose(out["losses"], out["reference_losses"], rtol=1e-5)
    assert out["max_weight_difference"] < ATOL
    # Averaging the replicas' means instead would be another loss.
    assert abs(out["mean_of_halves"] - out["losses"][0]) > 0.5


def test_docstring_example_runs():
    result = doctest.testmod(distributed_loop, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
