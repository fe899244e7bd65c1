"""One small keras-hub model of each family, built from its constructor (random weights, never a preset).

Imported only in a subprocess running Keras on JAX (tests/test_keras_hub.py, benchmarks/analyzer_speed.py).
Each entry: name -> (builder, input shape for MACs); the builder is called inside a StatelessScope, so even
the large published configurations allocate no weights.
"""
import keras_hub as hub

M = hub.models
IMAGE = (64, 64, 3)
TEXT = dict(vocabulary_size=256, num_layers=2, hidden_dim=32, intermediate_dim=64)


def _decoder(cls, **extra):
    return lambda: cls(**TEXT, num_query_heads=4, num_key_value_heads=2, **extra)


IMAGE_BACKBONES = {
    "resnet": lambda: M.ResNetBackbone(
        input_conv_filters=[16], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="bottleneck_block",
        image_shape=IMAGE),
    "efficientnet": lambda: M.EfficientNetBackbone(
        stackwise_kernel_sizes=[3, 3], stackwise_num_repeats=[1, 1], stackwise_input_filters=[16, 16],
        stackwise_output_filters=[16, 24], stackwise_expansion_ratios=[1, 4],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.25], stackwise_strides=[1, 2],
        stackwise_block_types=["fused", "unfused"], width_coefficient=1.0, depth_coefficient=1.0,
        input_shape=IMAGE),
    "mobilenet": lambda: M.MobileNetBackbone(
        stackwise_expansion=[[40], [72]], stackwise_num_blocks=[1, 1], stackwise_num_filters=[[16], [24]],
        stackwise_kernel_size=[[3], [5]], stackwise_num_strides=[[2], [1]], stackwise_se_ratio=[[None], [0.25]],
        stackwise_activation=[["relu"], ["hard_swish"]], stackwise_padding=[[1], [2]], output_num_filters=64,
        depthwise_filters=8, depthwise_stride=2, depthwise_residual=False, last_layer_filter=64,
        squeeze_and_excite=0.5, input_num_filters=16, image_shape=IMAGE),
    "densenet": lambda: M.DenseNetBackbone(stackwise_num_repeats=[2, 2], image_shape=IMAGE),
    "cspnet": lambda: M.CSPNetBackbone(
        stem_filters=16, stem_kernel_size=3, stem_strides=2, stackwise_depth=[1, 1], stackwise_strides=[1, 2],
        stackwise_num_filters=[16, 32], block_type="dark_block", stage_type="dark",
        image_shape=IMAGE),
    "vgg": lambda: M.VGGBackbone(stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 16], image_shape=IMAGE),
    "xception": lambda: M.XceptionBackbone(
        stackwise_conv_filters=[[16, 32], [32, 32]], stackwise_pooling=[False, True], image_shape=IMAGE),
    "vit": lambda: M.ViTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                 mlp_dim=64),
    "deit": lambda: M.DeiTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                   intermediate_dim=64),
    "dinov2": lambda: M.DINOV2Backbone(patch_size=8, num_layers=2, hidden_dim=32, num_heads=2, intermediate_dim=64,
                                       image_shape=(32, 32, 3), position_embedding_shape=(32, 32, 3)),
    "swin": lambda: M.SwinTransformerBackbone(image_shape=(32, 32, 3), embed_dim=16, depths=[2, 2],
                                              num_heads=[2, 4], window_size=4, patch_size=2),
    "mit": lambda: M.MiTBackbone(
        layerwise_depths=[1, 1], num_layers=2, layerwise_num_heads=[1, 2], layerwise_sr_ratios=[2, 1],
        max_drop_path_rate=0.0, layerwise_patch_sizes=[7, 3], layerwise_strides=[4, 2], image_shape=IMAGE,
        hidden_dims=[16, 32]),
}

TEXT_BACKBONES = {
    "bert": lambda: M.BertBackbone(**TEXT, num_heads=2, max_sequence_length=64),
    "distil_bert": lambda: M.DistilBertBackbone(**TEXT, num_heads=2, max_sequence_length=64),
    "roberta": lambda: M.RobertaBackbone(**TEXT, num_heads=2, max_sequence_length=64),
    "albert": lambda: M.AlbertBackbone(**TEXT, num_heads=2, embedding_dim=16, max_sequence_length=64),
    "gpt2": lambda: M.GPT2Backbone(**TEXT, num_heads=2, max_sequence_length=64),
    "opt": lambda: M.OPTBackbone(**TEXT, num_heads=2, max_sequence_length=64),
    "llama": _decoder(M.LlamaBackbone),
    "mistral": _decoder(M.MistralBackbone),
    "gemma": lambda: M.GemmaBackbone(vocabulary_size=256, num_layers=2, num_query_heads=4, num_key_value_heads=2,
                                     hidden_dim=32, intermediate_dim=64, head_dim=8),
    "qwen2": _decoder(M.QwenBackbone),
    "phi3": _decoder(M.Phi3Backbone),
    "mixtral": _decoder(M.MixtralBackbone, num_experts=2, top_k=1),
    "t5": lambda: M.T5Backbone(**TEXT, num_heads=2),
    "bart": lambda: M.BartBackbone(**TEXT, num_heads=2, max_sequence_length=64),
}

TASKS = {
    "image_classifier": lambda: M.ResNetImageClassifier(backbone=IMAGE_BACKBONES["resnet"](), num_classes=5),
    "causal_lm": lambda: M.GPT2CausalLM(backbone=TEXT_BACKBONES["gpt2"](), preprocessor=None),
    "text_classifier": lambda: M.BertTextClassifier(backbone=TEXT_BACKBONES["bert"](), num_classes=3,
                                                    preprocessor=None),
}

SEQUENCE = [16]  # --input-shape for every text model's inputs (one length for all)
FAMILIES = {**IMAGE_BACKBONES, **TEXT_BACKBONES, **TASKS}
