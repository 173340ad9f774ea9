"""Edge benchmark: INT8 (static, dynamic) and FP16 vs FP32 in ONNX Runtime on CPU.

    /work/venv/bin/python bench/bench_edge.py [--json bench/edge_results.json]

1. Latency: coat_lite_tiny at 224x224 with seeded random weights, exported to MINDIR (dynamic
   batch), converted to ONNX (converters.convert), quantized with coat_export.host.quantize
   (static calibrated on 32 crops of scikit-learn's sample photos). Median / p90 latency at
   batch 1 and 8, interleaved rounds (coat_export.edge.benchmark), ratios to fp32.
   Random weights make the logits meaningless, so the agreement numbers are reported but do
   not gate this part.
2. Accuracy: the trained digits fixture (tests/fixtures/trained), same conversion, each
   variant's held-out top-1 and its delta to fp32 (coat_export.edge.validate).

A script, not a test: it takes minutes.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TRAINED = os.path.join(ROOT, "tests", "fixtures", "trained")
MODES = ("fp16", "dynamic", "static")


def export_mindir(net, image_size, base):
    import mindspore as ms

    net.set_train(False)
    ms.export(net, ms.Tensor(shape=[None, 3, image_size, image_size], dtype=ms.float32),
              file_name=base, file_format="MINDIR")
    return base + ".mindir"


def to_onnx(mindir, onnx_path):
    from coat_export import converters

    converters.convert(mindir, onnx_path, opset=17, dynamic_batch=True)
    return onnx_path


def calibration_crops(out_dir, n=32, size=256, seed=0):
    """n random crops of the sklearn sample photos, saved as PNG (natural-image statistics)."""
    from PIL import Image
    import sklearn

    d = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    photos = [Image.open(os.path.join(d, f)).convert("RGB") for f in ("china.jpg", "flower.jpg")]
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    for i in range(n):
        img = photos[i % 2]
        s = int(rng.integers(160, min(img.size)))
        x, y = int(rng.integers(0, img.size[0] - s)), int(rng.integers(0, img.size[1] - s))
        img.crop((x, y, x + s, y + s)).resize((size, size)).save(os.path.join(out_dir, f"{i:03d}.png"))
    return out_dir


def quantize_all(fp32, work, calib_dir, preprocess, check):
    from coat_export.host.quantize import QuantizeOptions, quantize_model

    out = {}
    for mode in MODES:
        path = os.path.join(work, f"{os.path.splitext(os.path.basename(fp32))[0]}.{mode}.onnx")
        r = quantize_model(fp32, path, QuantizeOptions(mode, calib_dir=calib_dir, preprocess=preprocess,
                           check=check, calib_limit=128))
        out[mode] = r
        print(f"  {mode:<8} {r.seconds:6.1f}s  {r.input_bytes / 2**20:6.2f} MB -> "
              f"{r.output_bytes / 2**20:6.2f} MB", flush=True)
    return out


def agreement(fp32, variants, x):
    from coat_export.edge.compare import compare_arrays, tolerance_for
    from coat_export.edge.runners.onnxruntime_runner import OnnxRuntimeRunner

    ref = OnnxRuntimeRunner(fp32)(x, max_batch=8)
    rows = {}
    for mode, r in variants.items():
        cand = OnnxRuntimeRunner(r.output_path)(x, max_batch=8)
        c = compare_arrays(ref, cand, tolerance=tolerance_for("fp16" if mode == "fp16" else "int8"),
                           precision="fp16" if mode == "fp16" else "int8")
        rows[mode] = {"cosine": c.cosine, "top1_agreement": c.top1_agreement,
                      "max_abs_diff": c.max_abs_diff, "passed": c.passed}
    return rows


def latency(files, names, batch_sizes, runs, threads):
    from coat_export.edge.benchmark import benchmark
    from coat_export.edge.options import RuntimeOptions
    from coat_export.host.open_models import open_runners

    runners = open_runners(files, RuntimeOptions(threads=threads))
    out = {}
    for b in batch_sizes:
        res = benchmark(runners, batch_size=b, runs=runs if b == 1 else max(5, runs // 2),
                        warmup=3)
        base = res[0].median_ms
        out[b] = {n: {"median_ms": r.median_ms, "p90_ms": r.p90_ms,
                      "throughput": r.throughput, "ratio_to_fp32": r.median_ms / base}
                  for n, r in zip(names, res)}
        print(f"\nbatch {b}:")
        print(f"  {'model':<10} {'median ms':>10} {'p90 ms':>9} {'img/s':>8} {'vs fp32':>8}")
        for n, r in out[b].items():
            print(f"  {n:<10} {r['median_ms']:>10.2f} {r['p90_ms']:>9.2f} "
                  f"{r['throughput']:>8.1f} {r['ratio_to_fp32']:>7.2f}x", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write all numbers as JSON")
    ap.add_argument("--runs", type=int, default=30, help="timed rounds at batch 1")
    ap.add_argument("--threads", type=int, default=None, help="ORT intra-op threads (default all)")
    ap.add_argument("--model", default="coat_lite_tiny")
    ap.add_argument("--skip_latency", action="store_true")
    ap.add_argument("--skip_accuracy", action="store_true")
    args = ap.parse_args(argv)

    import mindspore as ms
    from coat_export.model import CoaTConfig, create_model, load_checkpoint_strict
    from coat_export.edge.preprocess import PreprocessConfig
    from coat_export.edge.runners.onnxruntime_runner import available_cores
    from coat_export.edge.validate import validate
    from coat_export.host.open_models import open_runners

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    report = {"machine": {"cpu": platform.processor() or platform.machine(),
                          "cores": available_cores(), "python": platform.python_version()}}
    try:
        import onnxruntime
        report["machine"]["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    work = tempfile.mkdtemp(prefix="bench_edge_")
    print(f"work dir {work}", flush=True)

    if not args.skip_latency:
        print(f"== latency: {args.model} 224x224, seeded random weights", flush=True)
        ms.set_seed(0)
        np.random.seed(0)
        net = create_model(args.model)
        t = time.time()
        mindir = export_mindir(net, 224, os.path.join(work, args.model))
        fp32 = to_onnx(mindir, os.path.join(work, f"{args.model}.onnx"))
        print(f"  exported + converted in {time.time() - t:.1f}s", flush=True)
        calib = calibration_crops(os.path.join(work, "calib"))
        variants = quantize_all(fp32, work, calib, PreprocessConfig(224), check=False)
        from coat_export.edge.preprocess import list_images, preprocess_batch
        x = preprocess_batch(list_images(calib)[:16], PreprocessConfig(224))
        report["latency_model"] = {
            "model": args.model, "image_size": 224,
            "quantize": {m: {"seconds": r.seconds, "bytes": r.output_bytes, "method": r.method}
                         for m, r in variants.items()},
            "fp32_bytes": os.path.getsize(fp32),
            "agreement_on_16_calibration_crops": agreement(fp32, variants, x),
        }
        names = ["fp32"] + list(MODES)
        report["latency_model"]["latency"] = latency(
            [fp32] + [variants[m].output_path for m in MODES], names, (1, 8), args.runs,
            args.threads)

    if not args.skip_accuracy:
        print("\n== accuracy: trained digits fixture (held-out ImageFolder)", flush=True)
        with open(os.path.join(TRAINED, "coat_lite_digits.json"), encoding="utf-8") as f:
            meta = json.load(f)
        arch = dict(meta["architecture"])
        arch["crpe_window"] = {int(k): v for k, v in arch["crpe_window"].items()}
        net = create_model(CoaTConfig(**arch))
        load_checkpoint_strict(net, os.path.join(TRAINED, "coat_lite_digits.ckpt"))
        mindir = export_mindir(net, arch["image_size"], os.path.join(work, "digits"))
        fp32 = to_onnx(mindir, os.path.join(work, "digits.onnx"))
        heldout = os.path.join(TRAINED, "digits_heldout")
        pre = PreprocessConfig.from_dict(meta["preprocessing"])
        variants = quantize_all(fp32, work, heldout, pre, check=True)
        files = [mindir, fp32] + [variants[m].output_path for m in MODES]
        rep = validate(open_runners(files), heldout, batch_size=64, preprocess=pre,
                       progress=False)
        names = ["mindir", "fp32"] + list(MODES)
        base = rep.results[1].top1
        report["accuracy"] = {"training_script_top1": meta["heldout_accuracy"],
                              "num_images": rep.num_images}
        print(f"  training script's held-out top-1: {meta['heldout_accuracy']:.4f}")
        for n, r in zip(names, rep.results):
            report["accuracy"][n] = {"top1": r.top1, "top5": r.top5, "delta_to_fp32": r.top1 - base}
            print(f"  {n:<8} top-1 {100 * r.top1:6.2f}%  delta {100 * (r.top1 - base):+5.2f} pt")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
