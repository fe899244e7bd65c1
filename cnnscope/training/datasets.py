"""Datasets for training: numpy arrays in Keras's key layout, adapted to an architecture's input.

digits (scikit-learn's bundled 8x8 digits) always works offline. mnist,
fashion-mnist, cifar10 and cifar100 come from NAME.npz in --data-dir or
$CNNSCOPE_DATA_DIR (keys x_train, y_train, x_test, y_test), else from
keras.datasets when online. npz:PATH reads such a file; a folder of images
with one subfolder per class (optionally under train/ and test/) works too.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import CnnscopeError, did_you_mean, short

KERAS_DATASETS = {
    "mnist": ("mnist", [str(i) for i in range(10)]),
    "fashion-mnist": ("fashion_mnist", ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                        "Sneaker", "Bag", "Ankle boot"]),
    "cifar10": ("cifar10", ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]),
    "cifar100": ("cifar100", [str(i) for i in range(100)]),
}
NAMES = ["digits", *KERAS_DATASETS, "npz:PATH", "a folder of class subfolders"]
KEYS = ("x_train", "y_train", "x_test", "y_test")
TEST_FRACTION = 0.2  # for datasets that ship no test split (digits, a plain image folder)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # float32 in [0, 1], shape (N, H, W, C)
    y_train: np.ndarray  # int64 class indices
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])


def _images(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:  # (N, H, W) grayscale
        x = x[..., None]
    if x.ndim != 4:
        raise CnnscopeError(f"images must have shape (N, H, W) or (N, H, W, C); got {x.shape}")
    scale = 255.0 if x.dtype == np.uint8 or x.max() > 1.0 else 1.0
    return (x.astype("float32") / scale).astype("float32")


MAX_CLASSES = 100_000  # labels are class indices: 2**31 would have the trainer build 2**31 class names
# What an .npz may inflate to, as its members declare (zipfile stops reading a member at its declared size, so
# a member that lies fails its CRC instead). MNIST inflates to 55 MB; a 126 KiB bomb to 2.2 GB stops here.
DEFAULT_MAX_DATASET_BYTES = 2**30


def max_dataset_bytes() -> int:
    """CNNSCOPE_MAX_DATASET_BYTES, for a larger dataset of one's own; else 1 GiB."""
    text = os.environ.get("CNNSCOPE_MAX_DATASET_BYTES", "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_DATASET_BYTES


def _labels(y, name: str = "dataset", key: str = "labels") -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise CnnscopeError(f"{name}: {key} must be whole class indices, 0 to classes - 1")
    if y.size and (y.min() < 0 or y.max() >= MAX_CLASSES):
        raise CnnscopeError(f"{name}: {key} holds {int(y.min()) if y.min() < 0 else int(y.max())}; labels are class "
                            f"indices from 0 to at most {MAX_CLASSES - 1:,}")
    return y.astype("int64")


def _from_arrays(name, arrays, class_names=None) -> Dataset:
    for key in KEYS:
        dtype = arrays[key].dtype
        if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating) or dtype == bool):
            raise CnnscopeError(f"{name}: {key} holds {dtype} values; images and labels are real numbers")
        if arrays[key].ndim == 0:
            raise CnnscopeError(f"{name}: {key} is a single number; it must hold one entry per sample")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) == 0 or len(x) != len(np.asarray(y).reshape(-1)):
            raise CnnscopeError(f"{name}: x_{split} has {len(x)} samples and y_{split} {np.asarray(y).size} labels; "
                                "each split needs as many labels as samples, at least one")
    x_train, y_train = _images(arrays["x_train"]), _labels(arrays["y_train"], name, "y_train")
    x_test, y_test = _images(arrays["x_test"]), _labels(arrays["y_test"], name, "y_test")
    classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(name, x_train, y_train, x_test, y_test, class_names or [str(i) for i in range(classes)])


def _stratified_test_split(x, y, seed=0):
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed)


def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images / 16.0).astype("float32")[..., None]
    x_train, x_test, y_train, y_test = _stratified_test_split(x, bunch.target.astype("int64"))
    return Dataset("digits", x_train, y_train, x_test, y_test, [str(i) for i in range(10)])


