"""Learning curves and prediction grids (matplotlib, headless)."""
from __future__ import annotations

import math

from ..views.figures import pyplot


def _band(ax, epochs, rates, sizes, population=None, **style) -> None:
    """RATES per epoch with their 95 % Wilson band for SIZES examples each (intervals.py)."""
    from .intervals import rate_interval

    line, = ax.plot(epochs, rates, "o-", **style)
    if sizes:
        bands = [rate_interval(rate, sizes, population) for rate in rates]
        ax.fill_between(epochs, [b.low for b in bands], [b.high for b in bands], color=line.get_color(), alpha=0.18)


def learning_curves(history: list, d, path) -> None:
    """Train/validation error (with 95 % bands) and loss per epoch; Keras's running train error dashed.
    D: the run's Diagnosis (its verdict, target and sample sizes)."""
    plt = pyplot()
    epochs = [row["epoch"] for row in history]
    halves = all("val_report_error" in row for row in history)
    fig, (err_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    _band(err_ax, epochs, [row["train_error"] for row in history], d.sizes.train, d.sizes.train_population,
          label="train error (inference mode)")
    _band(err_ax, epochs, [row["val_report_error" if halves else "val_error"] for row in history], d.sizes.val,
          label="validation error" + (" (report half)" if halves else ""))
    err_ax.plot(epochs, [1 - row["accuracy"] for row in history], "--", alpha=0.6, label="Keras running train error")
    err_ax.axhline(d.target_error, color="gray", linestyle=":", label="target error")
    err_ax.set(xlabel="epoch", ylabel="error", title="Error (bands: 95% intervals)")
    loss_ax.plot(epochs, [row["train_loss"] for row in history], "o-", label="train loss (inference mode)")
    loss_ax.plot(epochs, [row["val_loss"] for row in history], "o-", label="validation loss")
    loss_ax.plot(epochs, [row["loss"] for row in history], "--", alpha=0.6, label="Keras running train loss")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="Loss")
    from matplotlib.ticker import MaxNLocator

    for ax in (err_ax, loss_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Diagnosis: {d.diagnosis.replace('_', ' ')}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def prediction_grid(images, predicted, true, class_names, path, count: int = 25) -> None:
    """Test images titled "predicted (true)", mistakes in red."""
    plt = pyplot()
    count = min(count, len(images))
    side = math.ceil(math.sqrt(count))
    fig, axes = plt.subplots(side, side, figsize=(1.8 * side, 1.9 * side))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= count:
            continue
        image = images[i]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image.clip(0, 1), cmap="gray" if image.shape[-1] == 1 else None)
        wrong = predicted[i] != true[i]
        ax.set_title(f"{class_names[predicted[i]]} ({class_names[true[i]]})", fontsize=8, color="red" if wrong else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_curve_plot(rows: list, verdict: str, target_error: float, path) -> None:
    """Train and validation error against training-set size, with their 95 % bands (rows' *_interval)."""
    plt = pyplot()
    sizes = [row["train_examples"] for row in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label in (("train_error", "train error"), ("val_error", "validation error")):
        line, = ax.plot(sizes, [row[key] for row in rows], "o-", label=label)
        bands = [row.get(f"{key}_interval") for row in rows]
        if all(bands):
            ax.fill_between(sizes, [b[0] for b in bands], [b[1] for b in bands], color=line.get_color(), alpha=0.18)
    ax.axhline(target_error, color="gray", linestyle=":", label="target error")
    ax.set(xlabel="training examples", ylabel="error (best epoch)", title="Learning curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.5, 0.01, verdict, ha="center", fontsize=7, wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def validation_curves(curves: dict, path) -> None:
    """Validation error per epoch of every compared model."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in curves.items():
        ax.plot([e for e, _ in points], [v for _, v in points], "o-", label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="validation error", title="Validation error by model")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
