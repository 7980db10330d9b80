"""Loading keras-hub presets and Hugging Face checkpoints into the zoo, and back.

References: keras-hub's backbones loaded from the same directories (its own
preset loader and Hugging Face converters), and the T5 equations in numpy.
All checkpoints are tiny and written here (no network).
"""

import json
import os

import keras
import keras_hub
import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file
from tiny_checkpoints import (
    bert_backbone,
    gpt2_backbone,
    randomize,
    t5_backbone,
    write_bert_vocab,
    write_gpt2_tokenizer,
    write_spiece,
)

import zoo

RNG = np.random.default_rng(0)
IDS = np.array([[5, 0, 17, 33, 2, 9, 60], [1, 2, 3, 4, 5, 6, 7]], "int32")


def _gpt2_logits(backbone, ids):
    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    return np.asarray(backbone.token_embedding(hidden, reverse=True))


def _bert_sequence_output(model, ids):
    """Our encoder output (the last block's), for a zoo Bert."""
    encoder = keras.Model(model.inputs, model.transformer_layers[-1].output)
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids)}
    if "mask_positions" in model.input:
        x["mask_positions"] = np.zeros((len(ids), 1), "int32")
    return np.asarray(encoder(x))


def _t5_inputs():
    """Right-padded encoder ids; decoder ids from T5's start id 0."""
    return {
        "encoder_token_ids": np.array([[17, 33, 2, 9, 60, 0], [2, 3, 4, 5, 6, 7]]),
        "decoder_token_ids": np.array([[0, 5, 17, 33, 2], [0, 2, 3, 4, 5]]),
    }


# --------------------------------------------------------------------------
# keras-hub presets.


def test_keras_hub_gpt2_preset(tmp_path):
    # Sharded weights: shards of at most 4 kB (max_shard_size is in GB).
    gpt2_backbone(intermediate_dim=40).save_to_preset(
        str(tmp_path), max_shard_size=4e-6
    )
    assert (tmp_path / "model.weights.json").exists()
    assert not (tmp_path / "model.weights.h5").exists()
    model = zoo.from_preset(str(tmp_path))
    assert isinstance(model, zoo.gpt.GPT) and model.dff == 40
    reference = keras_hub.models.Backbone.from_preset(str(tmp_path))
    np.testing.assert_allclose(
        model({"token_ids": IDS}), _gpt2_logits(reference, IDS), atol=1e-4
    )


def test_keras_hub_bert_preset(tmp_path):
    bert_backbone().save_to_preset(str(tmp_path))
    reference = keras_hub.models.Backbone.from_preset(str(tmp_path))
    x = {"token_ids": IDS, "segment_ids": np.zeros_like(IDS)}
    theirs = reference({**x, "padding_mask": IDS != 0})
    for num_classes in (0, 3):
        model = zoo.from_preset(str(tmp_path), num_classes=num_classes, dropout=0.0)
        real = IDS != 0
        np.testing.assert_allclose(
            _bert_sequence_output(model, IDS)[real],
            np.asarray(theirs["sequence_output"])[real],
            atol=1e-4,
        )
    # A backbone preset has no masked-LM head: it is reported, not loaded.
    mlm = zoo.from_preset(str(tmp_path))
    assert "mlm_output_bias/bias" in mlm.newly_initialized
    # The classifier's pooler is the backbone's.
    np.testing.assert_array_equal(
        model.pooled_dense.kernel.numpy(), reference.pooled_dense.kernel.numpy()
    )


