"""Pre-training objectives: BERT's masked LM and T5's span corruption.

- `mlm_masker(tokenizer, ...)`: keras-hub's `MaskedLMMaskGenerator` set up
  with our special ids (`<pad>`, `<cls>`, `<sep>` never selected). Its
  choices are random per call (keras-hub gives it no seed).
- `span_corruption(token_ids, seed, sentinel_ids, ...)`: T5's objective,
  written here in TensorFlow as in the paper's reference code
  (`random_spans_noise_mask`, `noise_span_to_unique_sentinel`): about
  `noise_density` of the tokens, in spans of mean length
  `mean_noise_span_length`, are dropped from the input and each span replaced
  by one sentinel; the target lists each sentinel followed by its span (and
  a last sentinel when the text ends with kept tokens).
  Stateless random ops with `seed`, so the same seed gives the same spans.

Example (noise spans "c d" and "g", sentinels S0, S1):

    tokens:  a b c d e f g h
    inputs:  a b S0 e f S1 h
    targets: S0 c d S1 g S2

References:
    Devlin et al., "BERT", NAACL 2019. Raffel et al., "Exploring the Limits
    of Transfer Learning with a Unified Text-to-Text Transformer", JMLR 2020.

`keras_hub` is imported where it is used, so `import keras_seq.data` stays
light.
"""

import tensorflow as tf

from keras_seq.data.dataset import DataError


def mlm_masker(tokenizer, mask_rate=0.15, mask_selection_length=20):
    """keras-hub's `MaskedLMMaskGenerator` for `tokenizer`'s vocabulary."""
    ids = tokenizer.special_ids
    missing = [k for k in ("mask", "cls", "sep") if ids.get(k) is None]
    if missing:
        raise DataError(
            f"BERT masking needs {missing} tokens, which this "
            f"{tokenizer.kind} vocabulary lacks; train one with "
            "keras_seq.data.train_tokenizer (it reserves them)."
        )
    import keras_hub

    return keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=tokenizer.vocabulary_size,
        mask_selection_rate=mask_rate,
        mask_token_id=ids["mask"],
        mask_selection_length=mask_selection_length,
        unselectable_token_ids=[ids["pad"], ids["cls"], ids["sep"]],
    )


def check_sentinels(sentinel_ids):
    """Raises `DataError` when a vocabulary has no T5 sentinels."""
    if not sentinel_ids:
        raise DataError(
            "T5 span corruption needs sentinel tokens (<extra_id_i>), which this "
            "vocabulary lacks; train one with keras_seq.data.train_tokenizer."
        )


def span_counts(length, noise_density, mean_noise_span_length, max_spans):
    """(noise tokens, spans) for a sequence of `length` tokens (Python ints)."""
    num_noise = min(max(round(length * noise_density), 1), length - 1)
    num_spans = max(round(num_noise / mean_noise_span_length), 1)
    return num_noise, min(num_spans, num_noise, length - num_noise, max_spans)


def _random_segmentation(num_items, num_segments, seed):
    """Lengths of `num_segments` non-empty segments summing to `num_items`."""
    first = tf.cast(tf.range(num_items - 1) < num_segments - 1, tf.int32)
    order = tf.argsort(tf.random.stateless_uniform([num_items - 1], seed))
    first = tf.pad(tf.gather(first, order), [[1, 0]])
    segment_id = tf.cumsum(first)
    return tf.math.unsorted_segment_sum(
        tf.ones_like(segment_id), segment_id, num_segments
    )


def noise_mask(length, num_noise, num_spans, seed):
    """Bool (length,): True at the noise tokens; spans alternate, first clean."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    noise_lengths = _random_segmentation(num_noise, num_spans, seeds[0])
    clean_lengths = _random_segmentation(length - num_noise, num_spans, seeds[1])
    interleaved = tf.reshape(tf.stack([clean_lengths, noise_lengths], 1), [-1])
    starts = tf.cumsum(interleaved)[:-1]
    start_flags = tf.math.unsorted_segment_sum(tf.ones_like(starts), starts, length)
    return tf.equal(tf.math.floormod(tf.cumsum(start_flags), 2), 1)


def _spans_to_sentinels(tokens, mask, sentinel_ids):
    """Each run of masked tokens -> its sentinel; the rest kept."""
    previous = tf.pad(mask[:-1], [[1, 0]])
    first = mask & ~previous
    later = mask & previous
    span_index = tf.cumsum(tf.cast(first, tf.int32)) - 1
    sentinel = tf.gather(sentinel_ids, tf.maximum(span_index, 0))
    tokens = tf.where(first, sentinel, tokens)
    return tf.boolean_mask(tokens, ~later)


def span_corruption(
    token_ids, seed, sentinel_ids, noise_density=0.15, mean_noise_span_length=3.0
):
    """T5 span corruption of one 1-D sequence with a static length.

    Args:
        token_ids: int32 (L,), L known when traced (L >= 2).
        seed: int32 (2,), a stateless seed.
        sentinel_ids: list of sentinel ids, used in order.
        noise_density: fraction of tokens to corrupt.
        mean_noise_span_length: mean span length.

    Returns:
        `(inputs, targets)`, int32 1-D tensors of static length
        `L - noise + spans` and `noise + spans`.
    """
    length = token_ids.shape[0]
    if length is None or length < 2:
        raise DataError(f"span_corruption needs a static length >= 2, got {length}.")
    check_sentinels(sentinel_ids)
    num_noise, num_spans = span_counts(
        length, noise_density, mean_noise_span_length, len(sentinel_ids)
    )
    mask = noise_mask(length, num_noise, num_spans, seed)
    sentinels = tf.constant(sentinel_ids, tf.int32)
    tokens = tf.cast(token_ids, tf.int32)
    inputs = _spans_to_sentinels(tokens, mask, sentinels)
    targets = _spans_to_sentinels(tokens, ~mask, sentinels)
    inputs.set_shape([length - num_noise + num_spans])
    targets.set_shape([num_noise + num_spans])
    return inputs, targets
