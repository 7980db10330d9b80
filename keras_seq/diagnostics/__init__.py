"""keras_seq.diagnostics: see what a sequence model does, and measure it.

- `BPTTProbe`: `||dL/dh_t||` for every step and the Jacobian products
  `||dh_T/dh_t||` of any model's recurrent layers, in one compiled call.
- `recurrent_spectrum`: spectral radius and largest singular value of
  `W_hh`, with the reading they imply.
- `GradientMonitor`: a callback logging gradient norms to TensorBoard
  (`keras-seq-train --gradient_stats_every=N`), warning once on vanishing or
  exploding gradients.
- `plots`: attention heatmaps, training curves and the lesson's figures
  (matplotlib, the `plots` extra).
"""

from keras_seq.diagnostics.bptt import BPTTProbe, BPTTProfile, find_rnn_layers, unroll
from keras_seq.diagnostics.gradient_monitor import (
    GradientMonitor,
    GradientWarning,
    clip_like,
)
from keras_seq.diagnostics.spectrum import RecurrentSpectrum, recurrent_spectrum

__all__ = [
    "BPTTProbe",
    "BPTTProfile",
    "GradientMonitor",
    "GradientWarning",
    "RecurrentSpectrum",
    "clip_like",
    "find_rnn_layers",
    "recurrent_spectrum",
    "unroll",
]
