"""The levers a diagnosis can pull, as data: what each means, which are opposites, and the order to try them
for a verdict (Machine Learning Yearning: bias first). advice.py turns a lever into a change of a run."""
from __future__ import annotations

# lever -> what it means, generically; advice.py turns it into a change of this run and its price
LEVERS = {
    "capacity_up": "train a bigger model",
    "train_longer": "train longer: the best epoch was the last",
    "regularization_down": "reduce regularization",
    "optimizer": "tune the optimizer and its learning rate",
    "more_data": "add training data",
    "augment": "augment the training data",
    "regularization_up": "add regularization",
    "stop_earlier": "stop at the epoch of lowest validation error",
    "capacity_down": "use a smaller model",
    "lower_learning_rate": "lower the learning rate (e.g. divided by 10)",
    "check_inputs": "check the inputs for NaN/inf and that they are scaled to about [0, 1]",
    "measure": "measure on more validation examples",
}
OPPOSITES = (("capacity_up", "capacity_down"), ("regularization_up", "regularization_down"),
             ("train_longer", "stop_earlier"))
BIAS_LEVERS = ("capacity_up", "train_longer", "regularization_down", "optimizer")
VARIANCE_LEVERS = ("more_data", "augment", "regularization_up", "stop_earlier", "capacity_down")


def _opposed(lever: str) -> set:
    return {b if a == lever else a for a, b in OPPOSITES if lever in (a, b)}


def levers_for(verdict: str, best_is_last: bool, onset: int | None) -> list:
    """The levers for a verdict, in the order to try them; never two opposites (bias first, as the book says)."""
    bias = [lever for lever in BIAS_LEVERS if lever != "train_longer" or best_is_last]
    variance = [lever for lever in VARIANCE_LEVERS if lever != "stop_earlier" or not best_is_last]
    if verdict == "high_bias":
        chosen = bias
    elif verdict == "high_variance":
        chosen = variance
    elif verdict == "high_bias_and_variance":
        # bias first, as the book says: a bigger model, then what reduces variance without undoing it (more
        # data, augmentation, and regularization to counter the variance a bigger model adds); never less
        # regularization, which would raise the variance further
        chosen = [lever for lever in bias if lever != "regularization_down"]
        chosen += [lever for lever in variance if not _opposed(lever) & set(chosen)]
    else:
        chosen = []
    if onset is not None and "stop_earlier" not in chosen and not _opposed("stop_earlier") & set(chosen):
        chosen.append("stop_earlier")
    return chosen
