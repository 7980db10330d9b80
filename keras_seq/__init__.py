"""keras-seq: sequence models for Keras 3 on TensorFlow.

Sub-packages:
    keras_seq.layers   recurrent cells and layers, attention, Transformer blocks.
    keras_seq.testing  the property checks every layer passes (`run_layer_test`).
"""

import os

# Keras 3 reads the backend at import time; this package is TensorFlow-only.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_seq import layers  # noqa: E402
from keras_seq.version import __version__  # noqa: E402

__all__ = ["__version__", "layers"]
