"""RelativePositionBias: standard layer checks, and parity with keras-hub's T5."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.src.models.t5.t5_multi_head_attention import T5MultiHeadAttention

from keras_seq.layers import RelativePositionBias
from keras_seq.testing import run_layer_test


@pytest.mark.parametrize("bidirectional", [True, False])
def test_layer_properties(rng, bidirectional):
    # The bias has batch size 1 (it broadcasts over the batch), so the fit
    # check in `run_layer_test` needs inputs of batch size 1 too.
    query = rng.normal(size=(1, 5, 4)).astype("float32")
    key = rng.normal(size=(1, 7, 4)).astype("float32")
    run_layer_test(
        RelativePositionBias,
        {
            "num_heads": 3,
            "num_buckets": 8,
            "max_distance": 16,
            "bidirectional": bidirectional,
        },
        (query, key),
        expected_output_shape=(1, 3, 5, 7),
    )


def _keras_hub_bias(table, bidirectional, query_length, key_length, start=0):
    """keras-hub's T5 attention with our table copied in (32 buckets, 128)."""
    ref = T5MultiHeadAttention(
        is_decoder=not bidirectional,
        hidden_dim=8,
        key_value_dim=4,
        num_heads=table.shape[1],
        dropout=0.0,
        use_relative_attention_bias=True,
    )
    ref.relative_attention_bias.assign(table)
    return np.asarray(ref.compute_bias(query_length, key_length, start))


@pytest.mark.parametrize("bidirectional", [True, False])
def test_parity_with_keras_hub_t5(rng, bidirectional):
    layer = RelativePositionBias(num_heads=4, bidirectional=bidirectional)
    # 300 positions: exact, logarithmic and clipped (>= 128) buckets.
    q = np.zeros((2, 300, 8), "float32")
    k = np.zeros((2, 260, 8), "float32")
    ours = np.asarray(layer(q, k))
    table = layer.get_weights()[0]
    assert table.shape == (32, 4)
    np.testing.assert_allclose(
        ours, _keras_hub_bias(table, bidirectional, 300, 260), atol=0
    )
    # Cached decoding: one query at absolute position 141, keys = the cache.
    step = np.asarray(layer(q[:, :1], k, query_start_index=141))
    np.testing.assert_allclose(
        step, _keras_hub_bias(table, bidirectional, 1, 260, 141), atol=0
    )
    np.testing.assert_array_equal(step[0, :, 0], ours[0, :, 141])


@pytest.mark.parametrize(
    "num_buckets,max_distance,bidirectional",
    [(32, 128, True), (32, 128, False), (8, 16, True), (6, 20, False)],
)
def test_buckets_match_t5_formula(num_buckets, max_distance, bidirectional):
    r = np.arange(-400, 401, dtype="int32")
    layer = RelativePositionBias(
        num_heads=1,
        num_buckets=num_buckets,
        max_distance=max_distance,
        bidirectional=bidirectional,
    )
    ours = np.asarray(layer.relative_position_bucket(r))
    ref = np.asarray(
        T5MultiHeadAttention._relative_position_bucket(
            tf.constant(r), bidirectional, num_buckets, max_distance
        )
    )
    np.testing.assert_array_equal(ours, ref)
    assert ours.min() == 0 and ours.max() == num_buckets - 1
    # Hand-checked points: distance 0 is bucket 0; far keys share the last one.
    assert ours[r == 0] == 0
    if bidirectional:
        assert ours[r == 400] == num_buckets - 1
        assert ours[r == -400] == num_buckets // 2 - 1
    else:
        assert ours[r == -400] == num_buckets - 1
        assert np.all(ours[r > 0] == 0)


def test_gradient_reaches_the_table(rng):
    layer = RelativePositionBias(num_heads=2, num_buckets=8, max_distance=16)
    x = np.zeros((1, 6, 4), "float32")
    w = rng.normal(size=(1, 2, 6, 6)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * w)
    (grad,) = tape.gradient(loss, layer.trainable_weights)
    # d loss / d table[b, h] = sum of w[h, i, j] over the (i, j) in bucket b.
    buckets = np.asarray(
        layer.relative_position_bucket(np.arange(6)[None, :] - np.arange(6)[:, None])
    )
    want = np.zeros((8, 2), "float32")
    for h in range(2):
        np.add.at(want[:, h], buckets, w[0, h])
    np.testing.assert_allclose(tf.convert_to_tensor(grad).numpy(), want, atol=1e-5)


def test_compiles_with_a_traced_start_index(rng):
    layer = RelativePositionBias(num_heads=2, bidirectional=False)
    q = np.zeros((1, 1, 4), "float32")
    k = np.zeros((1, 40, 4), "float32")
    full = np.asarray(layer(k, k))

    @tf.function(jit_compile=True)
    def step(index):
        return layer(q, k, query_start_index=index)

    for index in (0, 17, 39):
        np.testing.assert_array_equal(
            np.asarray(step(tf.constant(index))), full[:, :, index : index + 1]
        )


def test_masked_inputs_give_a_mask_free_bias():
    """Padding is the attention's job: a Keras mask on the query changes
    nothing and is not attached to the bias (which has no sequence axis)."""
    tokens = np.array([[3, 4, 0, 0]])
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(tokens)
    assert embedded._keras_mask is not None
    layer = RelativePositionBias(num_heads=2)
    bias = layer(embedded)
    assert getattr(bias, "_keras_mask", None) is None
    np.testing.assert_array_equal(
        np.asarray(bias), np.asarray(layer(np.zeros((1, 4, 4), "float32")))
    )


def test_mixed_precision_output():
    layer = RelativePositionBias(num_heads=2, dtype="mixed_float16")
    y = layer(np.zeros((1, 3, 4), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    assert layer.embeddings.dtype == "float32"


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="RelativePositionBias.*num_heads=0"):
        RelativePositionBias(num_heads=0)
    with pytest.raises(ValueError, match="RelativePositionBias.*num_buckets=2"):
        RelativePositionBias(num_heads=2, num_buckets=2, bidirectional=True)
    with pytest.raises(ValueError, match="RelativePositionBias.*max_distance=4"):
        RelativePositionBias(num_heads=2, num_buckets=32, max_distance=4)
    layer = RelativePositionBias(num_heads=2)
    with pytest.raises(ValueError, match=r"RelativePositionBias.*query.*\(5,\)"):
        layer(np.zeros((5,), "float32"))
    with pytest.raises(ValueError, match="RelativePositionBias.*query_start_index"):
        layer(np.zeros((1, 5, 2), "float32"), query_start_index=-1)
