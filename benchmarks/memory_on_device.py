"""Static training memory, XLA's compiled plan and the GPU's measured peak, side by side (issue 10).

    python benchmarks/memory_on_device.py [--batches 1,32,256] [--applications DIR] [--jobs 6] [--json FILE]
    python benchmarks/memory_on_device.py --recorded benchmarks/results/memory_on_device_h200.json --applications DIR

For each model and batch size: cnnscope's static training_memory_bytes, the
compiled plan's peak_bytes for the present JAX device, and the peak the device's
allocator measured while the step ran twice on zeros (float32 and Adam unless told).

The allocator's high-water mark counts everything the process allocated, and
XLA's GPU autotuner tries convolution algorithms in device memory while
compiling. So each case runs twice with one persistent compilation cache: the
first process compiles (its peak, "cold", includes autotuning), the second loads
the compiled step from the cache and its peak is the step's own. The model is
built on the host, so nothing but the step's buffers sits on the device.

--applications DIR adds VGG16, ResNet50, MobileNetV2 and EfficientNetB0 as
config-only .keras files (no weights: neither the analyzer nor the compiler reads
them), written to DIR when not there yet. On the CPU there is no measured peak.

--recorded FILE prints a --json file's compiled and measured figures again,
beside the static figures of the present model: the plans and peaks stay as
measured, so the static model can change without a GPU.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from memory_models import BUILTINS, EXAMPLES, ROOT, config_only_applications

if importlib.util.find_spec("cnnscope") is None:  # an installed cnnscope (the GPU machine gets a wheel)
    sys.path.insert(0, str(ROOT))

from cnnscope.keras.compiled import compiled_plan  # noqa: E402
from cnnscope.targets import analyze_target  # noqa: E402


def one_case(target: str, batch: int, dtype: str, optimizer: str) -> dict:
    analysis = analyze_target(target, batch_size=batch, dtype=dtype, optimizer=optimizer)
    options = dict(batch_size=batch, dtype=dtype, optimizer=optimizer, measure=True)
    cold = compiled_plan(target, **options).to_dict()  # compiles, autotunes, fills the cache
    warm = compiled_plan(target, **options).to_dict()  # loads the step from the cache
    return {"model": Path(target).stem, "batch": batch, "static_bytes": analysis.totals.training_memory_bytes,
            "cold": cold, "warm": warm}


def recorded(path: Path, targets: list[str], dtype: str, optimizer: str) -> list[dict]:
    """The cases of a --json file, their static_bytes from the present model (dtype and optimizer as measured)."""
    by_stem = {Path(target).stem: target for target in targets}
    cases = json.loads(path.read_text())
    for case in cases:
        if case["model"] not in by_stem:
            raise SystemExit(f"{path}: no target named {case['model']} (pass --applications DIR for those)")
        analysis = analyze_target(by_stem[case["model"]], batch_size=case["batch"], dtype=dtype, optimizer=optimizer)
        case["static_bytes"] = analysis.totals.training_memory_bytes
    return cases


HEADER = (f"{'model':<16} {'batch':>5} {'static':>10} {'compiled':>10} {'measured':>10} {'cold':>10} "
          f"{'st/comp':>8} {'st/meas':>8} {'comp/meas':>8} {'warm s':>6} {'cold s':>6}   (MiB)")


def row(case: dict) -> str:
    static, plan = case["static_bytes"], case["warm"]
    measured, cold = plan.get("measured_peak_bytes"), case["cold"].get("measured_peak_bytes")
    mib = lambda n: f"{n / 2**20:.1f}" if n else "-"  # noqa: E731
    ratio = lambda a, b: f"{a / b:.2f}" if a and b else "-"  # noqa: E731
    return (f"{case['model']:<16} {case['batch']:>5} {mib(static):>10} {mib(plan['peak_bytes']):>10} "
            f"{mib(measured):>10} {mib(cold):>10} {ratio(static, plan['peak_bytes']):>8} {ratio(static, measured):>8} "
            f"{ratio(plan['peak_bytes'], measured):>8} {plan['compile_s']:>6.1f} {case['cold']['compile_s']:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--applications", type=Path, metavar="DIR")
    parser.add_argument("--only", help="comma-separated targets instead of the built-ins and examples")
    parser.add_argument("--jobs", type=int, default=4, help="cases run at once (each in its own processes)")
    parser.add_argument("--json", type=Path, help="write every case's figures here as they finish")
    parser.add_argument("--recorded", type=Path, metavar="FILE", help="a --json file to print again, with the "
                        "present static model, instead of measuring")
    args = parser.parse_args()
    targets = args.only.split(",") if args.only else BUILTINS + EXAMPLES
    if args.applications:
        targets = config_only_applications(args.applications) + targets  # the slowest first
    if args.recorded:
        print(HEADER)
        for case in recorded(args.recorded, targets, args.dtype, args.optimizer):
            print(row(case))
        return
    cases = [(t, int(b)) for t in targets for b in args.batches.split(",")]
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ.get("JAX_COMPILATION_CACHE_DIR") or tempfile.mkdtemp()
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # several processes share the device
    print(HEADER, flush=True)
    done = []
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(one_case, t, b, args.dtype, args.optimizer): (t, b) for t, b in cases}
        for future in as_completed(futures):
            try:
                case = future.result()
            except Exception as exc:  # noqa: BLE001 (one case's failure is reported and the rest go on)
                print(f"{Path(futures[future][0]).stem:<16} {futures[future][1]:>5} failed: {exc}", flush=True)
                continue
            done.append(case)
            print(row(case), flush=True)
            if args.json:
                args.json.write_text(json.dumps(done, indent=1))


if __name__ == "__main__":
    main()
