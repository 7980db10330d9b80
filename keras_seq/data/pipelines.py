"""`make_batches(family, dataset, split)`: the batches a zoo model trains on.

Batches are `(x, y)` or `(x, y, sample_weight)` for `model.fit`, with `x` a
dict of tensors whose keys are the zoo models' input names. Token ids are
padded with the tokenizer's pad id (`special_ids["pad"]`: 0 for our
tokenizers, which never emit it, and for BERT and T5 checkpoints; GPT-2's
`<|endoftext|>`). Sample weights and the padding masks come from the
examples' lengths, never from comparing ids with the pad id (GPT-2's id 0 is
the real token "!"): `padding_masks=True` puts the masks in `x` as bool
`padding_mask` / `encoder_padding_mask` / `decoder_padding_mask` (keras-hub's
names). `B` is the batch, `T`/`S` lengths (the longest in the batch, or
`sequence_length` for LM windows).

The batches depend on the batch format the family declares for the
dataset's task (`family.tasks`, see `zoo.family`; `BATCH_FORMATS`). By format
(x keys, without the optional masks; y; sample_weight), with the built-in
families that take it:

- `causal_lm` (char_rnn, gpt) or `tagging`: `token_ids` (B, T) int32;
  next-token (or per-step) ids (B, T); (B, T) ones.
- `classification` (rnn_classifier): `token_ids` (B, T); label (B,) int32;
  none.
- `regression` (rnn_classifier): `features` (B, T, F) float32; target (B,)
  float32; none.
- `seq2seq` (seq2seq_attention, transformer, t5) and `span_corruption` (t5
  on text): `encoder_token_ids` (B, S), `decoder_token_ids` (B, T);
  targets (B, T); (B, T).
- `masked_lm` (bert): `token_ids`, `segment_ids` (B, T),
  `mask_positions` (B, M) int32; `mask_ids` (B, M); `mask_weights` (B, M).
- `cls_sep_classification` (bert): `token_ids`, `segment_ids` (B, T); label
  (B,); none.

Seq2seq (teacher forcing): encoder ids are the source tokens then `</s>`;
decoder inputs are `<s>` then the target tokens; targets are the target
tokens then `</s>` (so `decoder_token_ids[:, 1:] == y[:, :-1]` where not
padded). BERT sequences are `<cls> tokens <sep>`; masking is keras-hub's
`MaskedLMMaskGenerator`. T5 pre-training cuts the token stream into blocks
of `sequence_length` and corrupts spans (`keras_seq.data.masking`), seeded
by `seed` and the block index.

Pipeline order: tokenize -> (cache) -> shuffle with `seed` (train by
default) -> pad to the longest in the batch, or bucket by length with
`bucket_boundaries` -> prefetch. `stateful=True` (`causal_lm`) lays the
text out as `batch_size` contiguous streams, so row `i` of batch `k + 1`
continues row `i` of batch `k` (truncated BPTT), without shuffling.
"""

import numpy as np
import tensorflow as tf

from keras_seq.data.dataset import BATCH_FORMATS, DataError, resolve_family
from keras_seq.data.masking import check_sentinels, mlm_masker, span_corruption
from keras_seq.data.tokenizers import CharTokenizer
from keras_seq.data.truncated_bptt import truncated_bptt_batches

AUTOTUNE = tf.data.AUTOTUNE
# Our map functions have no Python control flow on tensors: skipping
# AutoGraph makes the first trace of a keras-hub tokenizer ~10x faster.
_plain = tf.autograph.experimental.do_not_convert
SHUFFLE_BUFFER = 10_000
# The shortest sequence_length of a format (room for <cls> and <sep>).
MIN_SEQUENCE_LENGTH = {"masked_lm": 3, "cls_sep_classification": 3}
# Formats whose token ids come from the tokenizer (padded with its pad id).
_TOKENIZED_FORMATS = (
    "causal_lm",
    "seq2seq",
    "span_corruption",
    "classification",
    "cls_sep_classification",
    "masked_lm",
)


