"""Builders of hostile inputs for the regression and fuzz tests: bombs, damaged zips, odd files."""
import json
import struct
import zipfile


def yaml_bomb(where: str) -> str:
    """Billion laughs: nine levels of nine aliases, 9^9 strings once expanded, used as the value of WHERE."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        name, prev = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    layer = {"type": "Conv2D", "name": "c", "filters": "8", "kernel_size": "3"}
    shape = "*i" if where == "input_shape" else "[8, 8, 1]"
    if where in layer:
        layer[where] = "*i"
    return "\n".join(lines) + f"\ninput_shape: {shape}\nlayers:\n  - " + "\n    ".join(
        f"{key}: {value}" for key, value in layer.items()) + "\n"


def keras_zip(path, config, compression=zipfile.ZIP_DEFLATED) -> None:
    data = config if isinstance(config, (bytes, str)) else json.dumps(config)
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("config.json", data)
        archive.writestr("metadata.json", "{}")


def inflating_zip(path, size: int) -> None:
    """A small .keras whose config.json inflates to SIZE bytes (spaces compress about 1000:1)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("config.json", "w", force_zip64=True) as handle:
            chunk = b" " * 2**22
            for _ in range(size // len(chunk)):
                handle.write(chunk)


def lying_zip(path, size: int) -> None:
    """Like inflating_zip, but both headers claim config.json is 10 bytes: only reading counts."""
    inflating_zip(path, size)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.find(signature)
        data[start + offset:start + offset + 4] = struct.pack("<I", 10)
    path.write_bytes(bytes(data))


def patched_zip(path, config, flag_bits: int = 0, method: int | None = None) -> None:
    """A zip whose config.json claims encryption (flag bit 0) or an unknown compression method."""
    keras_zip(path, config, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    for signature, flag_offset, method_offset in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = data.find(signature)
        if flag_bits:
            data[start + flag_offset] |= flag_bits
        if method is not None:
            data[start + method_offset:start + method_offset + 2] = struct.pack("<H", method)
    path.write_bytes(bytes(data))


def nested_sequentials(depth: int) -> str:
    text = '{"class_name":"Dense","config":{"name":"d","units":2}}'
    for i in range(depth):
        text = '{"class_name":"Sequential","config":{"name":"s%d","layers":[%s]}}' % (i, text)
    return text
