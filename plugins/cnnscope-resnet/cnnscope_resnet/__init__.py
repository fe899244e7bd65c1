"""Example cnnscope plugin: resnet-mini and the SqueezeExcitation layer."""