@pytest.mark.filterwarnings("ignore:.*does not support masking")
@pytest.mark.parametrize(
    "gated, tied, key_value_dim",
    # key_value_dim 12 with 2 heads: attention 24 wide in a 16-wide model (the
    # shape of T5 3B/11B, whose 128-wide heads do not divide d_model).
    [(False, True, None), (True, False, None), (False, True, 12)],
)
def test_keras_hub_t5_preset(tmp_path, gated, tied, key_value_dim):
    t5_backbone(gated, tied, key_value_dim=key_value_dim).save_to_preset(str(tmp_path))
    model = zoo.from_preset(str(tmp_path), dropout=0.0)
    assert (model.use_gated_activation, model.tie_embeddings) == (gated, tied)
    assert model.encoder_layers[0].self_attention.depth == (key_value_dim or 8)
    reference = keras_hub.models.T5Seq2SeqLM(
        backbone=keras_hub.models.Backbone.from_preset(str(tmp_path)),
        preprocessor=None,
    )
    x = _t5_inputs()
    theirs = reference(
        {
            **x,
            "encoder_padding_mask": x["encoder_token_ids"] != 0,
            "decoder_padding_mask": np.ones_like(x["decoder_token_ids"]),
        }
    )
    np.testing.assert_allclose(model(x), theirs, atol=1e-4)


# --------------------------------------------------------------------------
# Hugging Face directories.


def test_hf_gpt2_from_export_to_transformers(tmp_path):
    """keras-hub writes the directory; its own converter is the reference."""
    backbone = gpt2_backbone(intermediate_dim=64)  # 4 * d: keras-hub ignores n_inner
    backbone.export_to_transformers(str(tmp_path))
    model = zoo.from_preset(str(tmp_path))
    theirs = keras_hub.models.Backbone.from_preset(str(tmp_path))
    expected = _gpt2_logits(theirs, IDS)
    np.testing.assert_allclose(model({"token_ids": IDS}), expected, atol=1e-4)
    np.testing.assert_allclose(expected, _gpt2_logits(backbone, IDS), atol=1e-5)


def test_hf_gpt2_honours_n_inner(tmp_path):
    backbone = gpt2_backbone(intermediate_dim=40)
    backbone.export_to_transformers(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["n_inner"] == 40
    model = zoo.from_preset(str(tmp_path))
    assert model.dff == 40
    np.testing.assert_allclose(
        model({"token_ids": IDS}), _gpt2_logits(backbone, IDS), atol=1e-4
    )


def _bert_hf_tensors(backbone, prefix="bert."):
    """A BertModel's tensors under Hugging Face names (torch layouts)."""
    d = backbone.hidden_dim
    t = {
        "embeddings.word_embeddings.weight": backbone.token_embedding.embeddings,
        "embeddings.position_embeddings.weight": (
            backbone.position_embedding.position_embeddings
        ),
        "embeddings.token_type_embeddings.weight": (
            backbone.segment_embedding.embeddings
        ),
        "embeddings.LayerNorm.weight": backbone.embeddings_layer_norm.gamma,
        "embeddings.LayerNorm.bias": backbone.embeddings_layer_norm.beta,
        "pooler.dense.weight": backbone.pooled_dense.kernel,
        "pooler.dense.bias": backbone.pooled_dense.bias,
    }
    t = {k: np.asarray(v.numpy()) for k, v in t.items()}
    t["pooler.dense.weight"] = t["pooler.dense.weight"].T
    for i, layer in enumerate(backbone.transformer_layers):
        p = f"encoder.layer.{i}."
        mha = layer._self_attention_layer
        for name, dense in [
            ("attention.self.query", mha.query_dense),
            ("attention.self.key", mha.key_dense),
            ("attention.self.value", mha.value_dense),
        ]:
            t[p + name + ".weight"] = dense.kernel.numpy().reshape(d, d).T
            t[p + name + ".bias"] = dense.bias.numpy().reshape(d)
        t[p + "attention.output.dense.weight"] = (
            mha.output_dense.kernel.numpy().reshape(d, d).T
        )
        t[p + "attention.output.dense.bias"] = mha.output_dense.bias.numpy()
        for name, dense in [
            ("intermediate.dense", layer._feedforward_intermediate_dense),
            ("output.dense", layer._feedforward_output_dense),
        ]:
            t[p + name + ".weight"] = dense.kernel.numpy().T
            t[p + name + ".bias"] = dense.bias.numpy()
        for name, norm in [
            ("attention.output.LayerNorm", layer._self_attention_layer_norm),
            ("output.LayerNorm", layer._feedforward_layer_norm),
        ]:
            t[p + name + ".weight"] = norm.gamma.numpy()
            t[p + name + ".bias"] = norm.beta.numpy()
    return {prefix + k: np.ascontiguousarray(v) for k, v in t.items()}


def _write_hf(directory, config, tensors, shards=1, dtype=np.float32):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    tensors = {k: np.asarray(v).astype(dtype) for k, v in tensors.items()}
    if shards == 1:
        save_file(tensors, os.path.join(directory, "model.safetensors"))
        return
    keys = sorted(tensors)
    weight_map = {}
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: tensors[k] for k in keys[s::shards]}
        save_file(part, os.path.join(directory, name))
        weight_map.update(dict.fromkeys(part, name))
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)


