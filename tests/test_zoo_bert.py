"""Tests of the `bert` zoo family (zoo/bert.py)."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import zoo_checks

import zoo
from zoo.bert import Bert

CLS, SEP, MASK = 2, 3, 4  # ids of the synthetic batches (0 is the pad id)


def _mlm_batch(vocab_size, batch_size=4, length=12, num_masked=3, seed=0):
    """`[CLS] a a a [SEP] b b b ...` with `num_masked` tokens replaced by [MASK].

    Returns `x` (token_ids, segment_ids, mask_positions) and `y`, the original
    ids at `mask_positions`. The last row is shorter (padded with 0).
    """
    rng = np.random.default_rng(seed)
    tokens = rng.integers(MASK + 1, vocab_size, size=(batch_size, length))
    tokens[:, 0] = CLS
    tokens[:, length // 2] = SEP
    tokens[-1, length - 4 :] = 0
    segment_ids = np.zeros_like(tokens)
    segment_ids[:, length // 2 + 1 :] = 1
    segment_ids[tokens == 0] = 0
    positions = np.stack(
        [
            np.sort(rng.choice(np.nonzero(row > MASK)[0], num_masked, replace=False))
            for row in tokens
        ]
    )
    y = np.take_along_axis(tokens, positions, axis=1)
    token_ids = tokens.copy()
    np.put_along_axis(token_ids, positions, MASK, axis=1)
    x = {
        "token_ids": token_ids.astype("int32"),
        "segment_ids": segment_ids.astype("int32"),
        "mask_positions": positions.astype("int32"),
    }
    return x, y.astype("int32")


def _classifier_batch(vocab_size, num_classes=3):
    x, _ = _mlm_batch(vocab_size)
    del x["mask_positions"]
    y = np.arange(len(x["token_ids"])) % num_classes
    return x, y.astype("int32")


def test_tiny_bert_masked_lm_trains_saves_and_exports():
    x, y = _mlm_batch(zoo.preset_config("bert", "tiny")["vocabulary_size"])
    zoo_checks.check_zoo_model("bert", x, y)


def test_tiny_bert_classifier_trains_and_saves():
    # The encoder and its export are checked above; here the classifier head:
    # config, fit and `.keras` round trip (its SavedModel export is left to
    # the export tool's tests to keep this file fast).
    x, y = _classifier_batch(zoo.preset_config("bert", "tiny")["vocabulary_size"], 3)
    model = zoo.build("bert", "tiny", num_classes=3)
    zoo_checks.check_config("bert", model, num_classes=3)
    assert set(model.input) == {"token_ids", "segment_ids"}
    assert tuple(model.outputs[0].shape) == (None, 3)
    zoo_checks.check_fit(model, x, y, steps=15)
    zoo_checks.check_keras_round_trip(model, x)


# --------------------------------------------------------------------------
# Parity with keras-hub's BERT (BertMaskedLM, BertTextClassifier).


def _keras_hub_backbone(hp):
    return keras_hub.models.BertBackbone(
        vocabulary_size=hp["vocabulary_size"],
        num_layers=hp["num_layers"],
        num_heads=hp["num_heads"],
        hidden_dim=hp["d_model"],
        intermediate_dim=hp["dff"],
        dropout=0.0,
        max_sequence_length=hp["max_sequence_length"],
        num_segments=hp["num_segments"],
    )


def _dense_pairs(theirs, ours):
    return [(theirs.kernel, ours.kernel), (theirs.bias, ours.bias)]


def _norm_pairs(theirs, ours):
    return [(theirs.gamma, ours.gamma), (theirs.beta, ours.beta)]


def _weight_pairs(reference, model):
    """(their variable, our variable) for every weight of ours.

    Keras's MultiHeadAttention kernels `(d, heads, depth)` are ours reshaped
    to `(d, heads * depth)`; the values move across with a reshape.
    """
    backbone = reference.backbone
    pairs = [
        (backbone.token_embedding.embeddings, model.token_embedding.embeddings),
        (
            backbone.position_embedding.position_embeddings,
            model.position_embedding.embeddings,
        ),
        (backbone.segment_embedding.embeddings, model.segment_embedding.embeddings),
    ]
    pairs += _norm_pairs(backbone.embeddings_layer_norm, model.embeddings_layer_norm)
    for theirs, ours in zip(backbone.transformer_layers, model.transformer_layers):
        mha = theirs._self_attention_layer
        attention = ours.self_attention
        for src, dst in [
            (mha.query_dense, attention.wq),
            (mha.key_dense, attention.wk),
            (mha.value_dense, attention.wv),
            (mha.output_dense, attention.dense),
        ]:
            pairs += _dense_pairs(src, dst)
        pairs += _norm_pairs(
            theirs._self_attention_layer_norm, ours.self_attention_layer_norm
        )
        pairs += _dense_pairs(
            theirs._feedforward_intermediate_dense,
            ours.feed_forward.intermediate_dense,
        )
        pairs += _dense_pairs(
            theirs._feedforward_output_dense, ours.feed_forward.output_dense
        )
        pairs += _norm_pairs(
            theirs._feedforward_layer_norm, ours.feedforward_layer_norm
        )
    if model.num_classes == 0:
        head = reference.masked_lm_head
        pairs += _dense_pairs(head._intermediate_dense, model.mlm_intermediate_dense)
        pairs += _norm_pairs(head._intermediate_layer_norm, model.mlm_layer_norm)
        pairs.append((head._bias, model.mlm_output_bias.bias))
    else:
        pairs += _dense_pairs(backbone.pooled_dense, model.pooled_dense)
        pairs += _dense_pairs(reference.output_dense, model.logits_dense)
    return pairs


@pytest.mark.parametrize("num_classes", [0, 3])
def test_matches_keras_hub_bert_with_copied_weights(num_classes):
    """Outputs and gradients equal keras-hub's BERT with the same weights."""
    hp = zoo.preset_config("bert", "tiny", dropout=0.0, num_classes=num_classes)
    model = zoo.build("bert", "tiny", dropout=0.0, num_classes=num_classes)
    backbone = _keras_hub_backbone(hp)
    if num_classes == 0:
        reference = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
        # BERT's LayerNorms all use epsilon 1e-12; keras-hub's MLM head keeps
        # the Keras default 1e-5 there. Compare like with like.
        reference.masked_lm_head._intermediate_layer_norm.epsilon = 1e-12
        x, _ = _mlm_batch(hp["vocabulary_size"])
    else:
        reference = keras_hub.models.BertTextClassifier(
            backbone, num_classes, preprocessor=None, dropout=0.0
        )
        x, _ = _classifier_batch(hp["vocabulary_size"], num_classes)
    ref_inputs = {**x, "padding_mask": x["token_ids"] != 0}
    pairs = _weight_pairs(reference, model)
    assert {id(ours) for _, ours in pairs} == {id(w) for w in model.weights}
    assert len(pairs) == len(model.weights)
    rng = np.random.default_rng(5)
    for theirs, ours in pairs:
        value = rng.normal(scale=0.05, size=theirs.shape).astype("float32")
        if "gamma" in theirs.path:
            value += 1.0
        theirs.assign(value)
        ours.assign(value.reshape(ours.shape))

    with tf.GradientTape(persistent=True) as tape:
        ours = model(x)
        theirs = reference(ref_inputs)
        probe = rng.normal(size=ours.shape)
        our_loss = tf.reduce_sum(ours * probe)
        their_loss = tf.reduce_sum(theirs * probe)
    np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=1e-5)
    our_grads = tape.gradient(our_loss, [p[1] for p in pairs])
    their_grads = tape.gradient(their_loss, [p[0] for p in pairs])
    for (their_var, _), a, b in zip(pairs, our_grads, their_grads):
        b = tf.convert_to_tensor(b).numpy()
        np.testing.assert_allclose(
            tf.convert_to_tensor(a).numpy().reshape(b.shape),
            b,
            atol=1e-5,
            rtol=1e-4,
            err_msg=their_var.path,
        )


