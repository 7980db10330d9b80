"""Text in, text out: what `serve_text` and `generate` run around the model.

`TextModel(run, max_length, ...)` holds a trained model with its tokenizer and
gives the text interface of its kind (see `keras_seq.export.model_dir`):

- `graph_outputs(texts, seed=None)`: TensorFlow ops only (tokenizer, model,
  decoding loop), traced into the exported SavedModel's `serve_text` (greedy)
  and `generate` (the configured sampler, seeded) signatures.
- `keras_outputs(texts, seed=None)`: the same request answered eagerly
  through the Keras model's own `generate()` (`jit_compile=False`), the
  reference an export is verified against and what `keras-seq-generate` runs
  from a `.keras` model.

Both share the pre- and post-processing below, so a difference between them
can only come from the model and the decoding loop.

Pre-processing, as the training pipelines (`keras_seq.data.pipelines`) do it,
padding with the tokenizer's pad id (`special_ids["pad"]`: 0 for our
vocabularies, BERT and T5; GPT-2's `<|endoftext|>`):

- language model: the prompt's tokens (the last `max_length - 1`, so there is
  room to generate; `<s>` for an empty prompt) right-padded into a
  `(B, max_length)` buffer, with the `(B, max_length)` bool mask of the
  prompt's positions (from the prompts' lengths, not from the pad id: a
  GPT-2 checkpoint's pad id is a real token).
- seq2seq: source tokens (at most the run's `sequence_length`, as in
  training; at most `L - 1` for a fixed length `L`) then `</s>`; the decoder
  buffer starts with `start_token_id`.
- classifier: the text's tokens (BERT: `<cls> tokens <sep>`, segment 0), at
  most `max_length`.

Outputs: `{"text": (B,) string, "token_ids": (B, max_length) int32}` for
generative models (a language model returns the continuation only, the
`token_ids` hold the prompt too; a seq2seq model returns the decoded target,
its `token_ids` start with the start id); `{"label": (B,) string,
"label_id": (B,) int32, "scores": (B, C) float32}` (softmax) for classifiers.
"""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_seq.export.model_dir import ExportError
from zoo import generation