def _bert_hf_config(backbone, hidden_act="gelu_new"):
    return {
        "model_type": "bert",
        "vocab_size": backbone.vocabulary_size,
        "hidden_size": backbone.hidden_dim,
        "num_hidden_layers": backbone.num_layers,
        "num_attention_heads": backbone.num_heads,
        "intermediate_size": backbone.intermediate_dim,
        "max_position_embeddings": backbone.max_sequence_length,
        "type_vocab_size": 2,
        "hidden_act": hidden_act,
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.0,
    }


@pytest.mark.parametrize(
    "shards, dtype", [(1, np.float32), (3, np.float16), (2, ml_dtypes.bfloat16)]
)
def test_hf_bert_matches_keras_hub_converter(tmp_path, shards, dtype):
    backbone = bert_backbone()
    # keras-hub's BertBackbone uses GELU's tanh form: "gelu_new" in HF terms.
    _write_hf(
        tmp_path, _bert_hf_config(backbone), _bert_hf_tensors(backbone), shards, dtype
    )
    model = zoo.from_preset(str(tmp_path), num_classes=2, dropout=0.0)
    reference = keras_hub.models.Backbone.from_preset(str(tmp_path))
    theirs = reference({"token_ids": IDS, "segment_ids": np.zeros_like(IDS),
                        "padding_mask": IDS != 0})  # fmt: skip
    real = IDS != 0
    np.testing.assert_allclose(
        _bert_sequence_output(model, IDS)[real],
        np.asarray(theirs["sequence_output"])[real],
        atol=1e-4,
    )


def test_hf_bert_exact_gelu(tmp_path):
    """hidden_act="gelu" is the exact GELU, not keras-hub's tanh form."""
    backbone = bert_backbone()
    _write_hf(tmp_path, _bert_hf_config(backbone, "gelu"), _bert_hf_tensors(backbone))
    model = zoo.from_preset(str(tmp_path), dropout=0.0)
    assert model.activation == "gelu"
    x = {"token_ids": IDS, "segment_ids": np.zeros_like(IDS), "padding_mask": IDS != 0}
    approx = np.asarray(backbone(x)["sequence_output"])
    diff = np.abs(_bert_sequence_output(model, IDS) - approx)[IDS != 0].max()
    assert 1e-6 < diff < 1e-2


# T5 in numpy: Raffel et al. 2020, as Hugging Face's T5 computes it.


def _bucket(relative, bidirectional, num_buckets, max_distance):
    result = 0
    if bidirectional:
        num_buckets //= 2
        result = (relative > 0).astype(int) * num_buckets
        n = np.abs(relative)
    else:
        n = -np.minimum(relative, 0)
    max_exact = num_buckets // 2
    large = max_exact + (
        np.log(np.maximum(n, 1) / max_exact)
        / np.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).astype(int)
    large = np.minimum(large, num_buckets - 1)
    return result + np.where(n < max_exact, n, large)


