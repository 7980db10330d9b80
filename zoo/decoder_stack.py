"""`DecoderStack`: cached decoding through a stack of Transformer decoder layers.

The one decoder-stack loop and cache structure of the zoo's Transformers
(`gpt`, `transformer`, `t5`, and users' families built from
`keras_seq.layers.TransformerDecoderBlock`). The cache of a stack holds one
tensor per layer, `(batch, 2, length, num_heads, depth)`: the layer's keys
(`[:, 0]`) and values (`[:, 1]`), the layout of
`keras_seq.layers.MultiHeadAttention`'s cache. keras-hub's samplers carry it
through their loop (beam search reorders its batch axis), and TFLite takes
each as one tensor of rank 5 (its `STRIDED_SLICE` kernel stops at 5).

- Decoder-only (`initial_cache(batch_size, max_length)`): the cache is the
  tuple of self-attention caches, starting at zero.
- Encoder-decoder (`initial_cache(..., encoder_output=e,
  encoder_padding_mask=m)`): a dict of `"self_attention"` (that tuple),
  `"cross_attention"` (a tuple of the keys and values of `e` for every
  layer's cross-attention, computed once before decoding) and
  `"encoder_padding_mask"` (`(batch, S)` int32, 1 at real encoder tokens).

Calling the stack runs new positions through every layer with its caches and
returns the outputs and the updated cache, of the same structure.

`TransformerGenerationMixin` is the generation contract
(`zoo.generation.GenerationMixin`: `build_cache`, `call_with_cache`) of a
model that decodes through a `DecoderStack`, written once for gpt,
transformer and t5; the family supplies its embedding, its logits and (for an
encoder-decoder) its encoder.

Example:

    >>> import numpy as np
    >>> from keras_seq.layers import TransformerDecoderBlock
    >>> from zoo.decoder_stack import DecoderStack
    >>> blocks = [TransformerDecoderBlock(16, 4, 32) for _ in range(2)]
    >>> y = np.random.rand(1, 3, 16).astype("float32")
    >>> full = y
    >>> for block in blocks:
    ...     full = block(full)
    >>> stack = DecoderStack(blocks)
    >>> cache = stack.initial_cache(batch_size=1, max_length=3)
    >>> out, cache = stack(y, cache, index=0)
    >>> bool(np.allclose(out, full, atol=1e-5)), len(cache), cache[0].shape
    (True, 2, TensorShape([1, 2, 3, 4, 4]))
"""

from keras import ops

from keras_seq.layers import TransformerDecoderBlock, TransformerEncoderBlock
from zoo.generation import GenerationMixin


class DecoderStack:
    """The decoder layers of a model, run with one key/value cache each.

    Args:
        layers: the decoder layers, in order: `TransformerDecoderBlock`s (or
            layers with its call signature and its `self_attention` and, in an
            encoder-decoder, `cross_attention`).
    """

    def __init__(self, layers):
        self.layers = list(layers)

    def self_attention_caches(self, batch_size, max_length):
        """Zero caches: a tuple of `(batch, 2, max_length, heads, depth)`."""
        return tuple(
            layer.self_attention.initial_cache(batch_size, max_length)
            for layer in self.layers
        )

    def cross_attention_caches(self, memory):
        """The keys and values of `memory` `(batch, S, d)` for every layer's
        cross-attention: a tuple of `(batch, 2, S, heads, depth)`."""
        return tuple(
            layer.cross_attention.key_value_cache(memory) for layer in self.layers
        )

    def initial_cache(
        self, batch_size, max_length, encoder_output=None, encoder_padding_mask=None
    ):
        """The cache before decoding (see the module docstring).

        Args:
            batch_size: int or scalar tensor.
            max_length: int or scalar tensor, the decoder positions to cache.
            encoder_output: optional `(batch, S, d)`, the encoder's output
                (encoder-decoders).
            encoder_padding_mask: optional `(batch, S)`, true at real encoder
                tokens (default: all are real).
        """
        caches = self.self_attention_caches(batch_size, max_length)
        if encoder_output is None:
            return caches
        if encoder_padding_mask is None:
            encoder_padding_mask = ops.ones(ops.shape(encoder_output)[:2], "int32")
        return {
            "self_attention": caches,
            "cross_attention": self.cross_attention_caches(encoder_output),
            "encoder_padding_mask": ops.cast(encoder_padding_mask, "int32"),
        }

    def run(self, x, encoder_output=None, **kwargs):
        """The uncached pass over whole sequences (training, the model's graph).

        Args:
            x: `(batch, T, d)`, the decoder inputs.
            encoder_output: `(batch, S, d)` for an encoder-decoder, else `None`.
            **kwargs: `TransformerDecoderBlock` call arguments for every layer
                (`decoder_padding_mask`, `encoder_padding_mask`,
                `self_attention_bias`, ...).
        """
        memory = () if encoder_output is None else (encoder_output,)
        for layer in self.layers:
            x = layer(x, *memory, **kwargs)
        return x

    def __call__(self, x, cache, index, self_attention_bias=None):
        """Runs new positions through every layer with its caches.

        Args:
            x: `(batch, n, d)`, the inputs at positions `index ... index + n - 1`.
            cache: the stack's cache, as `initial_cache` made it.
            index: int or int scalar tensor, the position of `x[:, 0]` (where
                the new keys and values are written).
            self_attention_bias: optional, added to every self-attention's
                logits (e.g. T5's relative position bias).

        Returns:
            `(outputs, cache)`: `(batch, n, d)` and the updated cache.
        """
        encoder_decoder = isinstance(cache, dict)
        caches = cache["self_attention"] if encoder_decoder else cache
        if len(caches) != len(self.layers):
            raise ValueError(
                f"DecoderStack: {len(self.layers)} layers, got {len(caches)} caches."
            )
        crosses = (None,) * len(self.layers)
        kwargs = {}
        if encoder_decoder:
            crosses = cache["cross_attention"]
            kwargs["encoder_padding_mask"] = cache["encoder_padding_mask"]
        updated = []
        for layer, layer_cache, cross in zip(self.layers, caches, crosses):
            outputs = layer(
                x,
                self_attention_bias=self_attention_bias,
                self_attention_cache=layer_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross,
                **kwargs,
            )
            x, layer_cache = outputs[0], outputs[1]
            updated.append(layer_cache)
        if encoder_decoder:
            return x, {**cache, "self_attention": tuple(updated)}
        return x, tuple(updated)


