"""Concrete, priced advice: each change is one this run can make, priced by the analyzer as `cnnscope summary`
prices the changed architecture on its own, and a change that breaks a budget is not recommended."""
import pytest

from cnnscope.plugins import HyperParameter, registry
from cnnscope.targets import analyze_target
from cnnscope.training.advice import KERAS_LEARNING_RATES, RunContext, advise, applied, cli_words
from cnnscope.training.diagnosis import Sizes, diagnose
from cnnscope.training.trainer import TrainOptions

SIZES = Sizes(train=10_000, train_population=50_000, val=5_000, selection=5_000)


def context(name, opts=None, limits=None, **hyper):
    arch = registry().architecture(name)
    opts = opts or TrainOptions(architecture=name)
    values = arch.resolve(hyper)
    totals = analyze_target(arch.stack(None, None, values), batch_size=opts.batch_size).totals
    return RunContext(arch, values, opts, arch.input_shape, arch.num_classes, "float32",
                      {k: getattr(totals, k) for k in ("params", "flops", "training_memory_bytes")}, limits or {},
                      train_pool=54_000, labelled=60_000, seconds_per_epoch=2.0)


def high_bias():
    return diagnose([0.10], [0.11], sizes=SIZES)


def test_capacity_advice_names_each_capacity_parameter_and_its_price_is_the_analyzers():
    d = advise(high_bias(), context("vgg-lite"))
    capacity = [r for r in d.recommendations if r.lever == "capacity_up" and r.change]
    assert {name for r in capacity for name in r.change["sets"]} == {"width", "depth", "convs_per_block", "dense_units"}
    for r in capacity:
        (name, value), = r.change["sets"].items()
        alone = analyze_target("vgg-lite", sets=[f"{name}={value}"], batch_size=64).totals
        assert r.cost["params"][1] == alone.params and r.cost["flops"][1] == alone.flops
        assert r.cost["training_memory_bytes"][1] == alone.training_memory_bytes
        assert f"--set {name}={value}" in r.text
    params = [r.cost["params"][1] for r in capacity]
    assert params == sorted(params)  # the cheapest first


def test_a_change_the_analyzer_refuses_is_left_out_with_its_reason():
    d = advise(high_bias(), context("vgg-lite", depth=5))  # 32x32 halved six times is no image
    assert not any(r.change == {"sets": {"depth": "6"}} for r in d.recommendations)
    assert any(reason.startswith("left out --set depth=6: ") for reason in d.reasons)


def test_a_change_that_breaks_a_budget_is_left_out_and_said():
    base = context("mnist-cnn")
    limits = {"max_params": base.totals["params"] * 2}  # filters=64 (2.44M) breaks it, dense_units=256 does not
    d = advise(high_bias(), context("mnist-cnn", limits=limits))
    sets = [r.change["sets"] for r in d.recommendations if r.lever == "capacity_up"]
    assert sets == [{"dense_units": "256"}]
    assert any("filters=64" in reason and "max-params" in reason for reason in d.reasons)


def test_variance_advice_regularizes_augments_and_adds_data_from_the_train_size():
    opts = TrainOptions(architecture="mnist-cnn", train_size=500)
    d = advise(diagnose([0.0], [0.12], sizes=SIZES), context("mnist-cnn", opts))
    changes = {r.lever: r.change for r in d.recommendations}
    assert changes["more_data"] == {"train_size": 1000}
    assert changes["augment"] == {"augment": True}
    regularization = [r.change["sets"] for r in d.recommendations if r.lever == "regularization_up"]
    assert {"dropout": "0.35"} in regularization and {"dense_dropout": "0.6"} in regularization
    assert applied(opts, {"sets": {"dropout": "0.35"}}).sets == {"dropout": "0.35"}


def test_an_architecture_without_roles_says_so():
    d = advise(high_bias(), context("lenet"))
    capacity = [r for r in d.recommendations if r.lever == "capacity_up"]
    assert len(capacity) == 1 and capacity[0].change is None and "declares the role capacity" in capacity[0].text


def test_a_diverged_run_is_told_a_tenth_of_its_learning_rate():
    d = diagnose([0.5], [float("nan")], diverged=True)
    opts = TrainOptions(architecture="lenet", optimizer="sgd")
    first = advise(d, context("lenet", opts)).recommendations[0]
    assert first.change == {"learning_rate": pytest.approx(KERAS_LEARNING_RATES["sgd"] / 10)}


@pytest.mark.keras
def test_keras_default_learning_rates_are_keras_own():
    from cnnscope.keras.models import keras_optimizer

    for name, rate in KERAS_LEARNING_RATES.items():
        optimizer = keras_optimizer(name)
        assert float(optimizer.learning_rate) == pytest.approx(rate), name


@pytest.mark.parametrize("kind, value, up, expected", [
    (int, 32, True, 64), (int, 1, False, None), (float, 0.25, True, 0.35), (float, 0.05, False, 0.0),
    (float, 0.95, True, 0.99)])
def test_a_hyper_parameter_moves_one_step_within_its_bounds(kind, value, up, expected):
    parameter = HyperParameter("p", kind, value, low=0 if kind is float else 1, high=0.99 if kind is float else 4096,
                               role="capacity")
    assert parameter.moved(value, up) == expected


@pytest.mark.parametrize("kwargs", [{"role": "speed"}, {"step": "*2"}, {"role": "capacity", "type": str}])
def test_a_plugins_bad_role_or_step_is_its_error(kwargs):
    with pytest.raises(ValueError):
        HyperParameter(**{"name": "p", "type": int, "default": 1, **kwargs})


def test_cli_words():
    assert cli_words({"sets": {"width": "64"}}) == "--set width=64"
    assert cli_words({"augment": True, "train_size": None, "val_split": 0.25}) == \
        "--augment no --train-size --val-split 0.25"