def _numpy_t5(t, c, enc_ids, dec_ids):
    d, h = c["d_model"], c["num_heads"]
    eps = c["layer_norm_epsilon"]
    gated = c["feed_forward_proj"] == "gated-gelu"

    def rms(x, w):
        return w * x / np.sqrt(np.mean(x**2, -1, keepdims=True) + eps)

    def gelu_new(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))

    def bias(table, q_len, k_len, bidirectional):
        rel = np.arange(k_len)[None, :] - np.arange(q_len)[:, None]
        buckets = _bucket(
            rel,
            bidirectional,
            c["relative_attention_num_buckets"],
            c["relative_attention_max_distance"],
        )
        return np.transpose(table[buckets], (2, 0, 1))  # (h, q, k)

    def attention(x, m, p, pos_bias, key_mask, causal):
        def heads(a):
            return a.reshape(a.shape[0], a.shape[1], h, -1).transpose(0, 2, 1, 3)

        q = heads(x @ t[p + ".q.weight"].T)
        k = heads(m @ t[p + ".k.weight"].T)
        v = heads(m @ t[p + ".v.weight"].T)
        scores = q @ k.transpose(0, 1, 3, 2)  # no 1/sqrt(d_head) in T5
        if pos_bias is not None:
            scores = scores + pos_bias
        allowed = key_mask[:, None, None, :]
        if causal:
            allowed = allowed & np.tril(np.ones((x.shape[1], m.shape[1]), bool))
        scores = np.where(allowed, scores, -1e9)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        out = (weights @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], x.shape[1], -1)
        return out @ t[p + ".o.weight"].T

    def ffn(x, p):
        if gated:
            inner = gelu_new(x @ t[p + ".wi_0.weight"].T) * (
                x @ t[p + ".wi_1.weight"].T
            )
        else:
            inner = np.maximum(x @ t[p + ".wi.weight"].T, 0)
        return inner @ t[p + ".wo.weight"].T

    emb = t["shared.weight"]
    enc_mask = enc_ids != 0
    x = emb[enc_ids]
    table = t["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    pb = bias(table, x.shape[1], x.shape[1], True)
    for i in range(c["num_layers"]):
        p = f"encoder.block.{i}.layer."
        y = rms(x, t[p + "0.layer_norm.weight"])
        x = x + attention(y, y, p + "0.SelfAttention", pb, enc_mask, False)
        x = x + ffn(rms(x, t[p + "1.layer_norm.weight"]), p + "1.DenseReluDense")
    memory = rms(x, t["encoder.final_layer_norm.weight"])
    x = emb[dec_ids]
    table = t["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    pb = bias(table, x.shape[1], x.shape[1], False)
    dec_mask = np.ones(dec_ids.shape, bool)
    for i in range(c["num_layers"]):
        p = f"decoder.block.{i}.layer."
        y = rms(x, t[p + "0.layer_norm.weight"])
        x = x + attention(y, y, p + "0.SelfAttention", pb, dec_mask, True)
        y = rms(x, t[p + "1.layer_norm.weight"])
        x = x + attention(y, memory, p + "1.EncDecAttention", None, enc_mask, False)
        x = x + ffn(rms(x, t[p + "2.layer_norm.weight"]), p + "2.DenseReluDense")
    x = rms(x, t["decoder.final_layer_norm.weight"])
    if c["tie_word_embeddings"]:
        return (x * d**-0.5) @ emb.T
    return x @ t["lm_head.weight"].T


def _t5_hf_checkpoint(version):
    c = {
        "model_type": "t5",
        "vocab_size": 64,
        "d_model": 16,
        "d_kv": 4,
        "d_ff": 24,
        "num_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 16,
        "layer_norm_epsilon": 1e-6,
        "dropout_rate": 0.1,
        "feed_forward_proj": "relu" if version == "1.0" else "gated-gelu",
        "tie_word_embeddings": version == "1.0",
        "decoder_start_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 0,
    }
    rng = np.random.default_rng(1)
    d, dff, vocab = 16, 24, 64
    shapes = {"shared.weight": (vocab, d)}
    if version != "1.0":
        shapes["lm_head.weight"] = (vocab, d)
    ffn = ["wi_0", "wi_1"] if version != "1.0" else ["wi"]
    for stack, n_attn in (("encoder", 1), ("decoder", 2)):
        bias = f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias"
        shapes[bias + ".weight"] = (8, 4)
        shapes[f"{stack}.final_layer_norm.weight"] = (d,)
        for i in range(2):
            p = f"{stack}.block.{i}.layer."
            for j, name in enumerate(["SelfAttention", "EncDecAttention"][:n_attn]):
                for m in "qkvo":
                    shapes[f"{p}{j}.{name}.{m}.weight"] = (d, d)
                shapes[f"{p}{j}.layer_norm.weight"] = (d,)
            for w in ffn:
                shapes[f"{p}{n_attn}.DenseReluDense.{w}.weight"] = (dff, d)
            shapes[f"{p}{n_attn}.DenseReluDense.wo.weight"] = (d, dff)
            shapes[f"{p}{n_attn}.layer_norm.weight"] = (d,)
    tensors = {}
    for key, shape in shapes.items():
        scale = 1.0 if key == "shared.weight" else 0.3
        value = rng.normal(scale=scale, size=shape)
        if "layer_norm" in key:
            value = 1 + 0.1 * value
        tensors[key] = value.astype("float32")
    return c, tensors


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_hf_t5_matches_numpy_equations(tmp_path, version):
    config, tensors = _t5_hf_checkpoint(version)
    # Long enough inputs that the log-spaced buckets are used.
    enc = np.array([[5] + list(range(10, 29)) + [1, 0, 0]] * 2, "int32")
    enc[1, 12:] = 0
    dec = np.array([[0] + list(range(3, 21))] * 2, "int32")
    expected = _numpy_t5(tensors, config, enc, dec)
    # bfloat16 storage (the values stored are what the reference sees).
    bf16 = {
        k: v.astype(ml_dtypes.bfloat16).astype("float32") for k, v in tensors.items()
    }
    for directory, stored, reference in [
        (tmp_path / "f32", tensors, expected),
        (tmp_path / "bf16", bf16, _numpy_t5(bf16, config, enc, dec)),
    ]:
        dtype = np.float32 if stored is tensors else ml_dtypes.bfloat16
        _write_hf(directory, config, stored, shards=2, dtype=dtype)
        model = zoo.from_preset(str(directory), dropout=0.0)
        assert model.start_token_id == 0 and model.end_token_id == 1
        ours = model({"encoder_token_ids": enc, "decoder_token_ids": dec})
        np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=1e-4)
    # Generation starts from decoder_start_token_id 0 (T5's pad id).
    tokens = model.generate({"encoder_token_ids": enc}, max_length=4, jit_compile=False)
    assert tokens.shape == (2, 4) and (tokens[:, 0] == 0).all()


# --------------------------------------------------------------------------
# Tokenizers.

SENTENCE = "Café naïve résumé 😀 costs 1234 dollars, déjà vu!"


def test_gpt2_tokenizer_from_hf_files(tmp_path):
    size = write_gpt2_tokenizer(tmp_path)
    _write_hf(tmp_path, {"model_type": "gpt2", "vocab_size": size, "n_layer": 1,
                         "n_embd": 8, "n_head": 2}, {})  # fmt: skip
    ours = zoo.tokenizer_from_preset(str(tmp_path))
    theirs = keras_hub.models.GPT2Tokenizer.from_preset(str(tmp_path))
    ids = np.asarray(ours(SENTENCE))
    np.testing.assert_array_equal(ids, np.asarray(theirs(SENTENCE)))
    assert len(ids) > 20 and ours.detokenize(ids) == SENTENCE


@pytest.mark.parametrize("lowercase", [True, False])
def test_bert_tokenizer_from_hf_files(tmp_path, lowercase):
    size = write_bert_vocab(tmp_path)
    with open(tmp_path / "tokenizer_config.json", "w") as f:
        json.dump({"do_lower_case": lowercase}, f)
    _write_hf(tmp_path, {"model_type": "bert", "vocab_size": size}, {})
    ours = zoo.tokenizer_from_preset(str(tmp_path))
    theirs = keras_hub.models.BertTokenizer.from_preset(str(tmp_path))
    ids = np.asarray(ours(SENTENCE))
    np.testing.assert_array_equal(ids, np.asarray(theirs(SENTENCE)))
    assert ours.lowercase is lowercase


def test_t5_tokenizer_from_hf_files_and_keras_hub_preset(tmp_path):
    write_spiece(tmp_path)
    _write_hf(tmp_path, {"model_type": "t5", "vocab_size": 320, "d_model": 8,
                         "num_layers": 1, "num_heads": 2}, {})  # fmt: skip
    ours = zoo.tokenizer_from_preset(str(tmp_path))
    assert isinstance(ours, keras_hub.tokenizers.T5Tokenizer)
    reference = keras_hub.tokenizers.T5Tokenizer(proto=str(tmp_path / "spiece.model"))
    ids = np.asarray(ours(SENTENCE))
    np.testing.assert_array_equal(ids, np.asarray(reference(SENTENCE)))
    # A keras-hub preset with the same tokenizer gives the same ids.
    preset = tmp_path / "preset"
    t5_backbone(False, True, vocabulary_size=320).save_to_preset(str(preset))
    ours.save_to_preset(str(preset))
    from_preset = zoo.tokenizer_from_preset(str(preset))
    np.testing.assert_array_equal(np.asarray(from_preset(SENTENCE)), ids)
    theirs = keras_hub.tokenizers.Tokenizer.from_preset(str(preset))
    np.testing.assert_array_equal(np.asarray(theirs(SENTENCE)), ids)


# --------------------------------------------------------------------------
# Saving back.


def test_save_gpt2_round_trips(tmp_path):
    size = write_gpt2_tokenizer(tmp_path)
    tokenizer = keras_hub.tokenizers.GPT2Tokenizer(
        vocabulary=str(tmp_path / "vocab.json"), merges=str(tmp_path / "merges.txt")
    )
    # dff = 4 * d_model: keras-hub's converter (the reference) ignores n_inner.
    model = zoo.build("gpt", "tiny", dropout=0.0, vocabulary_size=size, dff=128)
    randomize(model, seed=4)
    ids = IDS + 1  # no pad id 0 (zoo.build keeps pad_token_id=0)
    logits = np.asarray(model({"token_ids": ids}))
    zoo.save_preset(model, tokenizer, tmp_path / "kh", format="keras_hub")
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path / "kh"))
    np.testing.assert_allclose(_gpt2_logits(backbone, ids), logits, atol=1e-4)
    zoo.save_preset(model, tokenizer, tmp_path / "hf", format="transformers")
    # keras-hub's own converter reads our Hugging Face directory.
    backbone = keras_hub.models.Backbone.from_preset(str(tmp_path / "hf"))
    np.testing.assert_allclose(_gpt2_logits(backbone, ids), logits, atol=1e-4)
    for directory in ("kh", "hf"):
        again = zoo.from_preset(str(tmp_path / directory), dropout=0.0)
        np.testing.assert_allclose(again({"token_ids": ids}), logits, atol=1e-5)
        tok = zoo.tokenizer_from_preset(str(tmp_path / directory))
        np.testing.assert_array_equal(tok(SENTENCE), tokenizer(SENTENCE))
    with pytest.raises(ValueError, match="exists"):
        zoo.save_preset(model, tokenizer, tmp_path / "hf", format="transformers")


