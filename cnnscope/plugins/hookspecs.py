"""The hooks a cnnscope plugin may implement (pluggy project and entry-point group: "cnnscope").

A plugin is a module named by an entry point in the "cnnscope" group:

    [project.entry-points.cnnscope]
    my-plugin = "my_package.plugin"

Keep the module light: import Keras inside functions only, so that
`cnnscope --help`, `list` and `summary` stay fast and need no TensorFlow.
"""
import pluggy

hookspec = pluggy.HookspecMarker("cnnscope")
hookimpl = pluggy.HookimplMarker("cnnscope")


@hookspec
def register_architectures(register):
    """Call register(cnnscope.Architecture(...)) once per architecture."""


@hookspec
def register_layer_rules(register):
    """Call register(cnnscope.rules.Rule(...)) for each custom Keras layer the plugin provides,
    so the analyzer gives exact numbers for it instead of an error."""


@hookspec
def register_commands(cli):
    """Add click commands to the `cnnscope` command group, e.g. @cli.command()."""


@hookspec
def register_callbacks(register, options):
    """Call register(keras.callbacks.Callback(...)) for each callback to add to a training run (a tracker's
    logger, say). options: the run's cnnscope.training.trainer.TrainOptions, to read, not to change.
    Called only by `train` and the experiments, after Keras is imported."""
