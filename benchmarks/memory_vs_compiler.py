"""Static training memory and FLOPs against XLA's plan for one real training step, side by side.

    python benchmarks/memory_vs_compiler.py [--batches 1,32,256] [--applications] [--dtype float32]

For each model and batch size it prints static training_memory_bytes / compiled
peak_bytes and static training FLOPs / compiled flops (float32 and Adam unless
told, on this machine's JAX device: the CPU here). The targets of issue 10 are
0.85-1.15 for memory and 0.90-1.10 for FLOPs. --applications adds VGG16,
ResNet50, MobileNetV2 and EfficientNetB0 from keras.applications, saved as
config-only .keras files in a temporary folder; each compile takes a minute or
more.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from memory_models import BUILTINS, EXAMPLES, ROOT, config_only_applications

sys.path.insert(0, str(ROOT))

from cnnscope.keras.compiled import compiled_plan  # noqa: E402
from cnnscope.targets import analyze_target  # noqa: E402

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--applications", action="store_true")
    parser.add_argument("--only", help="comma-separated targets instead of the default list")
    parser.add_argument("--cache", type=Path, help="a JSON file of compiled plans to reuse and extend: the plans "
                        "do not change when only the static model does")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else {}
    with tempfile.TemporaryDirectory() as folder:
        targets = args.only.split(",") if args.only else BUILTINS + EXAMPLES
        if args.applications:
            targets += config_only_applications(Path(folder))
        print(f"{'model':<22} {'batch':>5} {'static MiB':>11} {'compiled MiB':>13} {'memory':>7} {'FLOPs':>6}")
        for target in targets:
            for batch in batches:
                analysis = analyze_target(target, batch_size=batch, dtype=args.dtype, optimizer=args.optimizer)
                key = f"{Path(target).name}|{batch}|{args.dtype}|{args.optimizer}"
                if key not in cache:
                    cache[key] = compiled_plan(target, batch_size=batch, dtype=args.dtype,
                                               optimizer=args.optimizer).to_dict()
                    if args.cache:
                        args.cache.write_text(json.dumps(cache, indent=1))
                plan = cache[key]
                static, flops = analysis.totals.training_memory_bytes, analysis.totals.training_flops
                step = flops * batch + analysis.totals.optimizer_flops if flops else None
                flops_ratio = f"{step / plan['flops']:.2f}" if step and plan["flops"] else "-"
                print(f"{Path(target).stem:<22} {batch:>5} {static / 2**20:>11.1f} {plan['peak_bytes'] / 2**20:>13.1f} "
                      f"{static / plan['peak_bytes']:>7.2f} {flops_ratio:>6}", flush=True)


if __name__ == "__main__":
    main()
