"""keras_seq.export: deployable, verified artifacts of a trained model directory.

- `load_run(model_dir)`: the model, tokenizer and facts of a
  `keras-seq-train` model directory (`model_dir.py`).
- `export_saved_model(run, output, version)`: TF Serving layout, with
  `serving_default` on token ids, `serve_text` on strings (tokenizer and
  decoding loop in the graph) and a seeded `generate` (`saved_model.py`).
- `export_tflite(run, output, quantize=...)`: fixed-shape LiteRT models with
  builtin ops only and, for decoders, `init_cache` / `decode_step`
  signatures (`tflite.py`).
- `TextModel`: the text pre/post-processing shared by the exports and the
  Keras reference (`text.py`); `verify.py` compares every export with the
  Keras model before it is renamed into place (`atomic.py`).

Example:

```python
from keras_seq.export import export_saved_model, export_tflite, load_run

run = load_run("runs/char")
export_saved_model(run, "exports/char")            # exports/char/1/
export_tflite(run, "exports/char", quantize=["none", "int8"])
```
"""

from keras_seq.export.model_dir import ExportError, Run, load_run
from keras_seq.export.saved_model import export_saved_model
from keras_seq.export.text import TextModel
from keras_seq.export.tflite import export_tflite
from keras_seq.export.verify import VerificationError

__all__ = [
    "ExportError",
    "Run",
    "TextModel",
    "VerificationError",
    "export_saved_model",
    "export_tflite",
    "load_run",
]