def check_fit(family, dataset):
    """Raises `DataError` unless `family` trains on `dataset`'s task.

    Args:
        family: a family (`zoo.family.Family`) or its name.
        dataset: a `SeqDataset`.

    Returns:
        The batch format the family takes for the dataset's task.
    """
    family = resolve_family(family)
    fmt = family.tasks.get(dataset.task)
    if fmt is None:
        raise DataError(
            f"Dataset {dataset.name!r} (task {dataset.task}) does not fit model "
            f"family {family.name!r}, which trains on {list(family.tasks)}; "
            f"{dataset.name!r} fits: {', '.join(dataset.families)}."
        )
    if fmt not in BATCH_FORMATS or BATCH_FORMATS[fmt] != dataset.task:
        raise DataError(
            f"Model family {family.name!r} declares batch format {fmt!r} for "
            f"task {dataset.task!r}; the formats of that task are "
            f"{[f for f, t in BATCH_FORMATS.items() if t == dataset.task]}."
        )
    return fmt


def dataset_tokenizer(dataset):
    """The tokenizer of the vocabulary that comes with the data, or `None`."""
    if dataset.vocabulary is None or dataset.task != "seq2seq":
        return None
    return CharTokenizer(dataset.vocabulary)


def _need_tokenizer(dataset, tokenizer):
    if tokenizer is None:
        tokenizer = dataset_tokenizer(dataset)
    if tokenizer is None:
        raise DataError(
            f"Dataset {dataset.name!r} comes with no vocabulary: pass tokenizer= "
            "(e.g. keras_seq.data.train_tokenizer('char', dataset))."
        )
    return tokenizer


def _positive(name, value, minimum=1):
    if not isinstance(value, int | np.integer) or value < minimum:
        raise DataError(f"{name} must be an int >= {minimum}, got {value!r}.")


# -- per-example features (dicts of 1-D tensors, before batching) ----------


def _token_blocks(ds, tokenizer, length):
    """The split's tokens as one stream, cut into blocks of `length`."""
    stream = ds.map(
        _plain(lambda ex: tokenizer.tokenize(ex["text"])), AUTOTUNE
    ).unbatch()
    return stream.batch(length, drop_remainder=True)


def _lm_examples(ds, tokenizer, length):
    blocks = _token_blocks(ds, tokenizer, length + 1)
    return blocks.map(_plain(_lm_pair))


def _lm_pair(window):
    return {"token_ids": window[:-1], "targets": window[1:]}


def _lm_examples_random_offset(ds, tokenizer, length, seed):
    """LM windows whose start moves by a random offset in `[0, length]` each
    time the dataset is iterated (each epoch under `.repeat()`), so a small
    text gives `length + 1` different cuts instead of one. Deterministic: the
    same `seed` gives the same offsets, epoch after epoch."""
    stream = (
        ds.map(_plain(lambda ex: tokenizer.tokenize(ex["text"])), AUTOTUNE)
        .unbatch()
        .cache()
    )
    offsets = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return offsets.take(1).flat_map(
        _plain(
            lambda r: (
                stream.skip(r % (length + 1))
                .batch(length + 1, drop_remainder=True)
                .map(_plain(_lm_pair))
            )
        )
    )


def _stateful_lm(ds, tokenizer, length, batch_size):
    streams = ds.map(_plain(lambda ex: tokenizer.tokenize(ex["text"])), AUTOTUNE)
    tokens = np.concatenate(list(streams.as_numpy_iterator())).astype(np.int32)
    x, y = truncated_bptt_batches(tokens, batch_size, length)
    # (windows * lanes, length) -> one element per batch: (lanes, length).
    x, y = (a.reshape(-1, batch_size, length) for a in (x["token_ids"], y))
    return tf.data.Dataset.from_tensor_slices({"token_ids": x, "targets": y})


def _text_ids(tokenizer, text, limit):
    ids = tokenizer.tokenize(text)
    return ids if limit is None else ids[:limit]


