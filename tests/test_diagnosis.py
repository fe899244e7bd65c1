"""The diagnosis: Machine Learning Yearning's worked examples, 95 % intervals against scipy and statsmodels,
and properties of verdicts and advice over many random histories (hypothesis)."""
import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnscope.core.errors import CnnscopeError
from cnnscope.training.diagnosis import Sizes, diagnose, from_dict
from cnnscope.training.levers import OPPOSITES
from cnnscope.training.intervals import difference_interval, rate_interval, wilson

EXAMPLES = int(os.environ.get("CNNSCOPE_HYPOTHESIS_EXAMPLES", "200"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true")
LARGE = Sizes(train=100_000, val=100_000, selection=100_000)  # the book's errors, practically exact


@pytest.mark.parametrize("train, val, verdict", [
    (0.01, 0.11, "high_variance"),            # "1% training error, 11% dev error"
    (0.15, 0.16, "high_bias"),                # "15% training error, 16% dev error"
    (0.15, 0.30, "high_bias_and_variance"),   # "15% training error, 30% dev error"
    (0.005, 0.01, "good_fit"),                # "0.5% training error, 1% dev error"
])
def test_ml_yearning_examples(train, val, verdict):
    d = diagnose([train], [val], target_error=0.05, sizes=LARGE)
    assert d.diagnosis == verdict
    assert d.avoidable_bias == pytest.approx(train) and d.variance == pytest.approx(val - train)


def test_bayes_error_moves_the_bias():
    # ML Yearning ch. 21: 14% train, 15% dev, optimal 14%: bias is all unavoidable.
    d = diagnose([0.14], [0.15], bayes_error=0.14, target_error=0.16, sizes=LARGE)
    assert d.diagnosis == "good_fit" and d.avoidable_bias == pytest.approx(0.0)


def test_best_epoch_and_overfitting_onset():
    train = [0.30, 0.15, 0.08, 0.04, 0.02]
    val = [0.32, 0.20, 0.14, 0.17, 0.19]
    d = diagnose(train, val, target_error=0.05)
    assert d.best_epoch == 3 and d.train_error == 0.08 and d.val_error == 0.14
    assert d.overfitting_from_epoch == 4
    assert any("rose from epoch 4" in r.text for r in d.recommendations)
    assert diagnose([0.3, 0.2], [0.3, 0.2]).overfitting_from_epoch is None


def test_the_best_epoch_is_chosen_on_the_selection_half_and_reported_on_the_other():
    select = [0.20, 0.10, 0.12]
    report = [0.21, 0.14, 0.11]  # epoch 3 looks best on the report half, but the selection half chose epoch 2
    d = diagnose([0.1, 0.05, 0.04], report, select_errors=select, sizes=LARGE)
    assert d.best_epoch == 2 and d.val_error == 0.14


def test_default_target_is_two_points_above_bayes():
    assert diagnose([0.1], [0.1], bayes_error=0.05).target_error == pytest.approx(0.07)


def test_diverged():
    d = diagnose([0.5, math.nan], [0.5, math.nan], diverged=True)
    assert d.diagnosis == "diverged" and "learning rate" in d.recommendations[0].text


@pytest.mark.parametrize("kwargs", [{"bayes_error": -0.1}, {"target_error": 1.5}, {"bayes_error": 0.2, "target_error": 0.1}])
def test_bad_rates(kwargs):
    with pytest.raises(CnnscopeError):
        diagnose([0.1], [0.1], **kwargs)


# --- intervals against independent implementations --------------------------------------------------------
@pytest.mark.parametrize("errors, n", [(0, 10), (1, 72), (2, 72), (4, 144), (17, 360), (500, 10_000), (72, 72)])
def test_wilson_matches_scipy(errors, n):
    from scipy.stats import binomtest

    expected = binomtest(errors, n).proportion_ci(0.95, method="wilson")
    got = wilson(errors, n)
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high), abs=1e-12)


@pytest.mark.parametrize("k1, n1, k2, n2", [(20, 72, 4, 1293), (300, 3000, 0, 10_000), (5, 500, 5, 500),
                                            (1, 100, 30, 100)])
def test_the_variance_interval_is_newcombes_as_statsmodels_computes_it(k1, n1, k2, n2):
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    got = difference_interval(k1 / n1, wilson(k1, n1), k2 / n2, wilson(k2, n2))
    assert (got.low, got.high) == pytest.approx((low, high), abs=1e-9)