@pytest.mark.filterwarnings("ignore:.*does not support masking")
@pytest.mark.parametrize("fmt", ["transformers", "keras_hub"])
def test_save_bert_and_t5_round_trip(tmp_path, fmt):
    bert = zoo.build("bert", "tiny", dropout=0.0, num_classes=3)
    randomize(bert, seed=5)
    x = {"token_ids": IDS, "segment_ids": np.zeros_like(IDS)}
    zoo.save_preset(bert, None, tmp_path / "bert", format=fmt)
    again = zoo.from_preset(str(tmp_path / "bert"), num_classes=3, dropout=0.0)
    np.testing.assert_allclose(
        _bert_sequence_output(again, IDS), _bert_sequence_output(bert, IDS), atol=1e-5
    )
    if fmt == "transformers":  # the classifier head travels in HF format
        np.testing.assert_allclose(again(x), bert(x), atol=1e-5)
    overrides = {
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "depth": 12,  # 4 heads of 12 in a 32-wide model: d_kv travels
    }
    t5_model = zoo.build("t5", "tiny", dropout=0.0, **overrides)
    randomize(t5_model, seed=6)
    zoo.save_preset(t5_model, None, tmp_path / "t5", format=fmt)
    again = zoo.from_preset(str(tmp_path / "t5"), dropout=0.0)
    assert again.depth == 12
    x = _t5_inputs()
    np.testing.assert_allclose(again(x), t5_model(x), atol=1e-5)