def _seq2seq_examples(ds, tokenizer, length):
    ids = tokenizer.special_ids
    bos, eos = tf.constant([ids["bos"]]), tf.constant([ids["eos"]])

    def features(ex):
        source = _text_ids(tokenizer, ex["source"], length)
        target = _text_ids(tokenizer, ex["target"], length)
        return _with_lengths(
            {
                "encoder_token_ids": tf.concat([source, eos], 0),
                "decoder_token_ids": tf.concat([bos, target], 0),
                "targets": tf.concat([target, eos], 0),
            }
        )

    return ds.map(_plain(features), AUTOTUNE)


def _span_corruption_examples(ds, tokenizer, length, seed, density, span):
    ids = tokenizer.special_ids
    bos, eos = tf.constant([ids["bos"]]), tf.constant([ids["eos"]])
    sentinels = ids["sentinels"]
    check_sentinels(sentinels)

    def features(index, block):
        block.set_shape([length])
        seed_pair = tf.stack([tf.cast(seed, tf.int64), index])
        inputs, targets = span_corruption(block, seed_pair, sentinels, density, span)
        return _with_lengths(
            {
                "encoder_token_ids": tf.concat([inputs, eos], 0),
                "decoder_token_ids": tf.concat([bos, targets], 0),
                "targets": tf.concat([targets, eos], 0),
            }
        )

    return (
        _token_blocks(ds, tokenizer, length).enumerate().map(_plain(features), AUTOTUNE)
    )


def _classification_examples(ds, tokenizer, length, bert):
    ids = tokenizer.special_ids
    if bert and (ids["cls"] is None or ids["sep"] is None):
        raise DataError(
            f"BERT inputs need <cls> and <sep>, which this {tokenizer.kind} "
            "vocabulary lacks; train one with keras_seq.data.train_tokenizer."
        )

    def features(ex):
        if bert:
            body = _text_ids(tokenizer, ex["text"], length - 2)
            token_ids = tf.concat([[ids["cls"]], body, [ids["sep"]]], 0)
        else:
            token_ids = _text_ids(tokenizer, ex["text"], length)
        out = _with_lengths({"token_ids": token_ids})
        if "label" in ex:
            out["label"] = ex["label"]
        return out

    minimum = 2 if bert else 0
    return ds.map(_plain(features), AUTOTUNE).filter(
        _plain(lambda ex: tf.size(ex["token_ids"]) > minimum)
    )


def _with_lengths(example):
    """Adds a `<key>_mask` of ones (bool) for every 1-D `*token_ids` / `targets`
    entry: batching pads it with False, so it marks the real positions
    whatever the pad id."""
    masks = {
        f"{key}_mask": tf.ones_like(value, tf.bool)
        for key, value in example.items()
        if key.endswith("token_ids") or key == "targets"
    }
    return {**example, **masks}


def _padding_values(element_spec, pad_id):
    """`padded_batch` values: `pad_id` for token ids, 0 / False elsewhere."""
    return {
        key: tf.constant(pad_id, spec.dtype)
        if key.endswith("token_ids")
        else tf.zeros([], spec.dtype)
        for key, spec in element_spec.items()
    }


# -- batched dicts -> (x, y, sample_weight) --------------------------------


def _lm_finish(batch):
    """Causal LM windows: every position is a real token (full blocks)."""
    mask = tf.ones_like(batch["token_ids"], tf.bool)
    x = {"token_ids": batch["token_ids"], "padding_mask": mask}
    return x, batch["targets"], tf.ones_like(batch["targets"], tf.float32)


def _tagging_finish(batch):
    """Id data (`copy_memory`): its own vocabulary pads with id 0."""
    mask = batch["token_ids"] != 0
    x = {"token_ids": batch["token_ids"], "padding_mask": mask}
    return x, batch["targets"], tf.cast(batch["targets"] != 0, tf.float32)


