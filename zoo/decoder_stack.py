"""`DecoderStack`: cached decoding through a stack of Transformer decoder layers.

The one decoder-stack loop and cache structure of the zoo's Transformers
(`gpt`, `transformer`, `t5`). The cache of a stack is a tuple with one tensor
per layer, `(batch, 2, length, num_heads, depth)`: the layer's keys
(`[:, 0]`) and values (`[:, 1]`), the layout of
`keras_seq.layers.MultiHeadAttention`'s cache. keras-hub's samplers carry such
a tuple through their loop (beam search reorders its batch axis), and TFLite
takes each as one tensor of rank 5 (its `STRIDED_SLICE` kernel stops at 5).

Self-attention caches start at zero (`self_attention_caches`); the
cross-attention caches of an encoder-decoder hold the encoder output's keys
and values, computed once before decoding (`cross_attention_caches`).

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
    >>> caches = stack.self_attention_caches(batch_size=1, max_length=3)
    >>> def step(block, x, cache, cross_cache, index):
    ...     return block(x, self_attention_cache=cache,
    ...                  self_attention_cache_update_index=index)
    >>> out, caches = stack(y, caches, step, index=0)
    >>> bool(np.allclose(out, full, atol=1e-5)), len(caches), caches[0].shape
    (True, 2, TensorShape([1, 2, 3, 4, 4]))
"""


class DecoderStack:
    """The decoder layers of a model, run with one key/value cache each.

    Args:
        layers: the decoder layers, in order. Each has a `self_attention` (a
            `keras_seq.layers.MultiHeadAttention`) and, in an
            encoder-decoder, a `cross_attention`.
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

    def __call__(self, x, caches, call_layer, cross_attention_caches=None, **kwargs):
        """Runs `x` through every layer with its caches.

        Args:
            x: `(batch, n, d)`, the new positions.
            caches: the tuple of self-attention caches, one per layer.
            call_layer: `call_layer(layer, x, cache, cross_cache, **kwargs)
                -> (x, cache)`, one layer's cached call (the family's
                layer signature).
            cross_attention_caches: optional tuple, one per layer.
            **kwargs: passed to every `call_layer` (e.g. `index`).

        Returns:
            `(x, caches)`: the output and the tuple of updated caches.
        """
        if len(caches) != len(self.layers):
            raise ValueError(
                f"DecoderStack: {len(self.layers)} layers, got {len(caches)} caches."
            )
        crosses = cross_attention_caches or (None,) * len(self.layers)
        updated = []
        for layer, cache, cross in zip(self.layers, caches, crosses):
            x, cache = call_layer(layer, x, cache, cross, **kwargs)
            updated.append(cache)
        return x, tuple(updated)


__all__ = ["DecoderStack"]
