"""INT8 agreement on this CPU: the project's recipes with 8-bit and 7-bit (reduce_range) weights.

    python bench/bench_int8_isa.py [--cache DIR] [--out bench/results/int8_isa_<isa>.txt]

ONNX Runtime's u8s8 kernels without VNNI (AVX2-only x86) can saturate 16-bit intermediate
sums; with VNNI they do not. This script measures, on the CPU it runs on, every INT8 recipe
of `coat-export quantize` (dynamic; static for onnxruntime; static for openvino) with its
weights at 8 bits and at 7 bits, each judged in both runtimes against the fp32 model in the
same runtime by the project's own int8 gates (coat_export.edge.compare):

* on 64 seeded random inputs (what a check without images uses), and
* on the 450 held-out images of the trained digits fixture (real images), with top-1 accuracy.

Calibration for the static recipes: images of the digits *training* split (bench_runtimes).
Run it on an AVX2-only host and on an AVX-512/VNNI one: the recipe must pass on both.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.join(ROOT, "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench_runtimes import DIGITS, digits_train_images, export_fp32  # noqa: E402

HELDOUT = os.path.join(ROOT, "tests", "fixtures", "trained", "digits_heldout")
# (label, quantize mode, recipe runtime)
RECIPES = [("dynamic", "dynamic", "onnxruntime"),
           ("static@onnxruntime", "static", "onnxruntime"),
           ("static@openvino", "static", "openvino")]


def held_out():
    from coat_export.edge.preprocess import PreprocessConfig, list_images, preprocess_batch

    paths = list_images(HELDOUT, recursive=True)
    labels = np.array([int(os.path.basename(os.path.dirname(p))) for p in paths])
    return preprocess_batch(paths, PreprocessConfig(image_size=32, crop_pct=0.9)), labels


def main(argv=None):
    from coat_export.edge.compare import AGREEMENT_SAMPLES, compare_arrays, tolerance_for
    from coat_export.edge.cpu import cpu_info, cpu_line
    from coat_export.edge.check_inputs import seeded_input
    from coat_export.edge.preprocess import PreprocessConfig
    from coat_export.edge.runtimes import open_onnx_runner
    from coat_export.edge.sources import OnnxModel
    from coat_export.host.quantize import QuantizeOptions, quantize_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "coat-bench-cache"))
    ap.add_argument("--out", help="also write the table here")
    ap.add_argument("--runtimes", nargs="+", default=["onnxruntime", "openvino"])
    args = ap.parse_args(argv)

    cache = os.path.join(args.cache, DIGITS)
    fp32 = export_fp32(DIGITS, cache)
    calib = digits_train_images(os.path.join(args.cache, "calib_digits_train"), 128)
    pre = PreprocessConfig(image_size=32, crop_pct=0.9)
    rand = seeded_input((AGREEMENT_SAMPLES, 3, 32, 32), 0)
    images, labels = held_out()
    tol = tolerance_for("int8")

    def run(path, runtime, x):
        return open_onnx_runner(OnnxModel(path, path, "fp32"), runtime, threads=2)(x, max_batch=64)

    ref = {rt: (run(fp32, rt, rand), run(fp32, rt, images)) for rt in args.runtimes}
    lines = [f"CPU: {cpu_line()} (flags: {' '.join(cpu_info()['flags'])})", "",
             "| recipe | weights | runtime | random: max_abs | cosine | top1 agr | gates | "
             "images: max_abs | cosine | top1 agr | gates | top-1 acc (fp32) |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|"]
    for label, mode, recipe_rt in RECIPES:
        for reduce_range in (False, True):
            out = os.path.join(cache, f"isa_{label.replace('@', '_')}_rr{int(reduce_range)}.onnx")
            if os.path.exists(out):
                os.remove(out)
            quantize_model(fp32, out, QuantizeOptions(mode, calib_dir=calib if mode == "static" else None,
                           preprocess=pre, check=False, runtime=recipe_rt,
                           reduce_range=reduce_range))
            for rt in args.runtimes:
                r_ref, i_ref = ref[rt]
                cr = compare_arrays(r_ref, run(out, rt, rand), tolerance=tol, precision="int8")
                i_out = run(out, rt, images)
                ci = compare_arrays(i_ref, i_out, tolerance=tol, precision="int8")
                acc = float(np.mean(i_out.argmax(1) == labels))
                acc32 = float(np.mean(i_ref.argmax(1) == labels))
                lines.append(
                    f"| {label} | {'7-bit' if reduce_range else '8-bit'} | {rt} | "
                    f"{cr.max_abs_diff:.3f} | {cr.cosine:.5f} | {cr.top1_agreement:.3f} | "
                    f"{'pass' if cr.passed else 'FAIL'} | {ci.max_abs_diff:.3f} | "
                    f"{ci.cosine:.5f} | {ci.top1_agreement:.3f} | "
                    f"{'pass' if ci.passed else 'FAIL'} | {acc:.4f} ({acc32:.4f}) |")
                print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