class TextModel:
    """A trained model's text interface (see the module docstring).

    Args:
        run: a `keras_seq.export.model_dir.Run` of kind language_model,
            seq2seq or classifier.
        max_length: the generation buffer (prompt included) of a generative
            model; the most tokens kept of a classifier's text. Default: the
            run's sequence length.
        sampler: `"greedy"`, `"top_k"`, `"top_p"` or `"beam"`.
        temperature: float > 0, divides the logits.
        top_k: int, tokens `"top_k"` samples from.
        top_p: float in (0, 1], probability mass `"top_p"` samples from.
        num_beams: int, beam width of `"beam"`.
    """

    def __init__(
        self,
        run,
        max_length=None,
        sampler="greedy",
        temperature=1.0,
        top_k=5,
        top_p=0.9,
        num_beams=4,
    ):
        if run.kind not in ("language_model", "seq2seq", "classifier"):
            raise ExportError(
                f"{run.family} on {run.config.get('dataset')!r} has no text "
                f"interface (kind {run.kind!r}: no tokenizer, or not a text task)."
            )
        self.run = run
        self.model = run.model
        self.tokenizer = run.tokenizer
        self.max_length = run.check_length("max_length", max_length)
        self.sampler = sampler
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.num_beams = num_beams
        specials = self.tokenizer.special_ids
        self.bos, self.eos = specials["bos"], specials["eos"]
        self.pad = int(specials["pad"])
        self.stop_token_ids = (self.eos,) if run.generative else None
        if run.generative:
            # Checks the sampler arguments now, with the model's messages.
            self.make_sampler(sampler)

    # === Pre- and post-processing (TensorFlow ops) ===

    def prompt_ids(self, texts):
        """LM prompts `(B,)` -> ragged int32 ids, at most `max_length - 1`."""
        ids = self.tokenizer.tokenize(texts)[:, -(self.max_length - 1) :]
        empty = tf.cast(ids.row_lengths() == 0, tf.int64)
        # <s> for an empty prompt: every prompt needs one token.
        start = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(empty)], self.bos), empty
        )
        return tf.concat([tf.cast(start, tf.int32), tf.cast(ids, tf.int32)], axis=1)

    def prompt_buffer(self, texts):
        """LM prompts `(B,)` -> `(B, max_length)` int32, right-padded."""
        return self._buffer(self.prompt_ids(texts))

    def prompt_mask(self, texts):
        """LM prompts `(B,)` -> `(B, max_length)` bool, True at prompt tokens."""
        return self._mask(self.prompt_ids(texts))

    def _buffer(self, ids):
        return ids.to_tensor(default_value=self.pad, shape=[None, self.max_length])

    def _mask(self, ids):
        return tf.sequence_mask(ids.row_lengths(), self.max_length)

    def source_ids(self, texts, length=None):
        """Source texts -> `(B, S)` encoder ids `tokens </s>`, 0-padded.

        `S` is the longest source, at most the run's sequence length plus
        one; with `length`, every row is cut or padded to `length`.
        """
        ids = tf.cast(self.tokenizer.tokenize(texts), tf.int32)
        limit = length - 1 if length else self.run.source_length()
        if limit:
            ids = ids[:, :limit]
        eos = tf.fill([ids.nrows(), 1], tf.constant(self.eos, tf.int32))
        ids = tf.concat([ids, eos], axis=1)
        if length:
            return ids.to_tensor(default_value=self.pad, shape=[None, length])
        return _dense(ids, self.pad)

    def decoder_buffer(self, batch_size):
        """`(B, max_length)`: `start_token_id` then pad ids."""
        start = tf.fill([batch_size, 1], tf.constant(self.start_id, tf.int32))
        pad = tf.fill([batch_size, self.max_length - 1], tf.constant(self.pad))
        return tf.concat([start, pad], axis=1)

    def decoder_mask(self, batch_size):
        """`(B, max_length)` bool: only the start position is prompt."""
        return tf.sequence_mask(tf.ones([batch_size], tf.int32), self.max_length)

    @property
    def start_id(self):
        return int(getattr(self.model, "start_token_id", self.bos))

    def classifier_inputs(self, texts):
        """Texts -> the classifier's input dict (`(B, T)` int32 each)."""
        ids = tf.cast(self.tokenizer.tokenize(texts), tf.int32)
        if self.run.facts.batch_format("classification") == "cls_sep_classification":
            specials = self.tokenizer.special_ids
            ids = ids[:, : self.max_length - 2]
            rows = ids.nrows()
            cls = tf.fill([rows, 1], tf.constant(specials["cls"], tf.int32))
            sep = tf.fill([rows, 1], tf.constant(specials["sep"], tf.int32))
            token_ids = _dense(tf.concat([cls, ids, sep], axis=1), self.pad)
            return {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids)}
        return {"token_ids": _dense(ids[:, : self.max_length], self.pad)}

    def generation_inputs(self, texts):
        """Texts -> (other model inputs, token buffer, first index to fill,
        prompt mask: `(B, max_length)` bool, True at the prompt's tokens)."""
        texts = tf.convert_to_tensor(texts, tf.string)
        if self.run.kind == "language_model":
            ids = self.prompt_ids(texts)
            start = tf.cast(tf.reduce_min(ids.row_lengths()), tf.int32)
            return {}, self._buffer(ids), start, self._mask(ids)
        sources = self.source_ids(texts)
        rows = tf.shape(sources)[0]
        buffer = self.decoder_buffer(rows)
        start = tf.constant(1, tf.int32)
        return {"encoder_token_ids": sources}, buffer, start, self.decoder_mask(rows)

    def decode(self, tokens, prompt_mask):
        """Generated tokens -> `{"text", "token_ids"}`; `prompt_mask` marks
        the prompt's positions."""
        tokens = tf.cast(tokens, tf.int32)
        if self.run.kind == "language_model":
            new = tf.ragged.boolean_mask(tokens, tf.logical_not(prompt_mask))
            text = self.tokenizer.detokenize(new)
        else:
            text = self.tokenizer.detokenize(tokens[:, 1:])
        return {"text": text, "token_ids": tokens}

    def classify(self, logits):
        scores = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_id = tf.argmax(scores, axis=-1, output_type=tf.int32)
        names = tf.constant(self.run.label_names, tf.string)
        return {
            "label": tf.gather(names, label_id),
            "label_id": label_id,
            "scores": scores,
        }

    # === In the graph ===

    def graph_outputs(self, texts, sampler_obj=None, seed=None):
        """TensorFlow ops: texts -> outputs (see the module docstring).

        Args:
            texts: `(B,)` string tensor.
            sampler_obj: the keras-hub sampler of a generative model (from
                `make_sampler`); greedy when `None`.
            seed: int32 scalar tensor restarting `sampler_obj`'s random stream.
        """
        if self.run.kind == "classifier":
            inputs = self.classifier_inputs(texts)
            return self.classify(self.model(inputs, training=False))
        if sampler_obj is None:
            sampler_obj = self.make_sampler("greedy")
        if seed is not None:
            generation.seed_sampler(sampler_obj, seed)
        other_inputs, buffer, start, prompt_mask = self.generation_inputs(texts)
        if isinstance(sampler_obj, keras_hub.samplers.BeamSampler):
            # As `generate()` checks: beam search needs equal prompt lengths.
            lengths = tf.reduce_sum(tf.cast(prompt_mask, tf.int32), axis=1)
            tf.debugging.assert_equal(
                lengths,
                tf.reduce_min(lengths),
                message=f"{type(self.model).__name__}: beam search needs "
                "prompts of equal length (in tokens)",
            )
        # The loop `model.generate()` compiles, here traced into the graph.
        step = self.model.make_generate_function(sampler_obj, self.stop_token_ids)
        # An empty batch generates nothing (some decoding loops cannot run on
        # zero rows): its outputs are the empty buffer.
        tokens = tf.cond(
            tf.shape(buffer)[0] > 0,
            lambda: tf.cast(
                step(other_inputs, buffer, start, prompt_mask), buffer.dtype
            ),
            lambda: buffer,
        )
        return self.decode(tokens, prompt_mask)

    def make_sampler(self, sampler=None):
        """A fresh keras-hub sampler, `self.sampler` by default."""
        return self.model.make_sampler(
            sampler or self.sampler,
            temperature=self.temperature,
            k=self.top_k,
            p=self.top_p,
            num_beams=self.num_beams,
        )

    # === The Keras reference ===

    def keras_outputs(self, texts, sampler=None, seed=None):
        """Answers `texts` through the Keras model (numpy outputs).

        Generative models run `model.generate()` with `jit_compile=False`
        (the exported graph runs without XLA, and TF's random ops draw other
        numbers under XLA); `sampler` defaults to greedy.
        """
        texts = tf.constant(list(texts), tf.string)
        if self.run.kind == "classifier":
            inputs = self.classifier_inputs(texts)
            logits = self.model({k: v.numpy() for k, v in inputs.items()})
            return _numpy(self.classify(keras.ops.convert_to_numpy(logits)))
        other_inputs, buffer, _, prompt_mask = self.generation_inputs(texts)
        key = self.model.generation_prompt_key
        inputs = {k: v.numpy() for k, v in other_inputs.items()}
        inputs[key] = buffer.numpy()
        tokens = self.model.generate(
            inputs,
            self.max_length,
            sampler=sampler or "greedy",
            temperature=self.temperature,
            k=self.top_k,
            p=self.top_p,
            num_beams=self.num_beams,
            stop_token_ids=self.stop_token_ids,
            seed=seed,
            jit_compile=False,
            prompt_mask=prompt_mask.numpy(),
        )
        return _numpy(self.decode(tf.constant(tokens), prompt_mask))

    def settings(self):
        """The text settings, as recorded with an export."""
        if not self.run.generative:
            return {"max_length": self.max_length}
        return {
            "max_length": self.max_length,
            "sampler": self.sampler,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "num_beams": self.num_beams,
            "stop_token_ids": list(self.stop_token_ids or []),
        }


def _dense(ids, pad_id=0, min_width=1):
    """Ragged ids -> dense ids padded with `pad_id`, at least `min_width` wide
    (an empty batch, or a batch of empty texts, still gives the model a time
    step)."""
    dense = ids.to_tensor(default_value=pad_id)
    pad = tf.maximum(min_width - tf.shape(dense)[1], 0)
    return tf.pad(dense, [[0, 0], [0, pad]], constant_values=pad_id)


def _numpy(outputs):
    return {k: np.asarray(v) for k, v in outputs.items()}
