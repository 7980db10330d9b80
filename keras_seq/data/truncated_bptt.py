"""Truncated-BPTT layout: a long token stream cut into lanes for stateful RNNs."""

import numpy as np

from keras_seq.data.dataset import DataError


def truncated_bptt_batches(token_ids, batch_size, seq_length):
    """Lays a long token stream out for stateful (truncated BPTT) training.

    The stream is cut into `batch_size` contiguous lanes; batch `k` holds
    window `k` of every lane, so row `j` of batch `k + 1` continues row `j` of
    batch `k`, which is what a stateful model carries its state along. Fit the
    result with `batch_size=batch_size, shuffle=False`.

    Args:
        token_ids: 1D int array, the whole text as token ids.
        batch_size: int, the number of lanes (the stateful model's batch size).
        seq_length: int, the window (truncation) length.

    Returns:
        `(x, y)`: `x = {"token_ids": (num_batches * batch_size, seq_length)}`
        and `y` the same windows shifted by one token (the next tokens).

    Example:

    >>> x, y = truncated_bptt_batches(np.arange(1, 22), batch_size=2,
    ...                               seq_length=3)
    >>> x["token_ids"][:4].tolist()
    [[1, 2, 3], [11, 12, 13], [4, 5, 6], [14, 15, 16]]
    """
    token_ids = np.asarray(token_ids)
    if token_ids.ndim != 1:
        raise DataError(
            f"truncated_bptt_batches: token_ids must be 1D, got shape "
            f"{token_ids.shape}."
        )
    for name, value in (("batch_size", batch_size), ("seq_length", seq_length)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise DataError(
                f"truncated_bptt_batches: {name} must be a positive int, got {value!r}."
            )
    lane_length = (len(token_ids) - 1) // batch_size
    num_windows = lane_length // seq_length
    if num_windows == 0:
        raise DataError(
            f"truncated_bptt_batches: {len(token_ids)} tokens are too few for "
            f"{batch_size} lanes of at least {seq_length + 1} tokens."
        )
    used = num_windows * seq_length
    # lanes[j] is the j-th contiguous piece of the stream, one token longer
    # than its windows so that the last window has its next tokens.
    starts = np.arange(batch_size) * lane_length
    lanes = np.stack([token_ids[s : s + used + 1] for s in starts])
    inputs = lanes[:, :used].reshape(batch_size, num_windows, seq_length)
    targets = lanes[:, 1:].reshape(batch_size, num_windows, seq_length)
    # (lane, window, t) -> (window, lane, t): consecutive batches, same rows.
    x = inputs.transpose(1, 0, 2).reshape(-1, seq_length).astype("int32")
    y = targets.transpose(1, 0, 2).reshape(-1, seq_length).astype("int32")
    return {"token_ids": x}, y