def encoder_decoder_blocks(num_layers, **block_args):
    """The layers of a Transformer encoder-decoder, all made with `block_args`
    (`TransformerEncoderBlock`'s arguments).

    Returns:
        `(encoder_layers, decoder_layers)`: `num_layers`
        `TransformerEncoderBlock`s named `encoder_layer_{i}`, and as many
        `TransformerDecoderBlock`s named `decoder_layer_{i}`.
    """
    encoder_layers = [
        TransformerEncoderBlock(**block_args, name=f"encoder_layer_{i}")
        for i in range(num_layers)
    ]
    decoder_layers = [
        TransformerDecoderBlock(**block_args, name=f"decoder_layer_{i}")
        for i in range(num_layers)
    ]
    return encoder_layers, decoder_layers


class TransformerGenerationMixin(GenerationMixin):
    """Cached generation of a Transformer through its `DecoderStack`.

    The model (a `ZooModel`) gives:

    - `decoder_layers`: its `TransformerDecoderBlock`s, in order;
    - `embed_decoder(token_ids, index)`: the first block's inputs for tokens
      at positions `index ...`;
    - `decoder_logits(x)`: the logits from the last block's outputs;
    - an encoder-decoder: `encode(encoder_token_ids)` -> `(encoder_output,
      encoder_padding_mask)`, run once by `build_cache`;
    - optionally `decoder_attention_bias(x, cache, index)`: a bias added to
      every self-attention's logits (default: none).

    Every position's cached keys and values depend on the tokens up to it
    only, so the prompt is fed in one call (`parallel_prefill`).
    """

    parallel_prefill = True

    @property
    def decoder_stack(self):
        """The decoder layers and their caches."""
        return DecoderStack(self.decoder_layers)

    def decoder_attention_bias(self, x, cache, index):
        return None

    def build_cache(self, inputs):
        """The `DecoderStack` cache for a prompt buffer `(B, L)`; an
        encoder-decoder runs its encoder here, once."""
        buffer = inputs[self.generation_prompt_key]
        batch_size, max_length = ops.shape(buffer)[0], ops.shape(buffer)[1]
        if "encoder_token_ids" not in inputs:
            return self.decoder_stack.initial_cache(batch_size, max_length)
        encoder_token_ids = ops.convert_to_tensor(inputs["encoder_token_ids"])
        encoder_output, encoder_padding_mask = self.encode(encoder_token_ids)
        return self.decoder_stack.initial_cache(
            batch_size,
            max_length,
            encoder_output=encoder_output,
            encoder_padding_mask=encoder_padding_mask,
        )

    def call_with_cache(self, token_ids, cache, index):
        """Feeds `token_ids` `(B, n)` at positions `index ...`; returns
        `(logits, cache)`."""
        x = self.embed_decoder(token_ids, index)
        bias = self.decoder_attention_bias(x, cache, index)
        x, cache = self.decoder_stack(x, cache, index, self_attention_bias=bias)
        return self.decoder_logits(x), cache


__all__ = ["DecoderStack", "TransformerGenerationMixin", "encoder_decoder_blocks"]
