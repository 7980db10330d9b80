"""The keras-seq model zoo: ready models built only from `keras_seq.layers`."""
