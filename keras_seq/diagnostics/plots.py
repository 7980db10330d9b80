"""Pictures: attention heatmaps, training curves, and the lesson's line plots.

Matplotlib is optional (`pip install "keras-seq[plots]"`); it is imported when
a picture is drawn, with the Agg backend (no display needed).
"""

import os
import re

import numpy as np


class MissingMatplotlibError(ImportError):
    """matplotlib is not installed (the `plots` extra)."""


def pyplot():
    """`matplotlib.pyplot` on the Agg backend, or a clear error."""
    try:
        import matplotlib
    except ImportError as e:
        raise MissingMatplotlibError(
            "Plotting needs matplotlib: pip install 'keras-seq[plots]' "
            "(or pip install matplotlib)."
        ) from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path):
    """Writes `fig` to `path` (PNG; directories created; atomic) and closes it."""
    plt = pyplot()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    stem, ext = os.path.splitext(os.path.basename(path))
    tmp = os.path.join(directory, f".{stem}.tmp{ext or '.png'}")
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def plot_attention(
    weights,
    source_tokens,
    target_tokens,
    path=None,
    title=None,
    head_titles=None,
    xlabel="input",
    ylabel="output",
):
    """Heatmap of attention weights: output steps (rows) against inputs.

    As in Bahdanau et al. (2015), fig. 3: each row is one output token, each
    column one input token, the colour the weight `a_ts` (rows sum to 1).

    Args:
        weights: `(T, S)` for one map, or `(H, T, S)` for one panel per head.
        source_tokens: `S` labels of the columns (the input tokens).
        target_tokens: `T` labels of the rows (the output tokens).
        path: where to write the PNG; if `None` the figure is returned.
        title: the figure's title (by default the input and output strings).
        head_titles: optional `H` panel titles.
        xlabel: the columns' axis label (`"key"` for self-attention).
        ylabel: the rows' axis label (`"query"` for self-attention).

    Returns:
        `path` if given, else the matplotlib figure.

    Example:

    >>> import numpy as np
    >>> w = np.eye(3)
    >>> plot_attention(w, ["a", "b", "c"], ["A", "B", "C"], "/tmp/att.png")
    '/tmp/att.png'
    """
    weights = np.asarray(weights, np.float32)
    if weights.ndim == 2:
        weights = weights[None]
    if weights.ndim != 3:
        raise ValueError(
            f"plot_attention: weights must be (T, S) or (heads, T, S), got shape "
            f"{weights.shape}."
        )
    heads, rows, cols = weights.shape
    source_tokens, target_tokens = list(source_tokens), list(target_tokens)
    if len(source_tokens) != cols or len(target_tokens) != rows:
        raise ValueError(
            f"plot_attention: weights of shape {weights.shape[1:]} (T, S) need "
            f"{rows} target and {cols} source tokens, got {len(target_tokens)} "
            f"and {len(source_tokens)}."
        )
    plt = pyplot()
    per_row = min(heads, 4)
    grid_rows = -(-heads // per_row)
    cell = 0.32
    fig, axes = plt.subplots(
        grid_rows,
        per_row,
        figsize=(
            max(4.0, per_row * (cols * cell + 1.2)),
            max(3.0, grid_rows * (rows * cell + 1.2)),
        ),
        squeeze=False,
        layout="constrained",
    )
    image = None
    for h, ax in enumerate(axes.flat):
        if h >= heads:
            ax.axis("off")
            continue
        image = ax.imshow(weights[h], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(cols), [_label(t) for t in source_tokens], fontsize=8)
        ax.set_yticks(range(rows), [_label(t) for t in target_tokens], fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if head_titles:
            ax.set_title(head_titles[h], fontsize=9)
    fig.colorbar(image, ax=axes, fraction=0.03, label="attention weight")
    if title is None:
        title = f"{_text(source_tokens)!r} -> {_text(target_tokens)!r}"
    fig.suptitle(title)
    return save(fig, path) if path else fig


def _label(token):
    token = str(token)
    return "␣" if token == " " else token


def _text(tokens):
    """Tokens as a string: characters joined, special `<...>` tokens dropped."""
    words = [str(t) for t in tokens if not re.fullmatch(r"<[^<>\s]+>", str(t))]
    if all(len(w) == 1 for w in words):
        return "".join(words)
    return " ".join(words)


def plot_lines(panels, path, title=None, logy=True, columns=2):
    """Panels of lines, for the lesson: `[{"title", "xlabel", "ylabel",
    "lines": {label: (x, y)}, "hlines": {label: y}}]`, `columns` per row;
    writes `path`."""
    plt = pyplot()
    columns = min(columns, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(5.6 * columns, 4.2 * rows),
        squeeze=False,
        layout="constrained",
    )
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels):
        for label, (x, y) in panel["lines"].items():
            y = np.asarray(y, np.float64)
            if logy:
                # Log scale: underflow (0) and overflow (inf) show as gaps.
                y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
            ax.plot(x, y, label=label)
            if panel.get("markers"):
                ax.lines[-1].set_marker("o")
        for label, value in panel.get("hlines", {}).items():
            ax.axhline(value, color="grey", linestyle="--", label=label)
        if logy:
            ax.set_yscale("log")
        ax.set_title(panel.get("title", ""), fontsize=10)
        ax.set_xlabel(panel.get("xlabel", ""))
        ax.set_ylabel(panel.get("ylabel", ""))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save(fig, path)


def plot_curves(scalars, path, title=None):
    """Training curves: one panel per tag, a line per run (train/validation).

    Args:
        scalars: `{tag: {run: (steps, values)}}`, e.g. from
            `keras_seq.diagnostics.read_scalars`.
        path: the PNG to write.
        title: the figure's title.
    """
    if not scalars:
        raise ValueError("plot_curves: no scalars to plot.")
    plt = pyplot()
    tags = sorted(scalars)
    per_row = min(len(tags), 3)
    rows = -(-len(tags) // per_row)
    fig, axes = plt.subplots(
        rows,
        per_row,
        figsize=(4.6 * per_row, 3.4 * rows),
        squeeze=False,
        layout="constrained",
    )
    for ax, tag in zip(axes.flat, tags):
        for run, (steps, values) in sorted(scalars[tag].items()):
            ax.plot(steps, values, label=run, marker="." if len(steps) < 30 else None)
        ax.set_title(tag, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        if tag.endswith("loss") and all(
            min(v) > 0 for _, v in scalars[tag].values() if len(v)
        ):
            ax.set_yscale("log")
    for ax in list(axes.flat)[len(tags) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return save(fig, path)
