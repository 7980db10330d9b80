"""The interpolated Kneser-Ney character n-gram baseline, checked by hand."""

import math

import pytest

from keras_seq import data
from keras_seq.training.evaluation import kneser_ney_baseline
from keras_seq.training.kneser_ney_lm import KneserNeyLM


def test_bigram_of_abab_matches_the_hand_computation():
    # Text "abab" after one boundary symbol: bigrams (^a) 1, (ab) 2, (ba) 1,
    # so D_2 = n1 / (n1 + 2 n2) = 2 / 4. Continuation counts: a follows ^ and
    # b (2), b follows a (1), so D_1 = 1 / 3, N1+(..) = 3, and V = 2 + 1.
    lm = KneserNeyLM(order=2).fit("abab")
    p1_a = (2 - 1 / 3) / 3 + (1 / 3) * 2 / 3 / 3  # 17/27
    p1_b = (1 - 1 / 3) / 3 + (1 / 3) * 2 / 3 / 3  # 8/27
    p1_unseen = (1 / 3) * 2 / 3 / 3  # 2/27
    assert lm.probability("b", "a") == pytest.approx(1.5 / 2 + 0.5 * 1 / 2 * p1_b)
    assert lm.probability("b", "a") == pytest.approx(89 / 108)
    assert lm.probability("a", "a") == pytest.approx(0.25 * p1_a)
    assert lm.probability("z", "a") == pytest.approx(0.25 * p1_unseen)
    # The start: history (^), seen once, followed by a.
    assert lm.probability("a", "") == pytest.approx(0.5 + 0.5 * p1_a)
    # A history never seen falls back to the unigram.
    assert lm.probability("a", "z") == pytest.approx(p1_a)
    expected = -(math.log2(0.5 + 0.5 * p1_a) + math.log2(89 / 108)) / 2
    assert lm.bits_per_character("ab") == pytest.approx(expected)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_probabilities_sum_to_one(order):
    lm = KneserNeyLM(order).fit("the cat sat on the mat; the dog sat on the log.\n")
    for history in ("", "th", "the ", "zq", " s", "og."):
        total = sum(lm.probability(c, history) for c in lm.vocabulary + ["#"])
        assert total == pytest.approx(1.0), history


def test_higher_orders_fit_repetitive_text_better():
    text = "abcabcabcabcabcabc" * 5
    bits = [KneserNeyLM(n).fit(text).bits_per_character(text) for n in (1, 2, 3)]
    assert bits[0] > bits[1] > bits[2]
    assert bits[0] == pytest.approx(math.log2(3), abs=0.1)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="order must be an int >= 1"):
        KneserNeyLM(0)
    with pytest.raises(ValueError, match="discounts must be 2 floats"):
        KneserNeyLM(2, discounts=[0.5])
    with pytest.raises(ValueError, match="call fit"):
        KneserNeyLM(2).probability("a")
    with pytest.raises(ValueError, match="training text is empty"):
        KneserNeyLM(2).fit("")


def test_baseline_on_a_text_dataset_split(tmp_path):
    path = tmp_path / "text.txt"
    text = "the cat sat on the mat\n" * 40 + "the dog sat on the log\n" * 5
    path.write_text(text)
    dataset = data.load_dataset(f"text:{path}")
    bits = kneser_ney_baseline(dataset, "validation", order=3)
    cut = dataset.metadata["characters"]["train"]
    lm = KneserNeyLM(3).fit(text[:cut])
    assert bits == pytest.approx(lm.bits_per_character(text[cut:]))
    assert text[cut:] == "the dog sat on the log\n" * 4
