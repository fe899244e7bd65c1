"""cnnscope improve on scikit-learn's digits: the loop's decisions follow its own recorded numbers, the test
split is seen once, and an interrupted search resumes to the end."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from cnnscope.cli import main
from cnnscope.core.errors import CnnscopeError
from cnnscope.training.diagnosis import Recommendation, Sizes, diagnose
from cnnscope.training.improve import improved, next_change
from cnnscope.training.intervals import difference_interval

SIZES = Sizes(train=1000, train_population=1000, val=500, selection=500)
TINY = ["--set", "filters=2", "--set", "dense_units=8"]  # a model with bias to remove, fast to train


def test_a_change_is_kept_only_beyond_the_interval_of_the_difference():
    incumbent = diagnose([0.10], [0.12], sizes=SIZES)
    slightly = diagnose([0.09], [0.11], sizes=SIZES)
    clearly = diagnose([0.03], [0.05], sizes=SIZES)
    assert improved(incumbent, slightly)[0] is False and improved(incumbent, clearly)[0] is True
    kept, interval = improved(incumbent, clearly)
    expected = difference_interval(0.12, incumbent.intervals["val_error"], 0.05, clearly.intervals["val_error"])
    assert interval == expected.to_list()
    diverged = diagnose([0.5], [float("nan")], diverged=True)
    assert improved(incumbent, diverged)[0] is False and improved(diverged, incumbent)[0] is True


def test_the_next_change_skips_measurement_time_savers_and_what_was_tried():
    d = diagnose([0.0], [0.3], sizes=SIZES).with_recommendations([
        Recommendation("measure", "x", {"val_split": 0.3}), Recommendation("stop_earlier", "x", {"epochs": 2}),
        Recommendation("capacity_up", "x", None), Recommendation("augment", "x", {"augment": True}),
        Recommendation("more_data", "x", {"train_size": 400})])
    assert next_change(d, []).change == {"augment": True}
    assert next_change(d, [{"augment": True}]).change == {"train_size": 400}
    assert next_change(d, [{"augment": True}, {"train_size": 400}]) is None


def test_improve_follows_its_own_advice_and_sees_the_test_split_once(tmp_path):
    out = tmp_path / "search"
    result = CliRunner().invoke(main, ["improve", "mnist-cnn", *TINY, "--epochs", "2", "--trials", "3",
                                       "--output", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    search = json.loads((out / "improve.json").read_text())
    trials = search["trials"]
    assert 1 <= len(trials) <= 3 and trials[0]["change"] is None and (out / "improve.csv").is_file()
    incumbent = json.loads((out / "trial-1" / "metrics.json").read_text())
    for trial in trials[1:]:
        metrics = json.loads((out / trial["run"] / "metrics.json").read_text())
        tried = [t["change"] for t in trials if t["number"] < trial["number"]]
        # the change is the first untried recommendation of the model it set out to improve
        expected = next(r["change"] for r in incumbent["recommendations"]
                        if r["change"] and r["lever"] not in ("measure", "stop_earlier") and r["change"] not in tried)
        assert trial["change"] == expected
        assert trial["kept"] == (trial["improvement"][0] > 0)  # its own recorded interval decided it
        assert trial["val_error"] == metrics["val_error"]
        if trial["kept"]:
            incumbent = metrics
    final = search["final"]
    tested = [t["run"] for t in trials if json.loads((out / t["run"] / "metrics.json").read_text())["test_error"]
              is not None]
    assert tested == [final["run"]]  # the test split, evaluated once: for the final model
    final_metrics = json.loads((out / final["run"] / "metrics.json").read_text())
    assert final_metrics["test_error"] == final["test_error"] and final["test_examples"] == 360
    low, high = final_metrics["intervals"]["test_error"]
    assert low <= final["test_error"] <= high
    page = CliRunner().invoke(main, ["improve", "--resume", str(out), "--format", "html"])
    assert page.exit_code == 0 and (out / "improve.html").is_file()  # a finished search is only shown


def test_an_interrupted_search_resumes_to_its_end(tmp_path):
    out = tmp_path / "search"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "cnnscope", "improve", "mnist-cnn", *TINY, "--epochs", "30", "--trials", "2",
           "--output", str(out)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 240
    while time.time() < deadline and not (out / "trial-1" / "state.json").exists():
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=240)
    assert process.returncode == 130, err
    assert f"cnnscope improve --resume {out}" in err
    result = CliRunner().invoke(main, ["improve", "--resume", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    search = json.loads((out / "improve.json").read_text())
    assert search["final"] is not None and search["trials"][0]["verdict"] is not None
    history = (out / "trial-1" / "history.csv").read_text().splitlines()[1:]
    assert [int(line.split(",")[0]) for line in history] == list(range(1, 31))  # unbroken, to the end


OPTIONS = {"architecture": "mnist-cnn", "epochs": 2}
TRIAL = {"number": 2, "run": "trial-2", "change": {"sets": {"filters": "64"}}, "words": "--set filters=64"}


@pytest.mark.parametrize("trial", [{"number": 1, "run": "../../etc"}, {**TRIAL, "run": "../outside"},
                                   {**TRIAL, "cost": {"params": "many"}},
                                   {**TRIAL, "cost": {"params": [1, 2], "flops": [1, 2],
                                                      "training_memory_bytes": [1, -2], "batch_size": 64}},
                                   {**TRIAL, "verdict": "great"}, {**TRIAL, "val_error": "low"},
                                   {**TRIAL, "kept": "yes"}, {**TRIAL, "number": "2"}])
def test_a_damaged_search_file_is_one_line(tmp_path, trial):
    (tmp_path / "improve.json").write_text(json.dumps({"options": OPTIONS, "trials_budget": 2, "trials": [trial]}))
    result = CliRunner().invoke(main, ["improve", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "is damaged" in result.output


def test_the_paired_interval_covers_95_percent_and_is_narrower_than_the_independent_one():
    import numpy as np

    from cnnscope.training.intervals import paired_difference_interval, wilson

    rng = np.random.default_rng(0)
    n, p_first, p_second, agree = 1000, 0.18, 0.16, 0.9  # two models that share most of their mistakes
    covered, narrower, trials = 0, 0, 2000
    for _ in range(trials):
        shared = rng.random(n) < p_second * agree
        first = shared | (rng.random(n) < (p_first - p_second * agree) / (1 - p_second * agree))
        second = shared | (rng.random(n) < p_second * (1 - agree) / (1 - p_second * agree))
        paired = paired_difference_interval(int((first & ~second).sum()), int((second & ~first).sum()), n)
        covered += paired.low <= p_first - p_second <= paired.high
        a, b = int(first.sum()), int(second.sum())
        independent = difference_interval(a / n, wilson(a, n), b / n, wilson(b, n))
        narrower += (paired.high - paired.low) < (independent.high - independent.low)
    assert abs(covered / trials - 0.95) < 0.015  # its nominal coverage, within the simulation's noise
    assert narrower == trials


def test_improve_compares_the_same_examples_pairwise(tmp_path):
    from cnnscope.training.run_folder import RunFolder

    incumbent, candidate = diagnose([0.10], [0.12], sizes=SIZES), diagnose([0.09], [0.10], sizes=SIZES)
    assert improved(incumbent, candidate)[0] is False  # two points apart on 500: not beyond Newcombe's interval
    first, second = frozenset(range(60)), frozenset(range(50))  # the candidate fixes 10 mistakes, makes none
    kept, interval = improved(incumbent, candidate, ((500, first), (500, second)))
    assert kept and interval[0] > 0
    folder = RunFolder(tmp_path)
    folder.write_json(RunFolder.MISTAKES, {"examples": 5, "wrong": [1, 7]})
    with pytest.raises(CnnscopeError, match="no valid example indices"):
        folder.read_mistakes()


@pytest.mark.parametrize("options", [{"architecture": 5, "epochs": 2}, {"architecture": "mnist-cnn"},
                                     {**OPTIONS, "unknown_option": 1}, {**OPTIONS, "batch_size": "64"}])
def test_a_search_whose_options_are_damaged_is_one_line(tmp_path, options):
    (tmp_path / "improve.json").write_text(json.dumps({"options": options, "trials_budget": 2, "trials": []}))
    result = CliRunner().invoke(main, ["improve", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "is damaged" in result.output


@pytest.mark.parametrize("change", [{"no_such_option": 1}, {"epochs": "many"}, {"sets": {"width": 64}}])
def test_a_stored_change_is_checked_before_it_is_applied(change):
    from cnnscope.training.advice import applied
    from cnnscope.training.trainer import TrainOptions

    with pytest.raises(CnnscopeError, match="a recommendation's change is damaged"):
        applied(TrainOptions(architecture="mnist-cnn"), change)
