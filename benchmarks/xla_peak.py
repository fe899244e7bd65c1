"""What XLA holds at the peak of one compiled training step, buffer by buffer and layer by layer.

    python benchmarks/xla_peak.py TARGET [--batch 256] [--dtype float32] [--optimizer adam] [--top 25]
    python benchmarks/xla_peak.py --dump DIR          # read an existing XLA_FLAGS=--xla_dump_to=DIR dump
    python benchmarks/xla_peak.py TARGET --order      # where each layer's forward and each random draw start

It compiles the step as `summary --compile` does (cnnscope/keras/compiled.py, JAX on this machine) with XLA's
dump on, then reads three of the dump's files: the schedule and every buffer's live range
(`*-live-range.txt`), the buffers' sizes (`*-buffer-assignment.txt`) and the instructions' metadata (the
optimized HLO), whose op_name names the Keras layer (`jvp(fc1)`: its forward; `transpose(jvp(fc1))`: its
backward). The sum of the live buffers at the peak instruction is XLA's plan to within its packing (the
`memory-usage-report`'s total); what is alive there, layer by layer, is what the training-step model of
docs/conventions.md must account for. This is how the terms of cnnscope/rules/backward.py were found.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
VALUE = re.compile(r"value: <\d+ ([\w.\-]+(?:\{[\d,]*\})?)[^>]*> \(size=(\d+),offset=\d+\): (\S+)")
RANGE = re.compile(r"^\s+([\w.\-]+\{[\d,]*\}):(\d+)-(\d+)$", re.M)
STEP = re.compile(r"^\s+(\d+):(\S+)$", re.M)
OP_NAME = re.compile(r"%([\w.\-]+) = .*?op_name=\"([^\"]+)\"")
LAYER = re.compile(r"(transpose\()?jvp\(([^()/]+)\)")


def _step_files(dump: Path) -> Path:
    found = sorted(dump.glob("*jit_step.cpu_after_optimizations-live-range.txt")) or sorted(
        dump.glob("*jit_step*after_optimizations-live-range.txt"))
    if not found:
        sys.exit(f"error: no jit_step live-range file in {dump}; was it dumped with XLA_FLAGS=--xla_dump_to?")
    return Path(str(found[-1]).removesuffix("-live-range.txt"))


def buffers(dump: Path) -> tuple:
    """(the buffers as (bytes, name, first, last, shape, op_name), the schedule step -> instruction)."""
    stem = _step_files(dump)
    sizes: dict[str, tuple] = {}
    for name, size, shape in VALUE.findall(Path(f"{stem}-buffer-assignment.txt").read_text()):
        key = name if "{" in name else name + "{}"  # a tuple element is name{i}; a plain value is name{}
        sizes[key] = (max(int(size), sizes.get(key, (0,))[0]), shape)
    ranges_text = Path(f"{stem}-live-range.txt").read_text()
    schedule = {int(step): name for step, name in STEP.findall(ranges_text)}
    ops = dict(OP_NAME.findall(Path(f"{stem}.txt").read_text()))
    seen, out = set(), []
    for name, first, last in RANGE.findall(ranges_text):
        if name in seen or name not in sizes:
            continue
        seen.add(name)
        size, shape = sizes[name]
        out.append((size, name, int(first), int(last), shape, ops.get(name.split("{")[0], "")))
    return out, schedule, ops


def layer_of(op_name: str) -> str:
    """'fc1 (forward)', 'fc1 (backward)', or '(no layer)' for parameters, copies and constants."""
    found = LAYER.findall(op_name)
    if not found:
        return "(no layer)"
    transposed, layer = found[-1]
    return f"{layer} ({'backward' if transposed else 'forward'})"


def first_steps(schedule: dict, ops: dict) -> dict:
    """Layer -> the schedule step of its forward's first instruction, and "LAYER draw" -> that of its random
    draw's loop (a dropout's threefry `while`): where XLA put each (docs/conventions.md, "Training step")."""
    out: dict[str, int] = {}
    for step in sorted(schedule):
        op = ops.get(schedule[step], "")
        if "transpose(" in op:  # the backward
            continue
        for layer in re.findall(r"jvp\(([^()/]+)\)", op):
            out.setdefault(f"{layer} draw" if "/while" in op else layer, step)
    return out


def peak(values: list) -> tuple:
    """(the schedule step where the live buffers add up the most, their bytes there)."""
    live: dict[int, int] = defaultdict(int)
    for size, _, first, last, _, _ in values:
        for step in range(first, last + 1):
            live[step] += size
    step = max(live, key=live.get)
    return step, live[step]


def report(dump: Path, top: int, order: bool = False) -> None:
    values, schedule, ops = buffers(dump)
    if order:
        print("the forward's first step, layer by layer, and each random draw's:")
        for layer, step in sorted(first_steps(schedule, ops).items(), key=lambda item: item[1]):
            print(f"  {step:>5}  {layer}")
        return
    step, total = peak(values)
    at_peak = [v for v in values if v[2] <= step <= v[3] and v[0] > 0]
    name = schedule.get(step, "?")
    print(f"peak: step {step}, {name} ({layer_of(ops.get(name, ''))}), {total / MiB:.2f} MiB live")
    by_layer: dict[str, int] = defaultdict(int)
    for size, *_, op_name in at_peak:
        by_layer[layer_of(op_name)] += size
    print("\nalive at the peak, by the layer that made it:")
    for layer, size in sorted(by_layer.items(), key=lambda item: -item[1]):
        print(f"  {size / MiB:9.2f} MiB  {layer}")
    print(f"\nthe {top} largest buffers (MiB, live steps, shape, op_name):")
    for size, buffer, first, last, shape, op_name in sorted(at_peak, reverse=True)[:top]:
        print(f"  {size / MiB:8.2f}  {buffer:34} {first:>4}-{last:<4} {shape:30} {op_name[:80]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="an architecture, spec or .keras file")
    parser.add_argument("--dump", type=Path, help="read this XLA dump instead of compiling")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--order", action="store_true", help="where each layer's forward and each draw start")
    args = parser.parse_args()
    if args.dump:
        return report(args.dump, args.top, args.order)
    if not args.target:
        parser.error("give a TARGET or --dump DIR")
    sys.path.insert(0, str(ROOT))
    from cnnscope.keras.compiled import compiled_plan

    with tempfile.TemporaryDirectory() as folder:
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={folder}".strip()
        plan = compiled_plan(args.target, batch_size=args.batch, dtype=args.dtype, optimizer=args.optimizer)
        print(f"XLA's plan: {plan.peak_bytes / MiB:.2f} MiB ({args.target}, batch {args.batch}, {args.dtype}, "
              f"{args.optimizer})")
        report(Path(folder), args.top, args.order)


if __name__ == "__main__":
    main()
