"""fp32 / fp16 / INT8 recipes x ONNX Runtime / OpenVINO: latency, top-1 and gates, per-op profile.

    python bench/bench_runtimes.py \
        [--cache DIR] [--runs 30] [--runs8 12] [--json bench/runtimes.json]

1. Models: coat_lite_tiny and coat_tiny (224x224, seeded random weights) exported with
   `export.py --format onnx --dynamic_batch` into CACHE/<model>/ (reused when present), and the
   trained digits fixture (tests/fixtures/trained) the same way.
2. Variants: every recipe of bench/int8_recipes.py (exact onnxruntime.quantization arguments),
   cached as CACHE/<model>/variants/<recipe>.onnx. Calibration: random-weight models on crops
   of scikit-learn's sample photos; the digits model on images of its *training* split
   (never the held-out images it is scored on).
3. Latency: all (model, recipe, runtime) runners in ONE interleaved benchmark per batch size
   (coat_export.edge.benchmark: every timed round runs every runner once, same seeded input).
   Median, p90/median (noise), ratio to ONNX Runtime fp32 of the same model, ratio to the best
   fp32 (f32 compute) of the same model.
4. Accuracy: the digits model's variants in every runtime on the 450 held-out images
   (coat_export.edge.validate): top-1, delta to fp32 in the same runtime, and the agreement gates
   of coat_export.edge.compare (TOLERANCES['int8'] / ['fp16']) of the variant's logits against
   the fp32 logits in the same runtime.
5. Profile: per op type, where the time goes (ONNX Runtime enable_profiling; OpenVINO
   PERF_COUNT / get_profiling_info) for the chosen variants.

A script, not a test: it takes many minutes.
"""
import argparse
import json
import os
import tempfile
import platform
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.join(ROOT, "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

from int8_recipes import RECIPES, build_variant, pre_process  # noqa: E402

TRAINED = os.path.join(ROOT, "tests", "fixtures", "trained")
LATENCY_MODELS = ("coat_lite_tiny", "coat_tiny")
DIGITS = "coat_lite_digits"
DEFAULT_RECIPES = [n for n, r in RECIPES.items() if not r.same_graph_as]
RUNTIMES = ("onnxruntime", "openvino")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- models and variants

def export_fp32(model: str, cache: str) -> str:
    out_dir = os.path.join(cache, "digits" if model == DIGITS else model)
    path = os.path.join(out_dir, f"{model}.onnx")
    if os.path.isfile(path):
        return path
    cmd = [sys.executable, os.path.join(ROOT, "export.py"), "--format", "onnx",
           "--dynamic_batch", "--output_dir", out_dir]
    cmd += (["-c", os.path.join("tests", "fixtures", "trained", "coat_lite_digits.yaml")]
            if model == DIGITS else ["--model", model])
    log(f"export {model}: {' '.join(cmd)}")
    subprocess.run(cmd, check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    return path


def photo_crops(out_dir: str, n: int, size: int = 256, seed: int = 0) -> str:
    """n random crops of scikit-learn's two sample photos (natural-image statistics), made
    once by bench_edge's generator and reused."""
    if os.path.isdir(out_dir) and len(os.listdir(out_dir)) >= n:
        return out_dir
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_edge import calibration_crops

    return calibration_crops(out_dir, n=n, size=size, seed=seed)


def digits_train_images(out_dir: str, n: int) -> str:
    """n images of the digits *training* split (training/train_digits.py's split), as PNGs."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if os.path.isdir(out_dir) and len(os.listdir(out_dir)) >= n:
        return out_dir
    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    idx = np.arange(len(d.target))
    train, _ = train_test_split(idx, test_size=0.25, random_state=0, stratify=d.target)
    train = np.sort(train)
    pick = train[np.linspace(0, len(train) - 1, n).round().astype(int)]
    os.makedirs(out_dir, exist_ok=True)
    for i in pick:
        Image.fromarray(images[i], "L").save(os.path.join(out_dir, f"{int(i):04d}.png"))
    return out_dir


def calibration(model: str, fp32: str, cache: str, n: int) -> np.ndarray:
    from coat_export.edge.preprocess import PreprocessConfig, preprocess_batch
    from coat_export.host.quantize import calibration_images

    if model == DIGITS:
        d = digits_train_images(os.path.join(cache, "calib_digits_train"), n)
        cfg = PreprocessConfig(image_size=32, crop_pct=0.9)   # the fixture's yaml
    else:
        d = photo_crops(os.path.join(cache, "calib_photos"), n)
        cfg = PreprocessConfig(image_size=224)
    batch, kept, _ = preprocess_batch(calibration_images(d, n), cfg, skip_errors=True)
    return batch


def build_all(model: str, fp32: str, recipes, cache: str, calib_n: int, rebuild: bool) -> dict:
    """{recipe: path} (fp32 included), building what is missing."""
    from coat_export.edge.runners.onnxruntime_runner import OnnxRuntimeRunner

    vdir = os.path.join(os.path.dirname(fp32), "variants")
    os.makedirs(vdir, exist_ok=True)
    pre = None
    calib = None
    input_name = OnnxRuntimeRunner(fp32, threads=1).input.name
    out = {}
    for name in recipes:
        r = RECIPES[name]
        if r.kind == "fp32":
            out[name] = fp32
            continue
        path = os.path.join(vdir, f"{name}.onnx")
        if rebuild or not os.path.isfile(path):
            if pre is None and r.kind != "fp16":
                pre = pre_process(fp32, os.path.join(vdir, "_pre.onnx"))
            if calib is None and r.kind in ("static", "nncf"):
                calib = calibration(model, fp32, cache, calib_n)
            t = time.perf_counter()
            try:
                build_variant(r, fp32, pre, path, calib, input_name,
                              calib_batch=8 if model == DIGITS else 1)
            except Exception as exc:
                log(f"  {model} {name}: FAILED to build ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:200] if str(exc) else ''})")
                continue
            log(f"  {model} {name}: built in {time.perf_counter() - t:.1f}s "
                f"({os.path.getsize(path) / 2**20:.1f} MB)")
        out[name] = path
    return out


# ---------------------------------------------------------------- runners

def open_all(variants: dict, runtimes, threads: int, bf16_recipes=()):
    """[(recipe, runtime, runner)] for every variant in every runtime (and OpenVINO with bf16
    compute for bf16_recipes); failures are logged."""
    from coat_export.edge.options import RuntimeOptions
    from coat_export.host.open_models import open_runners

    out = []
    for name, path in variants.items():
        for rt in list(runtimes) + (["openvino:bf16"] if name in bf16_recipes else []):
            runtime, _, ov_prec = rt.partition(":")
            try:
                (r,) = open_runners([path], RuntimeOptions((runtime,), threads=threads,
                                                          ov_precision=ov_prec or "f32"))
            except Exception as exc:
                log(f"  {name} in {rt}: cannot open ({str(exc).splitlines()[0][:200]})")
                continue
            out.append((name, rt, r))
    return out


# ---------------------------------------------------------------- accuracy and gates

def accuracy(variants: dict, runtimes, threads: int, data_dir: str, bf16_recipes=()) -> dict:
    """{(recipe, runtime): {...}} top-1 on the held-out set and gates vs fp32, same runtime."""
    from coat_export.edge.compare import compare_arrays, tolerance_for
    from coat_export.edge.preprocess import list_image_folder, preprocess_batch
    from coat_export.edge.validate import resolve_preprocess, validate

    runners = open_all(variants, runtimes, threads, bf16_recipes)
    rep = validate([r for _, _, r in runners], data_dir, batch_size=64, progress=False,
                   base_preprocess={"image_size": 32, "crop_pct": 0.9})
    cfg = resolve_preprocess([r for _, _, r in runners], None,
                             {"image_size": 32, "crop_pct": 0.9})
    _, samples = list_image_folder(data_dir)
    x, _, _ = preprocess_batch([p for p, _ in samples], cfg, skip_errors=True)
    logits = {(n, rt): np.asarray(r(x, max_batch=64)) for n, rt, r in runners}
    out = {}
    for (n, rt, _), res in zip(runners, rep.results):
        base_rt = rt.split(":")[0]   # bf16 compute is judged against fp32 (f32) logits
        ref = logits.get(("fp32", base_rt))
        fp32_top1 = next((q.top1 for (m, t, _), q in zip(runners, rep.results)
                          if m == "fp32" and t == base_rt), None)
        prec = "fp16" if RECIPES[n].kind == "fp16" else ("fp32" if n == "fp32" else "int8")
        if rt.endswith(":bf16") and prec == "fp32":
            prec = "bf16"
        row = {"top1": res.top1, "top5": res.top5, "images": res.num_images,
               "delta_top1_pts": None if fp32_top1 is None else 100 * (res.top1 - fp32_top1)}
        if ref is not None and (n, rt) != ("fp32", base_rt):
            c = compare_arrays(ref, logits[(n, rt)], reference_name=f"fp32/{rt}",
                               candidate_name=f"{n}/{rt}", tolerance=tolerance_for(prec),
                               precision=prec)
            row.update(gate_precision=prec, gates_passed=c.passed, cosine=c.cosine,
                       top1_agreement=c.top1_agreement, top5_agreement=c.top5_agreement,
                       failures=c.failures)
        out[(n, rt)] = row
    for _, _, r in runners:
        r.close()
    return out


# ---------------------------------------------------------------- latency

def latency(runners, batch: int, runs: int, warmup: int):
    from coat_export.edge.benchmark import benchmark

    log(f"latency: batch {batch}, {len(runners)} runners interleaved, {runs} rounds")
    t = time.perf_counter()
    res = benchmark([r for _, _, _, r in runners], batch_size=batch, runs=runs, warmup=warmup)
    log(f"  took {time.perf_counter() - t:.0f}s")
    return res


# ---------------------------------------------------------------- profiles

def _ort_profile(path, batch, threads, runs):
    import onnxruntime as ort
    from coat_export.edge.check_inputs import seeded_input

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join("/tmp", f"ortprof_{os.getpid()}")
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    x = seeded_input((batch, 3, 224, 224), 0)
    for _ in range(3):
        s.run(None, {name: x})
    s.end_profiling()  # drop warm-up events
    so.enable_profiling = True
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(2):
        s.run(None, {name: x})
    t0 = time.perf_counter()
    for _ in range(runs):
        s.run(None, {name: x})
    wall = (time.perf_counter() - t0) / runs * 1000
    prof = s.end_profiling()
    with open(prof) as f:
        events = json.load(f)
    os.remove(prof)
    by = defaultdict(float)
    count = defaultdict(int)
    model_runs = [e for e in events if e.get("name") == "model_run"]
    keep_from = model_runs[-runs]["ts"] if len(model_runs) >= runs else 0
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") \
                and e.get("ts", 0) >= keep_from:
            by[e["args"]["op_name"]] += e["dur"] / 1000.0 / runs
            count[e["args"]["op_name"]] += 1
    return wall, {k: (v, count[k] // runs) for k, v in by.items()}


def _ov_profile(path, batch, threads, runs, precision="f32"):
    import openvino as ov
    from coat_export.edge.check_inputs import seeded_input

    core = ov.Core()
    c = core.compile_model(core.read_model(path), "CPU", {
        "INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": True})
    req = c.create_infer_request()
    x = seeded_input((batch, 3, 224, 224), 0)
    for _ in range(3):
        req.infer({0: x})
    by = defaultdict(float)
    count = defaultdict(int)
    t0 = time.perf_counter()
    for _ in range(runs):
        req.infer({0: x})
        for p in req.profiling_info:
            if p.status != p.Status.EXECUTED:
                continue
            et = p.exec_type
            prec = et.rsplit("_", 1)[-1] if "_" in et else et
            key = f"{p.node_type} [{prec}]"
            by[key] += p.real_time.total_seconds() * 1000 / runs
            count[key] += 1
    wall = (time.perf_counter() - t0) / runs * 1000
    return wall, {k: (v, count[k] // runs) for k, v in by.items()}


def profile(path, runtime, batch, threads, runs):
    rt, _, prec = runtime.partition(":")
    if rt == "onnxruntime":
        return _ort_profile(path, batch, threads, runs)
    return _ov_profile(path, batch, threads, runs, prec or "f32")


def format_profile(title, wall, ops, top=12):
    total = sum(v for v, _ in ops.values()) or 1.0
    lines = [f"{title}: {wall:.2f} ms/run wall, {total:.2f} ms in kernels"]
    for k, (v, n) in sorted(ops.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"    {k:<40} {v:8.2f} ms {100 * v / total:5.1f}%  x{n}")
    return "\n".join(lines)


# ---------------------------------------------------------------- table

def table(lat: dict, acc: dict, models, recipes, runtimes, batches) -> str:
    lines = []
    hdr = (f"{'model':<17}{'recipe':<20}{'runtime':<17}" +
           "".join(f"{'b%d med ms' % b:>12}{'p90/med':>8}{'/ortfp32':>9}{'/bestfp32':>10}"
                   for b in batches) +
           f"{'top1%':>8}{'dTop1':>7}{'cos':>9}{'agree':>7}  gates")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for m in models:
        for n in recipes:
            for rt in runtimes:
                cells = []
                have = False
                for b in batches:
                    r = lat.get((m, n, rt, b))
                    if r is None:
                        cells.append(f"{'-':>12}{'':>8}{'':>9}{'':>10}")
                        continue
                    have = True
                    cells.append(f"{r['median_ms']:>12.2f}{r['p90_ms'] / r['median_ms']:>8.2f}"
                                 f"{r['vs_ort_fp32']:>8.2f}x{r['vs_best_fp32']:>9.2f}x")
                a = acc.get((n, rt))
                if not have and a is None:
                    continue
                if a is None:
                    acc_cells = f"{'-':>8}{'':>7}{'':>9}{'':>7}  -"
                else:
                    d = a.get("delta_top1_pts")
                    g = a.get("gates_passed")
                    acc_cells = (f"{100 * a['top1']:>8.2f}{'' if d is None else f'{d:+.2f}':>7}"
                                 f"{a.get('cosine', float('nan')):>9.5f}"
                                 f"{a.get('top1_agreement', float('nan')):>7.3f}  "
                                 f"{'-' if g is None else ('pass' if g else 'FAIL: ' + '; '.join(a['failures']))}")
                lines.append(f"{m:<17}{n:<20}{rt:<17}" + "".join(cells) + acc_cells)
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "coat-bench-cache"),
                    help="where exported models and variants are kept between runs")
    ap.add_argument("--models", nargs="+", default=list(LATENCY_MODELS))
    ap.add_argument("--recipes", nargs="+", default=DEFAULT_RECIPES,
                    help=f"default: {' '.join(DEFAULT_RECIPES)}")
    ap.add_argument("--acc_recipes", nargs="+", default=list(RECIPES),
                    help="recipes scored on the digits model (default: all, calibration "
                         "variants included)")
    ap.add_argument("--runtimes", nargs="+", default=list(RUNTIMES),
                    help="onnxruntime, openvino, openvino:bf16 (OpenVINO with bf16 compute)")
    ap.add_argument("--bf16_recipes", nargs="*", default=["fp32", "qdq_s8_pc", "qdq_mm_pc"],
                    help="recipes also run in OpenVINO with INFERENCE_PRECISION_HINT bf16 "
                         "(runtime 'openvino:bf16'; not counted as fp32)")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--runs", type=int, default=30, help="timed rounds at batch 1")
    ap.add_argument("--runs8", type=int, default=12, help="timed rounds at batch > 1")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib", type=int, default=8,
                    help="calibration images (random-weight models; digits: 8x)")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--skip_latency", action="store_true")
    ap.add_argument("--skip_accuracy", action="store_true")
    ap.add_argument("--profile", nargs="*", default=None, metavar="RECIPE@RUNTIME",
                    help="profile these (default with no value: best INT8 per batch and "
                         "dyn@onnxruntime, fp32 in both runtimes) on the first model")
    ap.add_argument("--profile_runs", type=int, default=10)
    ap.add_argument("--profile_batches", nargs="+", type=int, default=None,
                    help="batch sizes to profile (default: --batches)")
    ap.add_argument("--nncf_path", help="a site dir where nncf is importable (for nncf_* "
                    "recipes), e.g. pip install --target DIR --no-deps nncf + its deps")
    ap.add_argument("--json", help="write all numbers as JSON")
    args = ap.parse_args(argv)
    if args.nncf_path:
        sys.path.append(args.nncf_path)

    import onnxruntime
    import openvino

    log(f"onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}, "
        f"{args.threads} threads, {platform.processor() or platform.machine()}")
    out = {"versions": {"onnxruntime": onnxruntime.__version__,
                        "openvino": openvino.__version__},
           "threads": args.threads, "recipes": {n: {"kind": r.kind, "what": r.what,
                                                    "kwargs": r.kwargs,
                                                    "exclude_depthwise": r.exclude_depthwise,
                                                    "exclude_act_matmul": r.exclude_act_matmul}
                                                for n, r in RECIPES.items()}}
    lat, acc = {}, {}

    if not args.skip_accuracy:
        fp32 = export_fp32(DIGITS, args.cache)
        variants = build_all(DIGITS, fp32, args.acc_recipes, args.cache, args.calib * 8,
                             args.rebuild)
        acc = accuracy(variants, args.runtimes, args.threads,
                       os.path.join(TRAINED, "digits_heldout"), args.bf16_recipes)

    files = {}
    for m in args.models:
        fp32 = export_fp32(m, args.cache)
        files[m] = build_all(m, fp32, args.recipes, args.cache, args.calib, args.rebuild)
    if not args.skip_latency:
        runners = []
        for m in args.models:
            for n, rt, r in open_all(files[m], args.runtimes, args.threads, args.bf16_recipes):
                runners.append((m, n, rt, r))
        for b in args.batches:
            res = latency(runners, b, args.runs if b == 1 else args.runs8, args.warmup)
            for (m, n, rt, _), r in zip(runners, res):
                lat[(m, n, rt, b)] = r.to_dict()
            for m in args.models:
                rows = {k: v for k, v in lat.items() if k[0] == m and k[3] == b}
                ort32 = rows.get((m, "fp32", "onnxruntime", b), {}).get("median_ms")
                best32 = min(v["median_ms"] for k, v in rows.items()
                             if k[1] == "fp32" and ":" not in k[2])
                for v in rows.values():
                    v["vs_ort_fp32"] = v["median_ms"] / ort32 if ort32 else float("nan")
                    v["vs_best_fp32"] = v["median_ms"] / best32
            if args.json:   # partial results survive a later failure
                with open(args.json + ".partial", "w") as f:
                    json.dump({"|".join(map(str, k)): v for k, v in lat.items()}, f, indent=1)
        for _, _, _, r in runners:
            r.close()

    all_recipes = list(dict.fromkeys(list(args.recipes) + list(args.acc_recipes)))
    all_runtimes = list(args.runtimes) + (["openvino:bf16"] if args.bf16_recipes else [])
    print(f"\nthreads {args.threads}; runs: batch 1 {args.runs}, batch>1 {args.runs8} "
          f"(interleaved rounds); /ortfp32, /bestfp32: median over the same model's ONNX "
          f"Runtime fp32 / its best f32-compute fp32; top-1 / dTop1 (points vs fp32 in the "
          f"same runtime) / cos / agree (top-1 agreement) / gates: trained digits model, 450 "
          f"held-out images, INT8 gates = TOLERANCES['int8'] vs fp32 logits, same runtime")
    if lat:
        print(table(lat, acc, args.models, all_recipes, all_runtimes, args.batches))
    if acc:
        print("digits model (32x32) accuracy, all recipes:")
        print(table({}, acc, [DIGITS], all_recipes, all_runtimes, []))
    print("recipes:")
    for n in all_recipes:
        r = RECIPES[n]
        print(f"  {n:<20} {r.what}")

    # best INT8 per model and batch (gates passing on the digits model)
    best = {}
    if lat:
        print("\nbest INT8 (gates passing on the trained model, top-1 within 1 point):")
        for m in args.models:
            for b in args.batches:
                cands = [(v["median_ms"], n, rt) for (mm, n, rt, bb), v in lat.items()
                         if mm == m and bb == b and RECIPES[n].kind in ("dynamic", "static", "nncf")
                         and (not acc or (acc.get((n, rt), {}).get("gates_passed")
                                          and abs(acc[(n, rt)]["delta_top1_pts"]) <= 1.0))]
                if not cands:
                    continue
                ms, n, rt = min(cands)
                v = lat[(m, n, rt, b)]
                best[(m, b)] = (n, rt)
                print(f"  {m} batch {b}: {n} in {rt}: {ms:.2f} ms = {v['vs_best_fp32']:.2f}x "
                      f"best fp32, {v['vs_ort_fp32']:.2f}x ORT fp32 "
                      f"{'(<= 0.5x: yes)' if v['vs_best_fp32'] <= 0.5 else '(<= 0.5x: no)'}")

    profiles = {}
    if args.profile is not None and files:
        m = args.models[0]
        pbatches = args.profile_batches or args.batches
        targets = list(args.profile)
        if not targets:
            targets = ["fp32@onnxruntime", "fp32@openvino", "dyn@onnxruntime",
                       "qdq_s8_pc@openvino"]
            for b in args.batches:
                if (m, b) in best:
                    targets.append("@".join(best[(m, b)]))
        targets = list(dict.fromkeys(targets))
        print(f"\nper-op-type profile ({m}, {args.profile_runs} runs, ms per run):")
        for b in pbatches:
            for t in targets:
                n, rt = t.split("@")
                if n not in files[m]:
                    continue
                wall, ops = profile(files[m][n], rt, b, args.threads,
                                    args.profile_runs if b == 1 else max(3, args.profile_runs // 3))
                profiles[f"{m}/{n}/{rt}/b{b}"] = {"wall_ms": wall, "ops": ops}
                print(format_profile(f"  {n} @ {rt}, batch {b}", wall, ops), flush=True)

    out.update(latency={"|".join(map(str, k)): v for k, v in lat.items()},
               accuracy={"|".join(k): v for k, v in acc.items()},
               best_int8={f"{m}|{b}": v for (m, b), v in best.items()},
               profiles=profiles)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
