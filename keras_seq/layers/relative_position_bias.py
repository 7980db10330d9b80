"""T5's learned, bucketed relative position bias for attention logits."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_seq")
class RelativePositionBias(keras.layers.Layer):
    """Learned attention bias that depends on the key-query distance only.

    T5 puts no position embedding on the tokens. Instead every attention logit
    gets a learned scalar per head that depends on the relative position
    `r = j - i` of key `j` and query `i`:

        scores[h, i, j] = q_i . k_j + b[h, bucket(j - i)]

    Distances are put in `num_buckets` buckets: exact buckets for small
    distances, logarithmically wider ones up to `max_distance`, and one last
    bucket for everything farther. With `bidirectional=True` (encoder) half of
    the buckets are for keys after the query (`r > 0`) and half for the others;
    with `bidirectional=False` (causal decoder) all buckets are for `r <= 0`
    and keys after the query share bucket 0 (a causal mask hides them anyway).
    With `B = num_buckets` (halved when bidirectional), `n = |r|` (or
    `max(-r, 0)` when not bidirectional) and `E = B // 2`:

        bucket(r) = [B if bidirectional and r > 0 else 0]
                  + (n                                           if n < E
                     min(B - 1, E + floor(log(n / E)
                                          / log(max_distance / E) * (B - E)))
                                                                  otherwise)

    The layer returns the bias `b[h, bucket(j - i)]` as a tensor of shape
    `(1, num_heads, query_length, key_length)`, to add to the attention logits
    `(batch, num_heads, query_length, key_length)`. Only the lengths of
    `query` and `key` are used, not their values, so masks are not used either:
    padding is masked by the attention that consumes the bias. In T5 one such
    layer serves all the layers of a stack (one for the encoder, one for the
    decoder).

    Args:
        num_heads: int > 0. Number of attention heads (one bias per head).
        num_buckets: int. Number of distance buckets. Defaults to `32`.
        max_distance: int. Distances from this on share the last bucket.
            Defaults to `128`.
        bidirectional: bool. `True` for encoder self-attention (keys on both
            sides), `False` for causal decoder self-attention. Defaults to
            `True`.
        embeddings_initializer: initializer of the `(num_buckets, num_heads)`
            table. Defaults to `RandomNormal(stddev=0.05)`.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: tensor `(batch, query_length, ...)`; only its length is used.
        key: optional tensor `(batch, key_length, ...)`; defaults to `query`
            (self-attention).
        query_start_index: int or int scalar tensor, the absolute position of
            the first query. In cached decoding the query is one new token at
            position `index` and the keys span the whole cache. Defaults to 0.

    Example:

    >>> import numpy as np
    >>> from keras_seq.layers import RelativePositionBias
    >>> bias = RelativePositionBias(num_heads=4, num_buckets=8, max_distance=16)
    >>> x = np.zeros((2, 5, 32), "float32")
    >>> tuple(bias(x).shape)
    (1, 4, 5, 5)
    >>> np.asarray(bias.relative_position_bucket([-3, -1, 0, 1, 3])).tolist()
    [2, 1, 0, 5, 6]

    References:
        - [Raffel et al., 2020](https://arxiv.org/abs/1910.10683), T5,
          section 2.1 ("Model"), and Mesh TensorFlow's
          `_relative_position_bucket`.
        - [Shaw et al., 2018](https://arxiv.org/abs/1803.02155), relative
          position representations.
    """

    def __init__(
        self,
        num_heads,
        num_buckets=32,
        max_distance=128,
        bidirectional=True,
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = f"{self.__class__.__name__} {self.name!r}"
        for arg, value in (("num_heads", num_heads), ("num_buckets", num_buckets)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"{name}: `{arg}` must be a positive int, got {arg}={value!r}."
                )
        # Each direction needs at least one exact bucket: E = B // 2 >= 1.
        min_buckets = 4 if bidirectional else 2
        if num_buckets < min_buckets:
            raise ValueError(
                f"{name}: `num_buckets` must be >= {min_buckets} when "
                f"bidirectional={bidirectional}, got num_buckets={num_buckets}."
            )
        max_exact = (num_buckets // 2 if bidirectional else num_buckets) // 2
        if not isinstance(max_distance, int) or max_distance <= max_exact:
            raise ValueError(
                f"{name}: `max_distance` must be an int > {max_exact} (the "
                f"number of exact buckets per direction for num_buckets="
                f"{num_buckets}), got max_distance={max_distance!r}."
            )
        self.num_heads = num_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(stddev=0.05)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, query_shape, key_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_buckets, self.num_heads),
            initializer=self.embeddings_initializer,
        )

    def relative_position_bucket(self, relative_position):
        """Maps int relative positions `r = j - i` to buckets in `[0, num_buckets)`."""
        r = ops.convert_to_tensor(relative_position, "int32")
        num_buckets = self.num_buckets
        if self.bidirectional:
            num_buckets //= 2
            # Keys after the query (r > 0) use the upper half of the buckets.
            offset = ops.cast(ops.greater(r, 0), "int32") * num_buckets
            n = ops.abs(r)
        else:
            offset = ops.zeros_like(r)
            n = ops.maximum(-r, 0)
        max_exact = num_buckets // 2  # E
        is_small = ops.less(n, max_exact)
        # E + floor(log(n / E) / log(max_distance / E) * (B - E)), in float32
        # in this order (as Mesh TensorFlow and keras-hub do, so boundaries
        # fall in the same buckets). n >= E wherever it is used; the maximum
        # only keeps log() finite where `is_small` picks the other branch.
        n_large = ops.cast(ops.maximum(n, max_exact), "float32")
        log_ratio = ops.log(n_large / ops.cast(max_exact, "float32"))
        scaled = (
            log_ratio
            / ops.cast(math.log(self.max_distance / max_exact), "float32")
            * (num_buckets - max_exact)
        )
        if_large = max_exact + ops.cast(scaled, "int32")
        if_large = ops.minimum(if_large, num_buckets - 1)
        return offset + ops.where(is_small, n, if_large)

    def _check_rank(self, tensor, what):
        if len(tensor.shape) < 2:
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r}: `{what}` must have "
                f"shape (batch, length, ...), got shape {tuple(tensor.shape)}."
            )

    def call(self, query, key=None, query_start_index=0):
        self._check_rank(query, "query")
        if key is None:
            key = query
        self._check_rank(key, "key")
        if isinstance(query_start_index, int) and query_start_index < 0:
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r}: `query_start_index` "
                f"must be >= 0, got {query_start_index}."
            )
        query_length = ops.shape(query)[1]
        key_length = ops.shape(key)[1]
        # i: absolute query positions (column); j: key positions (row).
        start = ops.cast(query_start_index, "int32")
        i = ops.expand_dims(ops.arange(query_length, dtype="int32") + start, 1)
        j = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
        buckets = self.relative_position_bucket(j - i)  # (Tq, Tk)
        # b[h, bucket(j - i)]: (Tq, Tk, H) -> (1, H, Tq, Tk).
        values = ops.take(self.embeddings, buckets, axis=0)
        values = ops.expand_dims(ops.transpose(values, (2, 0, 1)), 0)
        return ops.cast(values, self.compute_dtype)

    def compute_output_shape(self, query_shape, key_shape=None):
        key_shape = query_shape if key_shape is None else key_shape
        return (1, self.num_heads, query_shape[1], key_shape[1])

    def compute_mask(self, inputs, mask=None):
        # The bias has no sequence axis of its own: no Keras mask on it.
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "num_buckets": self.num_buckets,
                "max_distance": self.max_distance,
                "bidirectional": self.bidirectional,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
