"""The models both memory benchmarks measure: the built-ins, the example specs and four keras.applications.

The applications are saved as config-only .keras zips (no weights): neither the
analyzer nor the compiler reads weights, and VGG16's alone are 528 MB.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILTINS = ["mnist-cnn", "lenet", "alexnet-lite", "vgg-lite"]
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").iterdir() if p.suffix in (".toml", ".json", ".yaml"))
APPLICATIONS = ["VGG16", "ResNet50", "MobileNetV2", "EfficientNetB0"]


def config_only_applications(folder: Path) -> list[str]:
    """APPLICATIONS as .keras zips holding config.json alone, written to FOLDER when not there yet."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [name for name in APPLICATIONS if not (folder / f"{name}.keras").exists()]
    if missing:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras

        for name in missing:
            model = getattr(keras.applications, name)(weights=None)
            config = json.dumps(keras.saving.serialize_keras_object(model))
            with zipfile.ZipFile(folder / f"{name}.keras", "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("config.json", config)
    return [str(folder / f"{name}.keras") for name in APPLICATIONS]
