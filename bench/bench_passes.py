"""fp32 graph passes: does each optimisation pass of the converter help ONNX Runtime or OpenVINO?

    python bench/bench_passes.py [--models coat_lite_tiny,coat_tiny] [--batches 1,8]
        [--runs 20] [--cache DIR] [--passes fuse_sibling_matmuls,merge_depthwise_convs]

For every model (seeded random weights, MINDIR exported once with `export.py` into CACHE) it
converts with --dynamic_batch four ways: without the studied passes ("base"), with each alone,
and with all of them ("all"). Every (variant, runtime) runner is timed in ONE interleaved
benchmark per batch size (coat_export.edge.benchmark: each round runs every runner once on the
same seeded input), so machine noise hits all alike. Printed: median ms, p90/median, and the
ratio to "base" in the same runtime; plus each variant's max |diff| against "base" in ONNX
Runtime. A pass is worth keeping when it helps one runtime and does not hurt the other.

A script, not a test: it takes minutes.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.join(ROOT, "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

from coat_export.converters.api import convert_detailed  # noqa: E402
from coat_export.converters.passes import OPTIONAL  # noqa: E402
from coat_export.edge.benchmark import benchmark  # noqa: E402
from coat_export.edge.check_inputs import seeded_input  # noqa: E402
from coat_export.edge.runners.onnxruntime_runner import OnnxRuntimeRunner  # noqa: E402
from coat_export.edge.runners.openvino_runner import OpenVinoRunner  # noqa: E402
from int8_recipes import RECIPES, build_variant, pre_process  # noqa: E402

STUDIED = ("fuse_sibling_matmuls", "merge_depthwise_convs")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mindir_of(model: str, cache: str) -> str:
    path = os.path.join(cache, f"{model}.mindir")
    if not os.path.exists(path):
        log(f"exporting {model} to {cache} (MindSpore, once)")
        subprocess.run([sys.executable, os.path.join(ROOT, "export.py"), "--model", model,
                        "--format", "mindir", "--output_dir", cache], check=True)
    return path


def variants(mindir: str, studied, opset: int):
    """{label: ONNX bytes}: base (no studied pass), each studied pass alone, all. A studied
    pass is a default pass (then skipped in base) or an optional one (then added)."""
    optional = [p for p in studied if p in OPTIONAL]
    default = [p for p in studied if p not in OPTIONAL]

    def config(on):
        return (tuple(p for p in default if p not in on), tuple(p for p in optional if p in on))

    configs = {"base": config(())}
    for p in studied:
        configs["+" + p] = config((p,))
    if len(studied) > 1:
        configs["all"] = config(studied)
    out = {}
    for label, (skip, extra) in configs.items():
        conv = convert_detailed(mindir, opset, dynamic_batch=True, skip_passes=skip,
                                extra_passes=extra)
        out[label] = conv.model.SerializeToString()
        log(f"  {label}: {len(conv.model.graph.node)} nodes "
            f"({', '.join(f'{p}={conv.pass_stats.get(p, 0)}' for p in studied)})")
    return out


def quantized(data: bytes, recipe_name: str, stem: str) -> str:
    """The variant of an fp32 model by one of bench/int8_recipes.py's recipes (calibrated on
    seeded random images: only latency is measured here)."""
    src, pre, out = stem + ".fp32.onnx", stem + ".pre.onnx", f"{stem}.{recipe_name}.onnx"
    if not os.path.exists(out):
        with open(src, "wb") as f:
            f.write(data)
        pre_process(src, pre)
        calib = seeded_input((8, 3, 224, 224), 1)
        name = OnnxRuntimeRunner(src).input.name
        build_variant(RECIPES[recipe_name], src, pre, out, calib, name)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="coat_lite_tiny,coat_tiny")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--passes", default=",".join(STUDIED),
                    help="default passes (measured by leaving them out) and optional ones "
                         f"({', '.join(sorted(OPTIONAL))}; measured by adding them)")
    ap.add_argument("--cache", default=os.path.join(ROOT, ".bench-cache", "mindir"))
    ap.add_argument("--int8", default="",
                    help="also time INT8 variants of every pass variant: recipe@runtime,... "
                         "(recipes of bench/int8_recipes.py, e.g. dyn@onnxruntime,"
                         "qdq_s8_pc@openvino)")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    studied = [p for p in args.passes.split(",") if p]
    rows = []
    for model in args.models.split(","):
        log(f"{model}: converting")
        models = variants(mindir_of(model, args.cache), studied, args.opset)
        # (pass variant, precision, runtime, runner); precision is fp32 or an INT8 recipe
        runners = []
        for label, data in models.items():
            runners.append((label, "fp32", "onnxruntime", OnnxRuntimeRunner(data, name=label)))
            runners.append((label, "fp32", "openvino", OpenVinoRunner(data, name=label)))
        for spec in [s for s in args.int8.split(",") if s]:
            recipe, runtime = spec.split("@")
            cls = OnnxRuntimeRunner if runtime == "onnxruntime" else OpenVinoRunner
            for label, data in models.items():
                q = quantized(data, recipe, os.path.join(args.cache, f"{model}.{label}"))
                runners.append((label, recipe, runtime,
                                cls(q, name=f"{label} {recipe}", precision="int8")))
        x = seeded_input((2, 3, 224, 224), 0)
        ref = runners[0][3](x)
        diffs = {label: float(np.max(np.abs(r(x) - ref)))
                 for label, prec, rt, r in runners if rt == "onnxruntime" and prec == "fp32"}
        for batch in [int(b) for b in args.batches.split(",")]:
            log(f"{model}: timing batch {batch} ({len(runners)} runners interleaved)")
            results = benchmark([r[3] for r in runners], batch_size=batch, runs=args.runs,
                                warmup=3)
            base = {(prec, rt): res.median_ms for (label, prec, rt, _), res
                    in zip(runners, results) if label == "base"}
            for (label, prec, rt, _), res in zip(runners, results):
                rows.append({"model": model, "batch": batch, "variant": label,
                             "precision": prec, "runtime": rt,
                             "median_ms": round(res.median_ms, 2),
                             "p90_over_median": round(res.p90_ms / res.median_ms, 2),
                             "vs_base": round(res.median_ms / base[(prec, rt)], 3),
                             "max_abs_diff_vs_base": diffs.get(label, "-")
                             if prec == "fp32" else "-"})
        for *_, r in runners:
            r.close()
    head = ("model", "batch", "variant", "precision", "runtime", "median_ms", "p90_over_median", "vs_base",
            "max_abs_diff_vs_base")
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in head) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
