"""The attention weights a model computes, for pictures and checks."""

import numpy as np
from keras import ops

from keras_seq.layers import MultiHeadAttention


def record_attention(model, inputs):
    """Runs `model(inputs)` once and returns every attention it computed.

    Returns `{path: weights}` with the `(B, heads, T, S)` weights of each
    keras_seq `MultiHeadAttention` in the model (self- and cross-attention of
    the Transformer, BERT, GPT and T5 blocks), keyed by the layer's path
    (`".../cross_attention"`), in call order; for a layer called more than
    once, its first call. A model that declares `attention_weights(inputs)`
    (`seq2seq_attention`: its decoder attends step by step inside a
    recurrent cell) gives `{"attention": (B, 1, T, S)}` from it.

    Example:

    >>> import numpy as np, zoo
    >>> model = zoo.build("gpt", "tiny")
    >>> maps = record_attention(model, {"token_ids": np.array([[5, 6, 7]])})
    >>> [m.shape for m in maps.values()][0]
    (1, 2, 3, 3)
    """
    if hasattr(model, "attention_weights"):
        weights = ops.convert_to_numpy(model.attention_weights(inputs))
        return {"attention": weights[:, None]}
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False)  # Keras's walk
        if isinstance(layer, MultiHeadAttention)
    ]
    if not layers:
        raise ValueError(
            f"record_attention: model {model.name!r} has no keras_seq "
            "MultiHeadAttention and declares no attention_weights()."
        )
    records = {}
    try:
        for layer in layers:
            layer.call = _recording_call(layer, records)
        model(inputs, training=False)
    finally:
        for layer in layers:
            del layer.call  # back to the class's method
    return {path: ops.convert_to_numpy(w) for path, w in records.items()}


def _recording_call(layer, records):
    original = type(layer).call.__get__(layer)
    path = getattr(layer, "path", layer.name)

    def call(*args, return_attention_scores=False, **kwargs):
        outputs = original(*args, return_attention_scores=True, **kwargs)
        output, weights, *rest = outputs
        records.setdefault(path, weights)
        kept = (output, weights, *rest) if return_attention_scores else (output, *rest)
        return kept[0] if len(kept) == 1 else kept

    return call


def pick_attention(maps, kind):
    """The map to draw: the last `cross_attention` for `kind="cross"`, the
    last `self_attention` (or the only map) for `kind="self"`."""
    names = [p for p in maps if p == "attention" or kind in p.rsplit("/", 1)[-1]]
    if not names:
        raise ValueError(f"pick_attention: no {kind}-attention among {list(maps)}.")
    return names[-1], maps[names[-1]]


def token_labels(tokenizer, ids):
    """Readable labels of token ids (`</s>` etc. for the special ids)."""
    specials = {
        v: f"<{k}>"
        if k not in ("bos", "eos", "pad")
        else {"bos": "<s>", "eos": "</s>", "pad": "<pad>"}[k]
        for k, v in tokenizer.special_ids.items()
        if isinstance(v, int)
    }
    vocabulary = getattr(tokenizer, "vocabulary", None)
    labels = []
    for i in np.asarray(ids).tolist():
        if i in specials:
            labels.append(specials[i])
        elif vocabulary is not None:
            labels.append(str(vocabulary[i]))
        else:
            text = tokenizer.detokenize(np.array([i], "int32"))
            labels.append(ops.convert_to_numpy(text).item().decode("utf-8", "replace"))
    return labels


def plot_run_attention(text_model, text, path, heads="mean"):
    """Draws the attention of a trained run on one input `text` to `path`.

    Seq2seq runs (`seq2seq_attention`, `transformer`, `t5`): the greedy
    output's steps against the input tokens (for Transformers, the last
    decoder block's cross-attention). Language models and classifiers (GPT,
    BERT): the last block's self-attention over the tokens.

    Args:
        text_model: a `keras_seq.export.TextModel` of the run.
        text: the input (source, prompt or text to classify).
        path: the PNG to write.
        heads: `"mean"` (one map, the heads' mean) or `"each"` (a panel per
            head).

    Returns:
        `(path, output_text)`.
    """
    from keras_seq.diagnostics.plots import plot_attention

    run, tokenizer = text_model.run, text_model.tokenizer
    if run.kind == "seq2seq":
        source = np.asarray(text_model.source_ids([text]))
        outputs = text_model.keras_outputs([text])
        tokens = np.asarray(outputs["token_ids"])[0]
        eos = np.flatnonzero(tokens[1:] == text_model.eos)
        end = int(eos[0]) + 1 if len(eos) else len(tokens) - 1
        inputs = {"encoder_token_ids": source, "decoder_token_ids": tokens[None, :end]}
        name, weights = pick_attention(record_attention(run.model, inputs), "cross")
        rows = token_labels(tokenizer, tokens[1 : end + 1])
        cols = token_labels(tokenizer, source[0])
        output_text = _text(outputs["text"][0])
    elif run.kind == "language_model":
        outputs = text_model.keras_outputs([text])
        tokens = np.asarray(outputs["token_ids"])[0]
        tokens = tokens[tokens != 0]
        maps = record_attention(run.model, {"token_ids": tokens[None]})
        name, weights = pick_attention(maps, "self")
        rows = cols = token_labels(tokenizer, tokens)
        output_text = text + _text(outputs["text"][0])
    elif run.kind == "classifier":
        inputs = {
            k: np.asarray(v)
            for k, v in text_model.classifier_inputs(np.array([text])).items()
        }
        name, weights = pick_attention(record_attention(run.model, inputs), "self")
        rows = cols = token_labels(tokenizer, inputs["token_ids"][0])
        label = text_model.keras_outputs([text])["label"][0]
        output_text = _text(label)
    else:
        raise ValueError(
            f"attention plot: a {run.family} run on ids has no text to label."
        )
    weights = np.asarray(weights, np.float32)[0]  # (heads, T, S)
    head_titles = None
    if heads == "mean" or weights.shape[0] == 1:
        weights = weights.mean(axis=0)
    else:
        head_titles = [f"head {h}" for h in range(weights.shape[0])]
    title = f"{text!r} -> {output_text!r}\n({run.family}, {name})"
    labels = ("input", "output") if run.kind == "seq2seq" else ("key", "query")
    plot_attention(
        weights,
        cols,
        rows,
        path,
        title=title,
        head_titles=head_titles,
        xlabel=labels[0],
        ylabel=labels[1],
    )
    return path, output_text


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
