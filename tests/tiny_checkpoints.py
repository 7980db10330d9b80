"""Tiny checkpoints written offline: random keras-hub backbones and tokenizer files.

They stand in for real pretrained checkpoints (which need the network) in the
pretrained-loading and pretrained-tools tests.
"""

import io
import json
import os

import keras_hub
import numpy as np


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = rng.normal(scale=0.1, size=w.shape)
        if any(k in w.path for k in ("gamma", "norm")):
            value += 1.0
        w.assign(value.astype("float32"))


def gpt2_backbone(
    vocabulary_size=64, num_layers=2, intermediate_dim=64, max_sequence_length=16
):
    """A tiny random keras-hub `GPT2Backbone` (2 heads, 16 wide)."""
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=intermediate_dim,
        max_sequence_length=max_sequence_length,
        dropout=0.0,
    )
    randomize(backbone)
    return backbone


def bert_backbone(vocabulary_size=64, num_layers=2, max_sequence_length=16):
    """A tiny random keras-hub `BertBackbone` (2 heads, 16 wide, 24 inner)."""
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=24,
        max_sequence_length=max_sequence_length,
        dropout=0.0,
    )
    randomize(backbone)
    return backbone


def t5_backbone(gated, tied, vocabulary_size=64, key_value_dim=None, num_layers=2):
    """A tiny random keras-hub `T5Backbone` (2 heads, 16 wide, 24 inner, relu)."""
    backbone = keras_hub.models.T5Backbone(
        key_value_dim=key_value_dim,
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=24,
        dropout=0.0,
        activation="relu",
        use_gated_activation=gated,
        tie_embedding_weights=tied,
    )
    randomize(backbone)
    return backbone


def _bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_gpt2_tokenizer(directory):
    vocab = {ch: i for i, ch in enumerate(_bytes_to_unicode())}
    merges = ["Ġ c", "a f", "Ġ d", "o l", "Ġc o", "1 2"]
    for merge in merges:
        vocab["".join(merge.split())] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return len(vocab)


def write_bert_vocab(directory):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe", "naive", "!",
              ",", "1234", "12", "##34", "costs", "dollars", "deja", "vu", "re",
              "##sum", "##e", "c", "##af", "##é"]  # fmt: skip
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    return len(tokens)


def write_spiece(directory):
    import sentencepiece as spm

    text = ["Café naïve résumé costs dollars déjà vu", "numbers 1234 and 567"] * 30
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text),
        model_writer=buffer,
        vocab_size=290,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        byte_fallback=True,
    )
    with open(os.path.join(directory, "spiece.model"), "wb") as f:
        f.write(buffer.getvalue())
