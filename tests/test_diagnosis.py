"""The verdicts of Machine Learning Yearning's worked examples (chapters 20-21), Bayes error 0."""
import math

import pytest

from cnnscope.training.diagnosis import diagnose
from cnnscope.errors import CnnscopeError


@pytest.mark.parametrize("train, val, verdict", [
    (0.01, 0.11, "high_variance"),            # "1% training error, 11% dev error"
    (0.15, 0.16, "high_bias"),                # "15% training error, 16% dev error"
    (0.15, 0.30, "high_bias_and_variance"),   # "15% training error, 30% dev error"
    (0.005, 0.01, "good_fit"),                # "0.5% training error, 1% dev error"
])
def test_ml_yearning_examples(train, val, verdict):
    d = diagnose([train], [val], target_error=0.05)
    assert d.diagnosis == verdict
    assert d.avoidable_bias == pytest.approx(train) and d.variance == pytest.approx(val - train)


def test_bayes_error_moves_the_bias():
    # ML Yearning ch. 21: 14% train, 15% dev, optimal 14%: bias is all unavoidable.
    d = diagnose([0.14], [0.15], bayes_error=0.14, target_error=0.16)
    assert d.diagnosis == "good_fit" and d.avoidable_bias == pytest.approx(0.0)


def test_best_epoch_and_overfitting_onset():
    train = [0.30, 0.15, 0.08, 0.04, 0.02]
    val = [0.32, 0.20, 0.14, 0.17, 0.19]
    d = diagnose(train, val, target_error=0.05)
    assert d.best_epoch == 3 and d.train_error == 0.08 and d.val_error == 0.14
    assert d.overfitting_from_epoch == 4
    assert any("rose from epoch 4" in r for r in d.recommendations)
    assert diagnose([0.3, 0.2], [0.3, 0.2]).overfitting_from_epoch is None


def test_default_target_is_two_points_above_bayes():
    assert diagnose([0.1], [0.1], bayes_error=0.05).target_error == pytest.approx(0.07)


def test_diverged():
    d = diagnose([0.5, math.nan], [0.5, math.nan], diverged=True)
    assert d.diagnosis == "diverged" and "learning rate" in d.recommendations[0]


@pytest.mark.parametrize("kwargs", [{"bayes_error": -0.1}, {"target_error": 1.5}, {"bayes_error": 0.2, "target_error": 0.1}])
def test_bad_rates(kwargs):
    with pytest.raises(CnnscopeError):
        diagnose([0.1], [0.1], **kwargs)