# --------------------------------------------------------------------------
# Masks, heads and bad input.


def test_padding_is_ignored():
    """Extra padding changes no logit; tokens at real positions do."""
    model = zoo.build("bert", "tiny")
    x, _ = _mlm_batch(zoo.preset_config("bert", "tiny")["vocabulary_size"])
    before = np.asarray(model(x))
    padded = {
        "token_ids": np.pad(x["token_ids"], ((0, 0), (0, 6))),
        "segment_ids": np.pad(x["segment_ids"], ((0, 0), (0, 6))),
        "mask_positions": x["mask_positions"],
    }
    np.testing.assert_allclose(np.asarray(model(padded)), before, atol=1e-5, rtol=0)
    changed = dict(x, segment_ids=1 - x["segment_ids"])
    assert not np.allclose(np.asarray(model(changed)), before, atol=1e-3)


def test_classifier_weights_load_from_a_masked_lm():
    """The encoder layers keep their names: pretrain with MLM, fine-tune."""
    mlm = zoo.build("bert", "tiny")
    classifier = zoo.build("bert", "tiny", num_classes=2)
    for layer in classifier.layers:
        if layer.weights and layer.name not in ("pooled_dense", "logits"):
            layer.set_weights(mlm.get_layer(layer.name).get_weights())
    np.testing.assert_array_equal(
        classifier.get_layer("transformer_layer_1").get_weights()[0],
        mlm.get_layer("transformer_layer_1").get_weights()[0],
    )


