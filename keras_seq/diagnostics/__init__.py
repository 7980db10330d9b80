"""keras_seq.diagnostics: see what a sequence model does, and measure it.

- `BPTTProbe`: `||dL/dh_t||` for every step and the Jacobian products
  `||dh_T/dh_t||` of any model's recurrent layers, in one compiled call.
- `recurrent_spectrum`: spectral radius and largest singular value of
  `W_hh`, with the reading they imply.
- `GradientMonitor`: a callback logging gradient norms to TensorBoard
  (`keras-seq-train --gradient_stats_every=N`), warning once on vanishing or
  exploding gradients.
- `record_attention` and `plot_attention`: the attention weights a model
  computes, and their heatmap (tokens as labels, a colour bar).
- `read_scalars` and `plot_curves`: training curves from TensorBoard logs.
- `lesson`: the experiments behind `keras-seq-lesson`.

Pictures need matplotlib (`pip install "keras-seq[plots]"`, Agg backend).
"""

from keras_seq.diagnostics.attention import record_attention
from keras_seq.diagnostics.bptt import BPTTProbe, BPTTProfile, find_rnn_layers, unroll
from keras_seq.diagnostics.gradient_monitor import (
    GradientMonitor,
    GradientWarning,
    clip_like,
)
from keras_seq.diagnostics.plots import (
    MissingMatplotlibError,
    plot_attention,
    plot_curves,
)
from keras_seq.diagnostics.spectrum import RecurrentSpectrum, recurrent_spectrum
from keras_seq.diagnostics.tensorboard_logs import read_scalars

__all__ = [
    "BPTTProbe",
    "BPTTProfile",
    "GradientMonitor",
    "GradientWarning",
    "MissingMatplotlibError",
    "RecurrentSpectrum",
    "clip_like",
    "find_rnn_layers",
    "plot_attention",
    "plot_curves",
    "read_scalars",
    "record_attention",
    "recurrent_spectrum",
    "unroll",
]