def _seq2seq_finish(batch):
    x = {
        "encoder_token_ids": batch["encoder_token_ids"],
        "encoder_padding_mask": batch["encoder_token_ids_mask"],
        "decoder_token_ids": batch["decoder_token_ids"],
        "decoder_padding_mask": batch["decoder_token_ids_mask"],
    }
    return x, batch["targets"], tf.cast(batch["targets_mask"], tf.float32)


def _classifier_finish(bert):
    def finish(batch):
        x = {"token_ids": batch["token_ids"], "padding_mask": batch["token_ids_mask"]}
        if bert:
            x["segment_ids"] = tf.zeros_like(batch["token_ids"])
        return x, batch["label"]

    return finish


def _regression_finish(batch):
    features = batch["features"]
    mask = tf.ones(tf.shape(features)[:2], tf.bool)
    return {"features": features, "padding_mask": mask}, batch["target"]


def _mlm_finish(masker):
    def finish(batch):
        token_ids = batch["token_ids"]
        masked = masker(token_ids)
        x = {
            "token_ids": masked["token_ids"],
            "segment_ids": tf.zeros_like(token_ids),
            "padding_mask": batch["token_ids_mask"],
            "mask_positions": tf.cast(masked["mask_positions"], tf.int32),
        }
        y = tf.cast(masked["mask_ids"], tf.int32)
        return x, y, tf.cast(masked["mask_weights"], tf.float32)

    return finish


def _with_masks(finish, padding_masks):
    """Keeps or drops the `*padding_mask` entries of `x`."""
    if padding_masks:
        return finish

    def without_masks(batch):
        x, *rest = finish(batch)
        x = {k: v for k, v in x.items() if not k.endswith("padding_mask")}
        return (x, *rest)

    return without_masks


def _examples(fmt, dataset, ds, tokenizer, length, seed, options):
    """(per-example dataset, key whose length buckets it, finish function)."""
    if fmt == "causal_lm" and options["random_offsets"]:
        tokenizer = _need_tokenizer(dataset, tokenizer)
        ds = _lm_examples_random_offset(ds, tokenizer, length, seed)
        return ds, None, _lm_finish
    if fmt == "regression":
        return ds, None, _regression_finish
    if fmt == "tagging":
        ds = ds.map(
            _plain(lambda ex: {"token_ids": ex["inputs"], "targets": ex["targets"]})
        )
        return ds, None, _tagging_finish
    tokenizer = _need_tokenizer(dataset, tokenizer)
    if fmt == "seq2seq":
        return (
            _seq2seq_examples(ds, tokenizer, length),
            "encoder_token_ids",
            _seq2seq_finish,
        )
    if fmt in ("classification", "cls_sep_classification"):
        bert = fmt == "cls_sep_classification"
        ds = _classification_examples(ds, tokenizer, length, bert)
        return ds, "token_ids", _classifier_finish(bert)
    if fmt == "causal_lm":
        return _lm_examples(ds, tokenizer, length), None, _lm_finish
    if fmt == "span_corruption":
        _positive("sequence_length", length, 2)
        ds = _span_corruption_examples(
            ds,
            tokenizer,
            length,
            seed,
            options["noise_density"],
            options["mean_noise_span_length"],
        )
        return ds, None, _seq2seq_finish
    # masked_lm
    masker = mlm_masker(
        tokenizer, options["mask_rate"], max(1, round(length * options["mask_rate"]))
    )
    ds = _classification_examples(ds, tokenizer, length, bert=True)
    return ds, "token_ids", _mlm_finish(masker)


