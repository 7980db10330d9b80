"""Parameter counts from hyperparameters, and the memory check before a build.

`count_params(name, preset, **overrides)` is the exact number of weights the
zoo model would have, computed from the hyperparameters alone (no weight is
allocated, so it works for GPT-3 175B on a laptop). `zoo.build` and
`zoo.from_preset` call `check_fits_in_memory` first: a model whose float32
weights do not fit in the memory available fails at once with the size
needed, instead of being killed by the kernel halfway through the build.

Example:
    >>> import zoo
    >>> zoo.count_params("gpt", "gpt2")
    124439808
"""

import os


def _transformer_block(d, dff, attention_bias=True, layer_norms=2):
    """One post/pre-LN block with biases: attention, FFN, LayerNorms."""
    attention = 4 * d * d + (4 * d if attention_bias else 0)
    return attention + d * dff + dff + dff * d + d + layer_norms * 2 * d


def _gpt(h):
    d, v = h["d_model"], h["vocabulary_size"]
    count = v * d + h["max_sequence_length"] * d
    count += h["num_layers"] * _transformer_block(d, h["dff"])
    if h.get("normalize_first", True):
        count += 2 * d
    if not h.get("tie_embeddings", True):
        count += d * v
    return count


def _bert(h):
    d, v = h["d_model"], h["vocabulary_size"]
    count = (v + h["max_sequence_length"] + h["num_segments"]) * d + 2 * d
    count += h["num_layers"] * _transformer_block(d, h["dff"])
    if h.get("num_classes", 0):
        count += d * d + d + d * h["num_classes"] + h["num_classes"]
    else:
        count += d * d + d + 2 * d + v
    return count


def _t5(h):
    d, v, dff = h["d_model"], h["vocabulary_size"], h["dff"]
    # W^Q, W^K, W^V: d -> h * d_kv, W^O: h * d_kv -> d (d_kv = d / h by default).
    inner = h["num_heads"] * (h.get("depth") or d // h["num_heads"])
    ffn = (3 if h.get("use_gated_activation", False) else 2) * d * dff
    count = v * d + 2 * h["relative_attention_num_buckets"] * h["num_heads"] + 2 * d
    if not h.get("tie_embeddings", True):
        count += d * v
    count += h["num_layers"] * (4 * d * inner + ffn + 2 * d)  # encoder layers
    count += h["num_layers"] * (8 * d * inner + ffn + 3 * d)  # decoder layers
    return count


_COUNTERS = {"gpt": _gpt, "bert": _bert, "t5": _t5}


def count_from_hparams(name, hparams):
    """The exact parameter count of family `name` with `hparams`."""
    if name not in _COUNTERS:
        raise ValueError(
            f"count_params knows the families {sorted(_COUNTERS)}; got {name!r}."
        )
    return int(_COUNTERS[name](hparams))


def count_params(name, preset="tiny", **overrides):
    """The exact number of weights of `zoo.build(name, preset, **overrides)`.

    Computed from the hyperparameters: nothing is allocated.
    """
    import zoo

    return count_from_hparams(name, zoo.preset_config(name, preset, **overrides))


def available_memory_bytes():
    """MemAvailable from /proc/meminfo (None where there is no such file)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits_in_memory(name, hparams, bytes_per_weight=4, available=None):
    """Raises `ValueError` when the float32 weights would not fit in memory.

    Args:
        name: the family.
        hparams: its hyperparameters.
        bytes_per_weight: 4 (float32 variables, also under mixed precision).
        available: bytes available (default: the machine's MemAvailable).
    """
    if name not in _COUNTERS:
        return
    if available is None:
        available = available_memory_bytes()
    if available is None or os.environ.get("KERAS_SEQ_SKIP_MEMORY_CHECK"):
        return
    count = count_from_hparams(name, hparams)
    needed = count * bytes_per_weight
    if needed > available:
        raise ValueError(
            f"The {name} model has {count:,} parameters: its float32 weights need "
            f"{needed / 2**30:.1f} GiB, but only {available / 2**30:.1f} GiB of "
            "memory is available. Use zoo.count_params to size models without "
            "building them."
        )
