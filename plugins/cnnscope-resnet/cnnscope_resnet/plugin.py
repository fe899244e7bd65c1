"""The plugin module named by the "cnnscope" entry point. Light: no Keras import at module level."""
import click

from cnnscope import Architecture, HyperParameter, hookimpl

from .rules import RULE


def _conv_bn(name, filters, kernel, strides, inputs):
    return [
        {"type": "Conv2D", "name": name, "filters": filters, "kernel_size": kernel, "strides": strides,
         "padding": "same", "use_bias": False, "inputs": inputs},
        {"type": "BatchNormalization", "name": f"{name}_bn", "inputs": [name]},
    ]


def spec(input_shape, num_classes, width, blocks, se, se_ratio):
    layers = _conv_bn("stem", width, 3, 1, ["input_layer"])
    layers.append({"type": "ReLU", "name": "stem_relu", "inputs": ["stem_bn"]})
    previous, channels = "stem_relu", width
    for stage in range(3):
        filters = width * 2**stage
        for block in range(blocks):
            name = f"stage{stage + 1}_block{block + 1}"
            strides = 2 if stage > 0 and block == 0 else 1
            layers += _conv_bn(f"{name}_conv1", filters, 3, strides, [previous])
            layers.append({"type": "ReLU", "name": f"{name}_relu1", "inputs": [f"{name}_conv1_bn"]})
            layers += _conv_bn(f"{name}_conv2", filters, 3, 1, [f"{name}_relu1"])
            residual = f"{name}_conv2_bn"
            if se:
                layers.append({"type": "SqueezeExcitation", "name": f"{name}_se", "ratio": se_ratio, "inputs": [residual]})
                residual = f"{name}_se"
            shortcut = previous
            if strides != 1 or channels != filters:  # projection shortcut (He et al., option B)
                layers += _conv_bn(f"{name}_shortcut", filters, 1, strides, [previous])
                shortcut = f"{name}_shortcut_bn"
            layers.append({"type": "Add", "name": f"{name}_add", "inputs": [residual, shortcut]})
            layers.append({"type": "ReLU", "name": f"{name}_out", "inputs": [f"{name}_add"]})
            previous, channels = f"{name}_out", filters
    layers.append({"type": "GlobalAveragePooling2D", "name": "pool", "inputs": [previous]})
    layers.append({"type": "Dense", "name": "predictions", "units": num_classes, "activation": "softmax", "inputs": ["pool"]})
    return {"layers": layers}


def custom_objects():
    from .layers import SqueezeExcitation  # imports Keras: only when a Keras model is built

    return {"SqueezeExcitation": SqueezeExcitation}


@hookimpl
def register_architectures(register):
    register(Architecture(
        name="resnet-mini",
        description="A ResNet for 32x32 inputs: three stages of residual blocks, optional Squeeze-and-Excitation",
        input_shape=(32, 32, 3),
        num_classes=10,
        hyperparameters=(
            HyperParameter("width", int, 16, "filters of the first stage; each stage doubles them", low=1, high=4096,
                           role="capacity"),
            HyperParameter("blocks", int, 1, "residual blocks per stage (depth = 6 * blocks + 2)", low=1, high=64,
                           role="capacity", step="+1"),
            HyperParameter("se", bool, False, "add a SqueezeExcitation layer to every block"),
            HyperParameter("se_ratio", int, 4, "channel reduction inside SqueezeExcitation", low=1, high=1024),
        ),
        spec=spec,
        custom_objects=custom_objects,
    ))


@hookimpl
def register_layer_rules(register):
    register(RULE)


@hookimpl
def register_commands(cli):
    @cli.command(name="resnet-table")
    @click.option("--max-blocks", default=4, show_default=True)
    def resnet_table(max_blocks):
        """Parameters and MACs of resnet-mini by depth.

        From the cnnscope-resnet plugin.
        """
        from cnnscope import analyze
        from cnnscope.plugins import registry

        reg = registry()
        arch = reg.architecture("resnet-mini")
        for blocks in range(1, max_blocks + 1):
            analysis = analyze(arch.stack(overrides={"blocks": blocks}), rules=reg.rules)
            click.echo(f"ResNet-{6 * blocks + 2}: {analysis.params:,} parameters, {analysis.totals.macs:,} MACs")


@hookimpl
def register_callbacks(register, options):
    """An experiment tracker in miniature: with CNNSCOPE_RESNET_TRACK=FILE.jsonl set, every epoch of a
    resnet-mini run appends its metrics to FILE as one JSON line. A real tracker (MLflow, W&B) would log
    the same dictionary to its server."""
    import os

    path = os.environ.get("CNNSCOPE_RESNET_TRACK")
    if not path or not options.architecture.startswith("resnet-mini"):
        return
    import json

    import keras

    class EpochTracker(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            row = {"architecture": options.architecture, "dataset": options.dataset, "epoch": epoch + 1,
                   **{key: float(value) for key, value in (logs or {}).items()}}
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")

    register(EpochTracker())
