"""keras-seq: sequence models for Keras 3 on TensorFlow.

Sub-packages:
    keras_seq.layers   recurrent cells and layers, attention, Transformer blocks.
    keras_seq.data     datasets (embedded TFDS builders, local files, TFDS by
                       name), tokenizers and tf.data pipelines for the zoo.
    keras_seq.testing  the property checks every layer passes (`run_layer_test`).
"""

import os

# Keras 3 reads the backend at import time; this package is TensorFlow-only.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# `data` registers the embedded TFDS datasets (~0.3 s of CPU on the import).
from keras_seq import data, layers  # noqa: E402
from keras_seq.version import __version__  # noqa: E402

__all__ = ["__version__", "data", "layers"]