def test_the_train_interval_has_the_finite_population_correction():
    assert rate_interval(0.03, 1293, 1293).low == rate_interval(0.03, 1293, 1293).high == 0.03  # the whole set
    # measured on 10,000 of a population so large that the correction vanishes: Wilson's own interval
    assert rate_interval(0.03, 10_000, 10**12).to_list() == pytest.approx(wilson(300, 10_000).to_list(), abs=1e-9)
    # a subsample of half the population is surer than the same count from an endless one
    half = rate_interval(0.03, 10_000, 20_000)
    assert wilson(300, 10_000).low < half.low < 0.03 < half.high < wilson(300, 10_000).high


# --- verdicts -----------------------------------------------------------------------------------------------
def test_the_readme_run_of_144_validation_images_is_inconclusive_and_says_what_decides_it():
    sizes = Sizes(train=1293, train_population=1293, val=72, selection=72)
    d = diagnose([0.005], [2 / 72], sizes=sizes)  # 2.78 % with a 2 % target: 1 image of 72 is 1.4 points
    assert d.diagnosis == "inconclusive" and d.leaning == "high_variance"
    from scipy.stats import binomtest

    ci = binomtest(2, 72).proportion_ci(method="wilson")
    assert d.shown("val_error") == f"2.78% [{ci.low * 100:.2f}, {ci.high * 100:.2f}]"
    assert d.shown("train_error") == "0.50%"  # measured on the whole training set: exact
    assert d.recommendations[0].lever == "measure"
    n = d.deciding_val_size  # the same error rate on 2n examples decides it, on n/2 not

    def at(size):
        return diagnose([0.005], [round(2 / 72 * size) / size], sizes=Sizes(train=1293, train_population=1293,
                                                                              val=size, selection=size)).diagnosis
    assert at(2 * n) == "high_variance" and at(n // 2) == "inconclusive"


def test_missing_the_target_is_never_good_fit_even_when_each_component_is_within_the_budget():
    # the run: validation 2.78 % against a 2 % target, bias and variance each under 2 points
    d = diagnose([0.015], [0.0278], sizes=Sizes(train=50_000, val=50_000, selection=50_000))
    assert d.diagnosis == "high_bias_and_variance"


@st.composite
def histories(draw):
    """Per-epoch errors as counts of mistakes over the examples measured, as a run records them."""
    epochs = draw(st.integers(1, 8))
    n, measured = draw(st.integers(10, 100_000)), draw(st.integers(10, 10_000))

    def errors(size):
        return [k / size for k in draw(st.lists(st.integers(0, int(0.6 * size)), min_size=epochs, max_size=epochs))]

    train, val, select = errors(measured), errors(n), errors(n)
    bayes = draw(st.floats(0, 0.05))
    target = bayes + draw(st.floats(0.001, 0.2))
    sizes = Sizes(train=measured, train_population=20_000, val=n, selection=n)
    return train, val, select, bayes, min(target, 1.0), sizes


@PROPERTY
@given(histories())
def test_properties_of_verdicts_and_advice(history):
    train, val, select, bayes, target, sizes = history
    d = diagnose(train, val, bayes_error=bayes, target_error=target, sizes=sizes, select_errors=select)
    levers = [r.lever for r in d.recommendations]
    assert not any(a in levers and b in levers for a, b in OPPOSITES)
    assert len(set(levers)) == len(levers)
    if d.val_error > target:
        assert d.diagnosis != "good_fit"
    if d.diagnosis == "good_fit":
        assert d.intervals["val_error"].high <= target
    if d.diagnosis in ("high_bias", "high_variance", "high_bias_and_variance"):
        assert d.intervals["val_error"].low > target  # a verdict only beyond the interval
    if d.diagnosis == "high_bias_and_variance" and levers:
        assert levers[0] == "capacity_up"  # bias first
    best_is_last = d.best_epoch == len(train)
    assert ("stop_earlier" not in levers) or not best_is_last
    assert ("train_longer" not in levers) or best_is_last
    assert d.intervals["val_error"].low <= d.val_error <= d.intervals["val_error"].high
    assert from_dict(d.to_dict()) == d


@pytest.mark.parametrize("damage", [{"diagnosis": "great"}, {"train_error": "0.1"}, {"intervals": {"val": [1]}},
                                    {"recommendations": [{"text": "no lever"}]}, {"best_epoch": 1.5},
                                    {"recommendations": [{"lever": "augment", "text": "x", "cost": {"params": 5}}]},
                                    {"recommendations": [{"lever": "augment", "text": "x", "change": [1]}]}])
def test_a_damaged_stored_diagnosis_is_one_line(damage):
    stored = diagnose([0.1], [0.2], sizes=LARGE).to_dict()
    with pytest.raises(CnnscopeError, match="no valid diagnosis"):
        from_dict({**stored, **damage})
