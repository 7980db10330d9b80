"""Test utilities for keras-seq layers (usable by anyone who subclasses them)."""

from keras_seq.testing.layer_test import run_layer_test
from keras_seq.testing.saved_model_check import run_saved_model_in_clean_process

__all__ = ["run_layer_test", "run_saved_model_in_clean_process"]
