"""The recurrent matrix's spectrum, and what it implies for BPTT."""

import dataclasses

import keras
import numpy as np

# Gate order of the recurrent kernels (Keras's layout, which ours share).
GATES = {1: ("h",), 3: ("z", "r", "h"), 4: ("i", "f", "c", "o")}
# max |phi'| of the activations whose bound is known.
MAX_DERIVATIVE = {"tanh": 1.0, "relu": 1.0, "linear": 1.0, "sigmoid": 0.25}
TOLERANCE = 1e-3


@dataclasses.dataclass
class RecurrentSpectrum:
    """Spectral radius and largest singular value of a recurrent matrix.

    Attributes:
        layer: the layer's (or cell's) name.
        spectral_radius: `max |eig(W_hh)|` of the candidate block (the whole
            matrix for a vanilla RNN).
        max_singular_value: `sigma_max(W_hh)` of the same block.
        gates: `{gate: (spectral_radius, max_singular_value)}` for every
            block of the kernel (`i, f, c, o` for an LSTM, `z, r, h` for a GRU).
        reading: what the numbers imply, in words.
    """

    layer: str
    spectral_radius: float
    max_singular_value: float
    gates: dict
    reading: str


def recurrent_spectrum(layer):
    """Spectrum of `layer`'s recurrent matrix `W_hh` and its reading.

    For the vanilla RNN, `h_t = phi(W_hh h_(t-1) + W_xh x_t + b)`, each step's
    Jacobian is `diag(phi'(.)) W_hh`, so over `k` steps

        ||dh_t/dh_(t-k)|| <= (gamma * sigma_max(W_hh))^k,  gamma = max |phi'|

    (gamma = 1 for tanh): with `gamma * sigma_max < 1` the gradient from `k`
    steps back shrinks at least geometrically (it vanishes); a spectral
    radius `gamma * rho(W_hh) > 1` is necessary, not sufficient, for it to
    grow (explode) (Pascanu et al., 2013, section 2.1). For an LSTM or GRU the
    same bound holds for the candidate block only; the cell state (LSTM) or
    the interpolated state (GRU) is carried by the gates (`f_t`, `z_t`), not
    by `W_hh`, which is the point of the gates.

    Args:
        layer: a recurrent layer (`keras.layers.RNN` or subclass) or cell with
            `recurrent_kernel` and `units`, built.

    Returns:
        A `RecurrentSpectrum`.

    Example:

    >>> from keras_seq.layers import SimpleRNN
    >>> rnn = SimpleRNN(8, recurrent_initializer="orthogonal")
    >>> rnn.build((None, 5, 3))
    >>> round(recurrent_spectrum(rnn).max_singular_value, 3)
    1.0

    References:
        - [Pascanu, Mikolov & Bengio, 2013](https://arxiv.org/abs/1211.5063),
          On the difficulty of training recurrent neural networks.
    """
    cell = getattr(layer, "cell", layer)
    kernel = getattr(cell, "recurrent_kernel", None)
    units = getattr(cell, "units", None)
    if kernel is None or units is None:
        raise ValueError(
            f"recurrent_spectrum: {type(layer).__name__} {layer.name!r} has no "
            "built `recurrent_kernel` (a SimpleRNN, LSTM or GRU layer or cell)."
        )
    kernel = np.asarray(keras.ops.convert_to_numpy(kernel), np.float64)
    blocks = kernel.shape[1] // units
    names = GATES.get(blocks, tuple(f"block_{i}" for i in range(blocks)))
    gates = {}
    for i, name in enumerate(names):
        w = kernel[:, i * units : (i + 1) * units]
        gates[name] = (
            float(np.max(np.abs(np.linalg.eigvals(w)))),
            float(np.linalg.svd(w, compute_uv=False)[0]),
        )
    rho, sigma = gates["h"] if "h" in gates else gates.get("c", gates[names[0]])
    activation = getattr(getattr(cell, "activation", None), "__name__", "tanh")
    gamma = MAX_DERIVATIVE.get(activation)
    return RecurrentSpectrum(
        layer=layer.name,
        spectral_radius=rho,
        max_singular_value=sigma,
        gates=gates,
        reading=_reading(blocks, rho, sigma, activation, gamma),
    )


def _reading(blocks, rho, sigma, activation, gamma):
    gated = blocks > 1
    where = "the candidate block of W_hh" if gated else "W_hh"
    if gamma is None:
        return (
            f"sigma_max({where}) = {sigma:.3g}, rho = {rho:.3g}; no bound is "
            f"known here for the activation {activation!r}."
        )
    bound = gamma * sigma
    # Within TOLERANCE of 1 (an orthogonal W_hh) counts as 1.
    if bound < 1 - TOLERANCE:
        text = (
            f"{activation}: gamma * sigma_max({where}) = {bound:.3g} < 1, so "
            f"gradients through {'that path' if gated else 'the recurrence'} "
            f"shrink at least as {bound:.3g}^k over k steps: they vanish."
        )
    elif gamma * rho > 1 + TOLERANCE:
        text = (
            f"{activation}: gamma * rho({where}) = {gamma * rho:.3g} > 1, so "
            "gradients can grow geometrically (explode) where the units are "
            "not saturated; clip them."
        )
    else:
        text = (
            f"{activation}: gamma * sigma_max({where}) = {bound:.3g} and "
            f"gamma * rho = {gamma * rho:.3g}, both about 1 or on either side "
            "of it: no geometric bound either way; saturation (phi' < 1) "
            "decides, measure the gradients."
        )
    if gated:
        text += (
            " The gates carry the state (the LSTM's c_t through f_t, the GRU's "
            "h_t through z_t), so the bound does not cover the gated path."
        )
    return text