def load_npz(path, name=None, class_names=None) -> Dataset:
    import zipfile

    path = Path(path)
    if not path.is_file():  # also a FIFO or a device: never opened
        raise CnnscopeError(f"no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise CnnscopeError(f"{path} is not an .npz archive (numpy.savez) with the keys {', '.join(KEYS)}")
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
        if inflated > max_dataset_bytes():
            raise CnnscopeError(f"{path} inflates to {inflated:,} bytes, over the {max_dataset_bytes():,}-byte limit "
                                "(CNNSCOPE_MAX_DATASET_BYTES raises it for a dataset you trust)")
        with np.load(path, allow_pickle=False) as data:  # an object array would need unpickling: refused
            missing = [key for key in KEYS if key not in data.files]
            if missing:
                raise CnnscopeError(f"{path} lacks {', '.join(missing)}; it needs the keys {', '.join(KEYS)} "
                                    "(Keras's layout)")
            arrays = {key: data[key] for key in KEYS}
    except CnnscopeError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CnnscopeError(f"{path} cannot be read as numeric arrays ({type(exc).__name__}: "
                            f"{short(str(exc), 120)}); save it with numpy.savez, without object arrays") from None
    return _from_arrays(name or path.stem, arrays, class_names)


def _read_folder(folder: Path, classes: list, size) -> tuple:
    from PIL import Image

    xs, ys = [], []
    from PIL import UnidentifiedImageError

    root = Path(os.path.realpath(folder))
    for label, cls in enumerate(classes):
        for file in sorted((folder / cls).iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                # regular files inside the folder only: a FIFO named zz.png would block, a link could lead out
                if not file.is_file() or not Path(os.path.realpath(file)).is_relative_to(root):
                    raise CnnscopeError(f"{file} is not a regular file inside {folder}; remove it")
                try:
                    image = Image.open(file).convert("RGB")
                except (UnidentifiedImageError, OSError) as exc:
                    raise CnnscopeError(f"{file} is not an image that can be read ({type(exc).__name__}); remove "
                                        "it or replace it") from None
                if size:
                    image = image.resize((size[1], size[0]))
                xs.append(np.asarray(image))
                ys.append(label)
    if not xs:
        raise CnnscopeError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class subfolders")
    try:
        return np.stack(xs), np.array(ys)
    except ValueError:
        raise CnnscopeError(f"images in {folder} differ in size; cnnscope resizes them to the architecture's input") from None


def load_folder(path, image_size=None) -> Dataset:
    path = Path(path)
    split = (path / "train").is_dir() and (path / "test").is_dir()
    root = path / "train" if split else path
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise CnnscopeError(f"{root} needs one subfolder per class (at least 2); found {len(classes)}")
    x, y = _read_folder(root, classes, image_size)
    if split:
        x_test, y_test = _read_folder(path / "test", classes, image_size)
        x_train, y_train = x, y
    else:
        x_train, x_test, y_train, y_test = _stratified_test_split(x, y)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return _from_arrays(path.name, arrays, classes)


def load_dataset(name: str, data_dir=None, image_size=None) -> Dataset:
    """A dataset by name; offline unless it must come from keras.datasets."""
    if name == "digits":
        return load_digits()
    if name.startswith("npz:"):
        return load_npz(name[4:])
    if name in KERAS_DATASETS:
        module, class_names = KERAS_DATASETS[name]
        folder = data_dir or os.environ.get("CNNSCOPE_DATA_DIR")
        if folder:  # a local folder was named: use it, never fall back to downloading
            path = Path(folder) / f"{name}.npz"
            if not path.is_file():
                raise CnnscopeError(
                    f"no {name}.npz in {folder}; put {name}.npz with keys {', '.join(KEYS)} there, "
                    "or drop --data-dir/CNNSCOPE_DATA_DIR to use keras.datasets online, or use --dataset digits"
                )
            return load_npz(path, name, class_names)
        try:
            import keras

            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, module).load_data()
        except Exception as exc:
            raise CnnscopeError(
                f"cannot load {name}: keras.datasets failed ({type(exc).__name__}: offline?); "
                f"put {name}.npz with keys {', '.join(KEYS)} in a folder and pass --data-dir FOLDER "
                "(or set CNNSCOPE_DATA_DIR), or use --dataset digits"
            ) from None
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        return _from_arrays(name, arrays, class_names)
    if Path(name).is_dir():
        return load_folder(name, image_size)
    raise CnnscopeError(f"unknown dataset {short(name)}{did_you_mean(name, ['digits', *KERAS_DATASETS])}; use one "
                        f"of: {', '.join(NAMES)}")


@functools.lru_cache(maxsize=2)
def load_adapted(name: str, data_dir, input_shape: tuple) -> tuple[Dataset, str | None]:
    """load_dataset + adapt, cached per process: a learning curve or a comparison trains many
    times on the same data. Callers index into the arrays (copies) and never write to them."""
    ds, notice = adapt(load_dataset(name, data_dir, image_size=input_shape[:2]), input_shape)
    for array in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        array.flags.writeable = False  # the cache is shared: make accidental writes fail loudly
    return ds, notice


def _resize(x: np.ndarray, height: int, width: int, chunk: int = 4096) -> np.ndarray:
    import keras

    parts = [
        keras.ops.convert_to_numpy(keras.ops.image.resize(x[i:i + chunk], (height, width), interpolation="bilinear"))
        for i in range(0, len(x), chunk)
    ]
    return np.concatenate(parts).astype("float32")


def _channels(x: np.ndarray, channels: int) -> np.ndarray:
    have = x.shape[-1]
    if have == channels:
        return x
    if have == 1:
        return np.repeat(x, channels, axis=-1)
    if have == 3 and channels == 1:
        return (x @ np.array([0.299, 0.587, 0.114], dtype="float32"))[..., None]
    raise CnnscopeError(f"cannot turn {have}-channel images into {channels} channels")


def adapt(ds: Dataset, input_shape) -> tuple[Dataset, str | None]:
    """Resize and convert channels to the architecture's input; the notice says what changed."""
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise CnnscopeError(
            f"the architecture takes inputs of shape {list(input_shape)}, but {ds.name} holds images "
            f"{'x'.join(map(str, ds.input_shape))}; pick an image architecture"
        )
    if ds.input_shape == input_shape:
        return ds, None
    height, width, channels = input_shape

    def convert(x):
        if x.shape[1:3] != (height, width):
            x = _resize(x, height, width)
        return _channels(x, channels)

    adapted = Dataset(ds.name, convert(ds.x_train), ds.y_train, convert(ds.x_test), ds.y_test, ds.class_names)
    notice = (f"{ds.name}: adapting images {'x'.join(map(str, ds.input_shape))} -> "
              f"{'x'.join(map(str, input_shape))} (bilinear resize, channels {ds.input_shape[-1]} -> {channels})")
    return adapted, notice


def validation_split(x, y, fraction: float, seed: int):
    """Stratified, seeded split of the training data: (x_train, x_val, y_train, y_val)."""
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise CnnscopeError(f"--val-split {fraction} must be between 0 and 1")
    try:
        return train_test_split(x, y, test_size=fraction, stratify=y, random_state=seed)
    except ValueError as exc:
        raise CnnscopeError(f"cannot make a stratified validation split: {exc}") from None


def measurement_subset(n: int, seed: int, limit: int = 10_000) -> np.ndarray:
    """Indices of the fixed, seeded training subsample on which train error is measured each epoch."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def validation_halves(y_val, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(selection, report) indices of the validation split: the best epoch is chosen on one half and its error
    reported on the other, since the minimum of one error over epochs is biased low. Stratified when every
    class has two examples; the seed is the run's."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(y_val))
    if len(indices) < 2:
        raise CnnscopeError(f"the validation split holds {len(indices)} example(s); give a larger --val-split")
    counts = np.bincount(y_val) if len(y_val) else np.array([])
    stratify = y_val if counts[counts > 0].min() >= 2 else None
    select, report = train_test_split(indices, test_size=0.5, stratify=stratify, random_state=seed)
    return np.sort(select), np.sort(report)
