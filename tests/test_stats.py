"""Tests for baselines/stats.py: paired differences, their t interval and verdict, the trivial baseline."""

import math

import pytest
from scipy import stats

from tinyattn_lab.baselines.stats import learns, paired_by_seed, paired_difference, trivial_score


def test_paired_interval_by_hand():
    """Oracle: d = (2, 4, 3) by hand: mean 3, sd 1, half width t(0.975, 2) / sqrt(3) with scipy's t quantile."""
    result = paired_difference([80.0, 82.0, 81.0], [78.0, 78.0, 78.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert result["mean"] == pytest.approx(3.0) and result["sd"] == pytest.approx(1.0) and result["n"] == 3
    assert (result["low"], result["high"]) == pytest.approx((3.0 - half, 3.0 + half))
    assert half == pytest.approx(4.302652729911275 / math.sqrt(3))  # the t table's 4.303 for 2 degrees of freedom
    assert result["verdict"] == "wins"


def test_interval_matches_scipy_paired_t():
    """Oracle: scipy's paired t test (ttest_rel) and its confidence interval on the same scores."""
    mine, other = [71.2, 69.8, 73.5, 70.1, 72.0], [70.9, 70.5, 71.0, 70.8, 69.9]
    result = paired_difference(mine, other, confidence=0.9)
    expected = stats.ttest_rel(mine, other).confidence_interval(confidence_level=0.9)
    assert (result["low"], result["high"]) == pytest.approx((expected.low, expected.high))
    assert result["verdict"] == "tie"  # the interval holds 0 (p > 0.1)
    assert stats.ttest_rel(mine, other).pvalue > 0.1


def test_loses_and_one_seed():
    """Oracle: differences (-5, -6, -4) lie below 0 whatever the spread; one seed has no interval."""
    assert paired_difference([50.0, 50.0, 50.0], [55.0, 56.0, 54.0])["verdict"] == "loses"
    one = paired_difference([60.0], [58.5])
    assert one["mean"] == 1.5 and one["verdict"] == "one seed" and math.isnan(one["low"])


def test_paired_by_seed_uses_common_seeds():
    """Oracle: only seeds 0 and 2 are on both sides: d = (1, 3)."""
    result = paired_by_seed({0: 61.0, 1: 70.0, 2: 63.0}, {0: 60.0, 2: 60.0})
    assert result["seeds"] == [0, 2] and result["mean"] == 2.0 and result["sd"] == pytest.approx(math.sqrt(2))


def test_bad_pairs_refused():
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="No seed in common"):
        paired_by_seed({0: 1.0}, {1: 1.0})
    with pytest.raises(ValueError, match="confidence"):
        paired_difference([1.0, 2.0], [1.0, 1.0], confidence=95)


def test_trivial_score():
    """Oracle: by hand. Majority class 1 from the training labels scores 3 of 5 dev rows; STS-B's constant: 0."""
    assert trivial_score("sst2", [1, 1, 0], [1, 0, 1, 1, 0]) == pytest.approx(60.0)
    assert trivial_score("mrpc", [1, 1, 0], [1, 0, 1, 1, 0]) == pytest.approx(100 * 2 * 0.6 / 1.6)  # F1, recall 1
    assert trivial_score("stsb", [1.0, 2.0], [0.5, 3.0, 4.0]) == 0.0


def test_learns_rule_by_hand():
    """Oracle: the rule written out. Every seed above the trivial score and the mean above it by more than max - min."""
    assert learns([79.7, 78.7], 50.9)  # mean 79.2, 28.3 above, spread 1.0
    assert not learns([13.2, 9.0, 0.0], 0.0)  # one seed at the trivial score
    assert not learns([9.0, 2.0], 0.0)  # mean 5.5 above, spread 7.0
    assert learns([6.4, 7.4, 4.2], 0.0)  # mean 6.0 above, spread 3.2
    with pytest.raises(ValueError, match="two seeds"):
        learns([80.0], 50.0)
