"""Side-by-side speed measurements of keras-seq against its references.

Every measurement is a row comparing our implementation (`ours`) with a
reference nobody here wrote (`reference`: a Keras or keras-hub layer or model,
or our own slower path) at the same sizes, in the same process:

    ratio = ours / reference        (both in seconds; < 1.0 means we are faster)

Modules, one per section of `keras-seq-benchmark` (`tools/benchmark.py`):

- `timing`: median of several `time.perf_counter` runs after warm-up, and the
  machine's float32 matmul peak.
- `recurrent`: `LSTM`, `GRU`, `SimpleRNN` vs `keras.layers.*`.
- `attention`: `MultiHeadAttention` and `TransformerEncoderBlock` vs
  `keras.layers.MultiHeadAttention` and `keras_hub.layers.TransformerEncoder`.
- `generation`: cached decoding of the zoo's `gpt` and `transformer` vs
  keras-hub's `GPT2CausalLM` and vs our uncached decoding.
- `training`: training-step throughput and model FLOPs utilisation.
- `backbones`: the zoo's BERT (inference) and T5 (training step) vs keras-hub's
  `BertBackbone` and `T5Backbone`.
- `deployment`: TFLite (float and dynamic-range quantized) latency and size vs
  the Keras model's `predict`, and TFLite's fused LSTM kernel vs the unrolled
  loop.
- `report`: rows, the JSON document and the Markdown table.
- `suite`: the sizes of the quick, full and published-size runs, and the
  driver.
"""

# In the order they run. Importing this package does not import TensorFlow.
SECTIONS = (
    "recurrent",
    "attention",
    "generation",
    "training",
    "backbones",
    "deployment",
)
