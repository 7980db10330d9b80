"""Shared pytest set-up: TensorFlow backend, quiet logs, a clean Keras state."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _clean_keras_state():
    """Every test starts with float32, fresh names and a fixed seed."""
    keras.config.set_dtype_policy("float32")
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small text file (200 lines of 10 words) for language-model runs."""
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog"]
    lines = [
        " ".join(words[(i + j) % len(words)] for j in range(10)) for i in range(200)
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return str(path)
