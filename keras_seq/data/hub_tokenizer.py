"""`KerasHubTokenizer`: a checkpoint's keras-hub tokenizer behind our interface.

Pretrained checkpoints come with their own vocabularies (GPT-2 byte-pair,
BERT WordPiece, T5 SentencePiece), whose special ids are not our `0-3`
(`keras_seq.data.specials`): GPT-2's id 0 is the real token `"!"` and its one
special token `<|endoftext|>` (50256 in the released vocabulary) ends, starts
and pads text; BERT has `[PAD]`=0, `[CLS]`, `[SEP]`, `[MASK]`; T5 has
`<pad>`=0, `</s>`=1, `<unk>`=2 and starts decoding from `<pad>`.

`KerasHubTokenizer(layer)` wraps any keras-hub tokenizer layer so the data
pipelines, the train tool's run directory and the exports use it like our
own tokenizers: `tokenize`, `detokenize` (cut at the end id, without the pad
and start ids), `vocabulary_size` and `special_ids`, read from the layer's
own special tokens:

- `pad`: the layer's `pad_token_id` (as keras-hub's preprocessors pad).
  GPT-2 has no pad token and keras-hub pads it with id 0, a real token:
  padding is then only ever told apart by an explicit mask (see
  `docs/architecture.md`, "Padding"), and `detokenize` keeps that id.
  Padding with the end id instead would make every padded row look finished
  to keras-hub's samplers;
- `bos` / `eos`: its start and end tokens; `unk`, `mask`, `cls`, `sep` where
  it has them, else `None`; no `sentinels`.

`detokenize` cuts at the end id and drops the layer's declared special
tokens (`[CLS]`, `<pad>`, ...), never an ordinary token.

Any of them can be given instead (`KerasHubTokenizer(layer, bos=0)`: a T5
checkpoint's decoder starts from id 0). `keras_seq.data.save_tokenizer` keeps
the layer as keras-hub's own preset files (`tokenizer.json`, `assets/`) under
`keras_hub/` in the tokenizer directory.

Example:

```python
import zoo
from keras_seq.data import KerasHubTokenizer

tokenizer = KerasHubTokenizer(zoo.tokenizer_from_preset("path/to/gpt2"))
tokenizer.special_ids["eos"]  # 50256 for the released GPT-2 vocabulary
```
"""

import json
import os

import tensorflow as tf

from keras_seq.data.dataset import DataError
from keras_seq.data.subword import _as_tensor
from keras_seq.data.tokenizers import Tokenizer

# The subdirectory of a saved tokenizer that holds the keras-hub files.
KERAS_HUB_DIR = "keras_hub"
SPECIAL_KEYS = ("pad", "unk", "bos", "eos", "mask", "cls", "sep")


def _token_id(layer, name):
    """The id of the layer's special token `name` (`"pad"`, ...), or None."""
    if getattr(layer, f"{name}_token", None) is None:
        return None
    value = getattr(layer, f"{name}_token_id", None)
    return None if value is None else int(value)


class KerasHubTokenizer(Tokenizer):
    """A keras-hub tokenizer layer with our tokenizer interface.

    Args:
        layer: a `keras_hub.tokenizers.Tokenizer` (`GPT2Tokenizer`,
            `BertTokenizer`, `T5Tokenizer`, ...) with its vocabulary loaded.
        **special_ids: ids replacing the ones read from the layer (keys
            `pad`, `unk`, `bos`, `eos`, `mask`, `cls`, `sep`).

    Raises:
        DataError: the layer has no end token and none is given, or an
            unknown special id key.
    """

    kind = "keras_hub"

    def __init__(self, layer, name=None, **special_ids):
        unknown = sorted(set(special_ids) - set(SPECIAL_KEYS))
        if unknown:
            raise DataError(
                f"KerasHubTokenizer: unknown special id(s) {unknown}; known: "
                f"{list(SPECIAL_KEYS)}."
            )
        ids = {
            "unk": _token_id(layer, "unk"),
            "bos": _token_id(layer, "start"),
            "eos": _token_id(layer, "end"),
            "mask": _token_id(layer, "mask"),
            "cls": _token_id(layer, "cls"),
            "sep": _token_id(layer, "sep"),
        }
        if ids["unk"] is None:
            ids["unk"] = _oov_id(layer)
        ids["pad"] = getattr(layer, "pad_token_id", None)
        if ids["pad"] is None:
            ids["pad"] = ids["eos"]
        ids["pad"] = int(ids["pad"])
        ids.update({k: None if v is None else int(v) for k, v in special_ids.items()})
        if ids["eos"] is None:
            raise DataError(
                f"KerasHubTokenizer: {type(layer).__name__} has no end token; "
                "pass eos=ID (and pad=ID, bos=ID)."
            )
        if ids["bos"] is None:
            ids["bos"] = ids["eos"]
        ids["sentinels"] = []
        super().__init__(int(layer.vocabulary_size()), ids, name)
        self.layer = layer
        self.overrides = {k: int(v) for k, v in special_ids.items() if v is not None}

    def tokenize(self, strings):
        ids = self.layer.tokenize(tf.convert_to_tensor(strings, tf.string))
        return tf.cast(_as_tensor(ids, tf.int32), tf.int32)

    def _join(self, ids):
        # A model's vocabulary can be larger than its tokenizer's (T5 pads
        # it to a multiple of 128): ids past the tokenizer's have no text.
        ids = tf.ragged.boolean_mask(ids, ids < self.vocabulary_size)
        return _as_tensor(self.layer.detokenize(ids), tf.string)

    def _drop_ids(self):
        """The layer's declared special tokens (GPT-2's pad id 0 is not)."""
        declared = set(int(i) for i in self.layer.special_token_ids)
        ids = self.special_ids
        declared |= {ids[k] for k in ("bos", "cls", "mask") if ids[k] is not None}
        return sorted(declared)

    def detokenize(self, ids):
        """Ids -> strings, cut at the first end id, without special tokens.

        Ragged rows are read up to their own length (their padding is never
        read as the pad id, which can be a real token).
        """
        if isinstance(ids, tf.RaggedTensor):
            dense = ids.to_tensor(default_value=self.special_ids["eos"])
        else:
            dense = tf.convert_to_tensor(ids)
        return super().detokenize(dense)

    def get_config(self):
        return {"class": type(self.layer).__name__, "special_ids": self.overrides}

    # === Files (see keras_seq.data.tokenizer_io) ===

    def save_layer(self, directory):
        """Writes the layer as keras-hub preset files into `directory`."""
        self.layer.save_to_preset(os.path.join(directory, KERAS_HUB_DIR))

    @classmethod
    def load(cls, directory, config):
        """The tokenizer `save_layer` wrote into `directory`."""
        import keras

        root = os.path.join(directory, KERAS_HUB_DIR)
        path = os.path.join(root, "tokenizer.json")
        if not os.path.isfile(path):
            raise DataError(f"load_tokenizer: no {path} (the keras-hub tokenizer).")
        with open(path, encoding="utf-8") as f:
            layer = keras.saving.deserialize_keras_object(json.load(f))
        layer.load_preset_assets(root)
        return cls(layer, **config.get("special_ids", {}))


def _oov_id(layer):
    """The id of a WordPiece / SentencePiece layer's unknown token, or None."""
    token = getattr(layer, "oov_token", None)
    if token is None:
        return None
    try:
        return int(layer.token_to_id(token))
    except (KeyError, ValueError, TypeError):
        return None
