"""Text in, text out with a checkpoint's model and tokenizer.

`generate_text(model, tokenizer, texts)` continues each prompt with a GPT-2
model, or decodes a T5 model's output for each source text, and returns the
detokenized strings. Prompts run one at a time: a GPT-2 checkpoint has no pad
id (its id 0 is a real token), so prompts of different lengths are not
batched.

Example:
    >>> import zoo
    >>> from zoo.pretrained.text import generate_text
    >>> model = zoo.from_preset("path/to/gpt2")  # doctest: +SKIP
    >>> tokenizer = zoo.tokenizer_from_preset("path/to/gpt2")  # doctest: +SKIP
    >>> generate_text(model, tokenizer, ["The course"], max_length=20)  # doctest: +SKIP
"""

import numpy as np

from zoo import gpt, t5

DEFAULT_NEW_TOKENS = 32


def _until(ids, stop_id):
    ids = [int(i) for i in ids]
    return ids[: ids.index(stop_id)] if stop_id in ids else ids


def generate_text(model, tokenizer, texts, max_length=None, **generate_kwargs):
    """Generates one output string per input text.

    Args:
        model: a `zoo.gpt.GPT` or `zoo.t5.T5` (e.g. from `zoo.from_preset`).
        tokenizer: its keras-hub tokenizer.
        texts: list of str.
        max_length: tokens in the generation buffer (GPT: prompt included;
            T5: the decoder's). Default: 32 new tokens, within the model's
            limit.
        **generate_kwargs: `sampler`, `temperature`, `k`, `p`, `num_beams`,
            `seed`, `jit_compile` for `model.generate`.

    Returns:
        A list of str: the continuations (GPT) or the decoded targets (T5).
    """
    outputs = []
    for text in texts:
        ids = np.asarray(tokenizer(text), dtype="int32")
        if isinstance(model, gpt.GPT):
            stop = getattr(tokenizer, "end_token_id", None)
            limit = model.max_sequence_length
            length = max_length or min(len(ids) + DEFAULT_NEW_TOKENS, limit)
            if len(ids) == 0 or len(ids) >= length:
                raise ValueError(
                    f"The prompt {text!r} has {len(ids)} tokens; max_length="
                    f"{length} leaves no room to generate (the model takes "
                    f"{limit} positions)."
                )
            tokens = model.generate(
                ids[None, :],
                length,
                stop_token_ids=None if stop is None else [stop],
                **generate_kwargs,
            )
            new = tokens[0, len(ids) :]
            outputs.append(tokenizer.detokenize(_until(new, stop)))
        elif isinstance(model, t5.T5):
            ids = np.append(ids, model.end_token_id).astype("int32")
            length = max_length or DEFAULT_NEW_TOKENS
            tokens = model.generate(
                {"encoder_token_ids": ids[None, :]},
                length,
                stop_token_ids=[model.end_token_id],
                **generate_kwargs,
            )
            outputs.append(
                tokenizer.detokenize(_until(tokens[0, 1:], model.end_token_id))
            )
        else:
            raise ValueError(
                f"{type(model).__name__} does not generate text; gpt (GPT-2) and t5 "
                "checkpoints do."
            )
    return [
        o.numpy().decode("utf-8") if hasattr(o, "numpy") else str(o) for o in outputs
    ]