def make_batches(
    family,
    dataset,
    split="train",
    *,
    tokenizer=None,
    batch_size=32,
    sequence_length=None,
    shuffle=None,
    seed=0,
    bucket_boundaries=None,
    drop_remainder=False,
    stateful=False,
    cache=True,
    mask_rate=0.15,
    noise_density=0.15,
    mean_noise_span_length=3.0,
    padding_masks=False,
    random_offsets=False,
):
    """Returns the `tf.data.Dataset` of batches `family` trains on.

    Args:
        family: a model family (`zoo.family.Family`) or its name (resolved
            through the zoo's registry): the batch format it declares for the
            dataset's task decides the batches.
        dataset: a `SeqDataset` (from `load_dataset`).
        split: `"train"`, `"validation"` or `"test"`.
        tokenizer: a `keras_seq.data` tokenizer; defaults to the vocabulary
            that comes with the data (embedded seq2seq datasets). Not used
            for tagging and regression data, which are ids and numbers.
        batch_size: examples per batch.
        sequence_length: LM window / BERT / T5 block length, or the most
            tokens kept per text (classification, seq2seq source and target);
            defaults to the family's `default_sequence_length` (`None`: keep
            all).
        shuffle: shuffle examples; defaults to `split == "train"`.
        seed: shuffle seed (and T5's span seed); the same seed gives the same
            batches in the same order, epoch after epoch.
        bucket_boundaries: lengths at which to bucket variable-length
            examples (`tf.data.Dataset.bucket_by_sequence_length`); `None`
            pads each batch to its longest example.
        drop_remainder: drop the last partial batch.
        stateful: `causal_lm` batches only: contiguous streams per batch row.
        cache: cache the tokenized examples in memory.
        mask_rate: BERT's token selection rate.
        noise_density: T5's corrupted fraction.
        mean_noise_span_length: T5's mean span length.
        padding_masks: also put the bool padding masks in `x`.
        random_offsets: `causal_lm` batches only (ignored otherwise): cut the
            token stream into windows from a random offset in
            `[0, sequence_length]`, drawn anew each time the dataset is
            iterated (each epoch under `.repeat()`), from `seed`. On a small
            text this shows the model `sequence_length + 1` different cuts
            of it instead of the same windows every epoch (a cheap,
            standard regularizer); the tokens are cached, the windows not.

    Raises:
        DataError: the family does not train on this dataset (the message
            lists the families that do), an unknown family or split, a
            vocabulary without the special tokens the family needs.
    """
    family = resolve_family(family)
    fmt = check_fit(family, dataset)
    _positive("batch_size", batch_size)
    length = sequence_length or family.default_sequence_length
    if length is not None:
        _positive("sequence_length", length, MIN_SEQUENCE_LENGTH.get(fmt, 1))
    ds = dataset.split(split)
    if stateful:
        if fmt != "causal_lm":
            raise DataError(
                "stateful=True is for causal language models (batch format "
                f"causal_lm) on language_model data; {family.name!r} takes "
                f"{fmt} batches of {dataset.name!r}."
            )
        tokenizer = _need_tokenizer(dataset, tokenizer)
        ds = _stateful_lm(ds, tokenizer, length, batch_size)
        return ds.map(_plain(_with_masks(_lm_finish, padding_masks))).prefetch(AUTOTUNE)
    options = {
        "mask_rate": mask_rate,
        "noise_density": noise_density,
        "mean_noise_span_length": mean_noise_span_length,
        "random_offsets": random_offsets,
    }
    ds, length_key, finish = _examples(
        fmt, dataset, ds, tokenizer, length, seed, options
    )
    pad_id = 0 if tokenizer is None else tokenizer.special_ids["pad"]
    pad_id = pad_id if fmt in _TOKENIZED_FORMATS else 0
    padding_values = _padding_values(ds.element_spec, pad_id)
    if cache and not (fmt == "causal_lm" and random_offsets):
        ds = ds.cache()
    if split == "train" if shuffle is None else shuffle:
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    if bucket_boundaries and length_key:
        boundaries = sorted(int(b) for b in bucket_boundaries)
        ds = ds.bucket_by_sequence_length(
            lambda ex: tf.shape(ex[length_key])[0],
            boundaries,
            [batch_size] * (len(boundaries) + 1),
            padding_values=padding_values,
            drop_remainder=drop_remainder,
        )
    else:
        ds = ds.padded_batch(
            batch_size, padding_values=padding_values, drop_remainder=drop_remainder
        )
    finish = _with_masks(finish, padding_masks)
    return ds.map(_plain(finish), AUTOTUNE).prefetch(AUTOTUNE)