@pytest.mark.parametrize("num_classes", [0, 2])
def test_mixed_precision_gives_float32_logits(num_classes):
    keras.config.set_dtype_policy("mixed_float16")
    model = zoo.build("bert", "tiny", num_classes=num_classes)
    x, _ = _mlm_batch(zoo.preset_config("bert", "tiny")["vocabulary_size"])
    if num_classes:
        del x["mask_positions"]
    logits = model(x)
    assert model.get_layer("transformer_layer_0").compute_dtype == "float16"
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(logits)))
    assert all(w.dtype == "float32" for w in model.weights)


def test_bad_hyperparameters_and_inputs():
    with pytest.raises(ValueError, match="Bert: d_model=32 is not divisible"):
        zoo.build("bert", "tiny", num_heads=3)
    with pytest.raises(ValueError, match="Bert: num_classes must be an int >= 0"):
        zoo.build("bert", "tiny", num_classes=-1)
    with pytest.raises(ValueError, match="Bert: num_layers must be a positive int"):
        zoo.build("bert", "tiny", num_layers=0)
    with pytest.raises(ValueError, match=r"Unknown override\(s\) \['hidden_dim'\]"):
        zoo.build("bert", "tiny", hidden_dim=32)
    model = zoo.build("bert", "tiny")  # 64 positions
    too_long = np.ones((1, 65), "int32")
    with pytest.raises(ValueError, match="position_embedding.*max_length=64"):
        model(
            {
                "token_ids": too_long,
                "segment_ids": 0 * too_long,
                "mask_positions": np.zeros((1, 1), "int32"),
            }
        )


# Slower: builds the 110M and 340M models. Weights are created without random
# initialization (a stateless scope) to keep it to seconds; shapes are real.
@pytest.mark.parametrize(
    "preset, published", [("base", 110_000_000), ("large", 340_000_000)]
)
def test_published_parameter_counts(preset, published):
    with keras.StatelessScope(initialize_variables=False):
        model = zoo.build("bert", preset)
    assert isinstance(model, Bert)
    assert model.vocabulary_size == 30522
    count = model.count_params()
    assert abs(count - published) <= 0.03 * published, (preset, count)
    keras.utils.clear_session()
