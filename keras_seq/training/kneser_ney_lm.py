"""An interpolated Kneser-Ney character n-gram model: the baseline a
character-level language model must beat.

With history `h` of `n - 1` characters, discount `D_n`, and `c` the counts in
the training text (the text starts with `n - 1` boundary symbols, so every
character has a full history):

    P_n(w | h) = max(c(h w) - D_n, 0) / c(h .)
                 + D_n N1+(h .) / c(h .) * P_(n-1)(w | h')

where `h'` drops the first character of `h`, `c(h .)` sums over `w` and
`N1+(h .)` counts the distinct `w` seen after `h`. The lower orders
`k < n` use continuation counts instead of counts, `N1+(. g w)` (how many
distinct characters precede `g w`), and the unigram interpolates with the
uniform distribution over the training characters plus one slot for
characters never seen:

    P_1(w) = max(N1+(. w) - D_1, 0) / N1+(. .) + D_1 N1+(. w>0) / N1+(. .) / V

A history never seen falls back to the next lower order. The discounts are
Ney's estimate per order, `D_k = n1 / (n1 + 2 n2)`, with `n1`, `n2` the
number of k-grams whose (continuation) count is 1 and 2.

References:
    - [Kneser & Ney, 1995](https://doi.org/10.1109/ICASSP.1995.479394),
      "Improved backing-off for M-gram language modeling".
    - [Chen & Goodman, 1998](https://dash.harvard.edu/handle/1/25104739),
      "An Empirical Study of Smoothing Techniques for Language Modeling",
      section 2.7 (interpolated Kneser-Ney).

Example:
    >>> lm = KneserNeyLM(order=2).fit("abab")
    >>> round(lm.probability("b", "a"), 4)  # 89/108
    0.8241
    >>> round(lm.bits_per_character("ab"), 3)  # P(a | start) = 22/27
    0.287
"""

import collections
import math

BOUNDARY = ""  # Not a character: marks the text's start.


class KneserNeyLM:
    """Interpolated Kneser-Ney character n-gram language model.

    Args:
        order: int >= 1, the n of the n-gram (3: two characters of history).
        discounts: optional list of `order` floats in (0, 1), `D_1 .. D_n`;
            default: Ney's estimate from the training counts.
    """

    def __init__(self, order=3, discounts=None):
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise ValueError(f"KneserNeyLM: order must be an int >= 1, got {order!r}")
        if discounts is not None:
            discounts = [float(d) for d in discounts]
            if len(discounts) != order or not all(0 < d < 1 for d in discounts):
                raise ValueError(
                    f"KneserNeyLM: discounts must be {order} floats in (0, 1), "
                    f"got {discounts!r}"
                )
        self.order = order
        self.discounts = discounts
        self.vocabulary = None
        self._tables = None

    def fit(self, text):
        """Counts the n-grams of `text` (a str); returns `self`."""
        if not text:
            raise ValueError("KneserNeyLM.fit: the training text is empty")
        n = self.order
        chars = [BOUNDARY] * (n - 1) + list(text)
        # Highest order: counts c(h w). Lower orders: the set of characters
        # preceding each k-gram, whose size is N1+(. g w).
        counts = collections.Counter(
            tuple(chars[i - n + 1 : i + 1]) for i in range(n - 1, len(chars))
        )
        preceders = [collections.defaultdict(set) for _ in range(n)]
        for i in range(1, len(chars)):
            for k in range(1, n):
                if i - k < 0:
                    break
                gram = tuple(chars[i - k + 1 : i + 1])
                if gram[-1] == BOUNDARY:
                    continue
                preceders[k][gram].add(chars[i - k])
        tables = {}
        for k in range(1, n + 1):
            grams = counts if k == n else {g: len(p) for g, p in preceders[k].items()}
            rows = collections.defaultdict(dict)
            for gram, count in grams.items():
                rows[gram[:-1]][gram[-1]] = count
            tables[k] = {
                history: (row, sum(row.values())) for history, row in rows.items()
            }
        self.vocabulary = sorted(set(text))
        self._discount = self.discounts or [
            self._ney_discount(tables[k]) for k in range(1, n + 1)
        ]
        self._tables = tables
        return self

    @staticmethod
    def _ney_discount(table):
        values = [c for row, _ in table.values() for c in row.values()]
        n1, n2 = values.count(1), values.count(2)
        if n1 == 0:
            return 0.5
        return min(max(n1 / (n1 + 2 * n2), 1e-3), 1 - 1e-3)

    def probability(self, char, history=""):
        """P(`char` | the last `order - 1` characters of `history`).

        A `history` shorter than `order - 1` is the text's start.
        """
        if self._tables is None:
            raise ValueError("KneserNeyLM: call fit(text) first")
        n = self.order
        context = ([BOUNDARY] * (n - 1) + list(history))[len(history) :]
        p = 1.0 / (len(self.vocabulary) + 1)  # uniform, one slot for unseen
        for k in range(1, n + 1):
            entry = self._tables[k].get(tuple(context[n - k :]))
            if entry is None:
                continue
            row, total = entry
            d = self._discount[k - 1]
            p = max(row.get(char, 0) - d, 0.0) / total + d * len(row) / total * p
        return p

    def bits_per_character(self, text):
        """Mean `-log2 P` of the characters of `text`, which starts fresh
        (boundary history)."""
        if not text:
            raise ValueError("KneserNeyLM.bits_per_character: the text is empty")
        n = self.order
        bits = 0.0
        for i, char in enumerate(text):
            bits -= math.log2(self.probability(char, text[max(0, i - n + 1) : i]))
        return bits / len(text)