# --------------------------------------------------------------------------
# Bad sources.


def test_bad_sources(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        zoo.from_preset(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="missing file 'config.json'"):
        zoo.from_preset(str(tmp_path))
    # Names go to keras-hub's resolver, which knows no such preset.
    with pytest.raises(ValueError, match="Unknown preset identifier"):
        zoo.from_preset("no_such_preset_en")
    _write_hf(tmp_path / "llama", {"model_type": "llama"}, {})
    with pytest.raises(ValueError, match="model_type 'llama' is not supported"):
        zoo.from_preset(str(tmp_path / "llama"))

    backbone = gpt2_backbone()
    backbone.export_to_transformers(str(tmp_path / "hf"))
    os.remove(tmp_path / "hf" / "model.safetensors")
    with pytest.raises(ValueError, match="missing file 'model.safetensors'"):
        zoo.from_preset(str(tmp_path / "hf"))

    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    backbone.export_to_transformers(str(tmp_path / "good"))
    from safetensors.numpy import load_file

    good = load_file(str(tmp_path / "good" / "model.safetensors"))
    missing = {k: v for k, v in good.items() if not k.endswith("h.1.ln_2.bias")}
    _write_hf(tmp_path / "missing", config, missing)
    with pytest.raises(ValueError, match=r"tensor 'h\.1\.ln_2\.bias' is missing"):
        zoo.from_preset(str(tmp_path / "missing"))
    wrong = dict(good)
    wrong["transformer.h.0.mlp.c_fc.weight"] = np.zeros((16, 32), "float32")
    _write_hf(tmp_path / "wrong", config, wrong)
    with pytest.raises(
        ValueError,
        match=r"tensor 'h\.0\.mlp\.c_fc\.weight' has shape \(16, 32\), but the gpt "
        r"model built from its config.json needs \(16, 64\)",
    ):
        zoo.from_preset(str(tmp_path / "wrong"))

    write_gpt2_tokenizer(tmp_path / "wrong")  # 263 tokens, vocab_size 64
    with pytest.raises(ValueError, match="the tokenizer has 263 tokens but the model"):
        zoo.tokenizer_from_preset(str(tmp_path / "wrong"))
    with pytest.raises(ValueError, match="missing file 'vocab.json'"):
        zoo.tokenizer_from_preset(str(tmp_path / "good"))
    with pytest.raises(ValueError, match=r"unknown override\(s\) \['d_ff'\]"):
        zoo.from_preset(str(tmp_path / "good"), d_ff=3)

    preset = tmp_path / "preset"
    backbone.save_to_preset(str(preset))
    os.remove(preset / "model.weights.h5")
    with pytest.raises(ValueError, match="missing file 'model.weights.h5'"):
        zoo.from_preset(str(preset))
    keras_hub.models.GemmaBackbone(
        vocabulary_size=16, num_layers=1, num_query_heads=1, num_key_value_heads=1,
        hidden_dim=4, intermediate_dim=8, head_dim=4,
    ).save_to_preset(str(tmp_path / "gemma"))  # fmt: skip
    with pytest.raises(ValueError, match="'keras_hub>GemmaBackbone' is not supported"):
        zoo.from_preset(str(tmp_path / "gemma"))


# --------------------------------------------------------------------------
# Tools.


def _tool(module, *flags):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(
        [sys.executable, "-m", module, *flags],
        cwd=root,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_generate_tool_from_a_preset(tmp_path):
    """keras-seq-generate --preset: a saved tiny GPT-2 continues a prompt."""
    size = write_gpt2_tokenizer(tmp_path)
    tokenizer = keras_hub.tokenizers.GPT2Tokenizer(
        vocabulary=str(tmp_path / "vocab.json"), merges=str(tmp_path / "merges.txt")
    )
    model = zoo.build("gpt", "tiny", vocabulary_size=size, dropout=0.0)
    preset = tmp_path / "preset"
    zoo.save_preset(model, tokenizer, preset, format="transformers")
    prompt = "costs 12"
    flags = [f"--preset={preset}", f"--prompt={prompt}", "--max_length=12"]
    result = _tool("tools.generate", *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    # The same continuation as generating in this process (greedy).
    from zoo.pretrained.text import generate_text

    loaded = zoo.from_preset(str(preset), dropout=0.0)
    expected = generate_text(
        loaded, zoo.tokenizer_from_preset(str(preset)), [prompt], 12
    )
    assert result.stdout.rstrip("\n") == expected[0].replace("\n", "\\n")
    bad = _tool("tools.generate", f"--preset={tmp_path / 'nowhere'}", "--prompt=a")
    assert bad.returncode == 2
    assert "--preset=" in bad.stderr and "does not exist" in bad.stderr


def test_t5_text_generation_from_a_saved_checkpoint(tmp_path):
    """A v1.1 T5 with its SentencePiece model: save, load, translate text."""
    from zoo.pretrained.text import generate_text

    write_spiece(tmp_path)
    tokenizer = keras_hub.tokenizers.T5Tokenizer(proto=str(tmp_path / "spiece.model"))
    model = zoo.build("t5", "tiny", vocabulary_size=290, dropout=0.0)
    model = zoo.t5.T5(
        **{
            **model.get_config(),
            "start_token_id": 0,
            "end_token_id": 1,
            "activation": "gelu_approximate",
            "use_gated_activation": True,
            "tie_embeddings": False,
        }
    )
    zoo.save_preset(model, tokenizer, tmp_path / "t5", format="transformers")
    loaded = zoo.from_preset(str(tmp_path / "t5"), dropout=0.0)
    loaded_tokenizer = zoo.tokenizer_from_preset(str(tmp_path / "t5"))
    texts = ["Café 1234", "déjà vu"]
    ours = generate_text(loaded, loaded_tokenizer, texts, 6, jit_compile=False)
    again = generate_text(model, tokenizer, texts, 6, jit_compile=False)
    assert ours == again and all(isinstance(t, str) for t in ours)
    # The same decoding by hand: start id 0, greedy, cut at </s> (id 1).
    source = np.append(np.asarray(tokenizer(texts[0])), 1)[None].astype("int32")
    tokens = model.generate({"encoder_token_ids": source}, 6, jit_compile=False)
    ids = [int(i) for i in tokens[0, 1:]]
    ids = ids[: ids.index(1)] if 1 in ids else ids
    assert ours[0] == tokenizer.detokenize(ids)  # a str for a list of ids
    with pytest.raises(ValueError, match="does not generate text"):
        generate_text(zoo.build("bert", "tiny"), tokenizer, texts)
