"""keras_seq.data: datasets, tokenizers and `tf.data` pipelines for the zoo.

Importing this package registers the embedded datasets with TFDS, so
`tfds.load("date_normalization", data_dir=...)` works offline.

Load, tokenize, batch:

```python
from keras_seq import data

ds = data.load_dataset("date_normalization", data_dir="/tmp/tfds")
batches = data.make_batches("seq2seq_attention", ds, "train", batch_size=64)
x, y, sample_weight = next(iter(batches))
# x["encoder_token_ids"] (B, S), x["decoder_token_ids"] (B, T), y (B, T)
```

Datasets (`load_dataset(spec)`, a `SeqDataset` with a `task`):

| spec                  | task           | vocabulary comes with it |
|-----------------------|----------------|--------------------------|
| `adding_problem`      | regression     | -                        |
| `copy_memory`         | tagging        | yes (ids)                |
| `date_normalization`, `arithmetic`, `sequence_reverse` | seq2seq | yes (characters) |
| `text:PATH`           | language_model | -                        |
| `pairs:PATH`          | seq2seq        | -                        |
| `labeled:PATH`        | classification | label names              |
| `tfds:NAME`           | by adapter     | label names              |

The model-input convention (what the zoo consumes) is a dict of tensors named
as the zoo models' inputs (keras-hub's names), padded with the tokenizer's pad
id (0 for our vocabularies; models derive their masks from it, a GPT-2
checkpoint reads no id as padding); `make_batches(..., padding_masks=True)`
adds the masks to x as bool `padding_mask` / `encoder_padding_mask` /
`decoder_padding_mask`, made from the examples' lengths:

- `char_rnn`, `gpt` (causal LM; also per-step tagging): x = `{"token_ids"}`
  (B, T) int32; y = next-token ids (B, T); sample_weight (B, T).
- `rnn_classifier`: x = `{"token_ids"}` (B, T); y = label (B,) int32. On
  `adding_problem` (regression): x = `{"features"}` (B, T, 2) float32,
  y = target (B,) float32.
- `seq2seq_attention`, `transformer`, `t5` (teacher forcing): x =
  `{"encoder_token_ids" (B, S), "decoder_token_ids" (B, T)}`; y = decoder
  targets (B, T); sample_weight (B, T). Decoder inputs start with `<s>`
  (id 2, the decoding start token); targets end with `</s>` (id 3).
  `t5` on text: the same, from span corruption.
- `bert`: MLM x = `{"token_ids", "segment_ids"}` (B, T) and
  `"mask_positions"` (B, M); y = `mask_ids` (B, M); sample_weight =
  `mask_weights` (B, M). Classification: x = `{"token_ids",
  "segment_ids"}`, y = label (B,).

`make_batches(family, dataset)` raises `DataError` (a `ValueError`) naming the
families a dataset fits when they do not match. Tokenizers
(`CharTokenizer`, `ByteTokenizer`, `WordPieceTokenizer`,
`SentencePieceTokenizer`) share ids 0-3 = `<pad>`, `<unk>`, `<s>`, `</s>`;
`train_tokenizer(kind, dataset, vocabulary_size)` trains one on the training
split, `save_tokenizer` / `load_tokenizer` keep it in a directory for export.
A pretrained checkpoint's keras-hub tokenizer joins them as
`KerasHubTokenizer(layer)`, with the checkpoint's own special ids; batches
are padded with the tokenizer's `special_ids["pad"]`, and with
`padding_masks=True` the masks come from the examples' lengths, not from the
pad id (GPT-2's id 0 is a real token).
"""

from keras_seq.data import builders, local_files, tfds_adapters
from keras_seq.data.dataset import (
    BATCH_FORMATS,
    TASK_KEYS,
    DataError,
    SeqDataset,
    families_for_task,
    resolve_family,
)
from keras_seq.data.hub_tokenizer import KerasHubTokenizer
from keras_seq.data.pipelines import check_fit, dataset_tokenizer, make_batches
from keras_seq.data.registry import list_datasets, load_dataset, load_embedded
from keras_seq.data.subword import SentencePieceTokenizer, WordPieceTokenizer
from keras_seq.data.tokenizer_io import load_tokenizer, save_tokenizer
from keras_seq.data.tokenizers import ByteTokenizer, CharTokenizer, Tokenizer
from keras_seq.data.truncated_bptt import truncated_bptt_batches
from keras_seq.data.vocab_training import train_tokenizer

__all__ = [
    "BATCH_FORMATS",
    "TASK_KEYS",
    "ByteTokenizer",
    "CharTokenizer",
    "DataError",
    "KerasHubTokenizer",
    "SentencePieceTokenizer",
    "SeqDataset",
    "Tokenizer",
    "WordPieceTokenizer",
    "builders",
    "check_fit",
    "dataset_tokenizer",
    "families_for_task",
    "list_datasets",
    "local_files",
    "load_dataset",
    "load_embedded",
    "load_tokenizer",
    "make_batches",
    "resolve_family",
    "save_tokenizer",
    "tfds_adapters",
    "train_tokenizer",
    "truncated_bptt_batches",
]
