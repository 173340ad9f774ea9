"""Sweep MindCV's classification zoo through the general MINDIR -> ONNX converter.

    python bench/zoo_sweep.py --out zoo.json [--models a,b,...] [--timeout 900] [--workdir DIR]
    python bench/zoo_sweep.py --out zoo.json --table            # print the table of a (partial) run

Needs MindSpore and `mindcv` (not a dependency of this project: run it from a side environment
with `mindcv==0.3.0` next to MindSpore 2.10, onnx and onnxruntime, and this repository on
PYTHONPATH). For every model (randomly initialised, eval mode, its default input size):

1. export a MINDIR at batch 1 in a subprocess (slow; cached in --workdir, so reruns with a
   newer converter only redo steps 2-3), with MindSpore's own outputs for 3 samples (one
   forward at batch 3; batch 1 is compared with its first row);
2. convert it static and with --dynamic_batch at opsets 13, 17 and 21 (conversion times kept);
3. compare in ONNX Runtime: static at batch 1, dynamic at batch 1 and 3, each within
   1e-4 * max(1, max|ref|) of MindSpore (top-1 agreement recorded too);
4. for a model that does not match: measure its conditioning, i.e. how far MindSpore's own
   output moves when every input element and every float32 weight moves by one ulp. A
   randomly initialised deep network can amplify rounding so much that MindSpore is not
   reproducible to within the tolerance even against itself; such a mismatch (with top-1
   agreement) is reported as ill-conditioned, not passed.

Each model runs in its own process under a timeout; results are appended to --out (JSON, one
record per model) as soon as a model is done, so a partial run still counts.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OPSETS = (13, 17, 21)
# not classifiers (masked-autoencoder pre-training heads)
SKIP = {"mae_b_16_224_pretrain", "mae_l_16_224_pretrain", "mae_h_16_224_pretrain"}
# one small member of each family first, so that a partial run covers the whole zoo's op mix
FIRST = ["resnet18", "mobilenet_v2_035_96", "mobilenet_v3_small_075", "mobilenet_v1_025",
         "shufflenet_v2_x0_5", "shufflenet_v1_g3_05", "squeezenet1_1", "ghostnet_050",
         "mnasnet_050", "efficientnet_b0", "mixnet_s", "rexnet_09", "regnet_x_200mf",
         "regnet_y_200mf", "densenet121", "googlenet", "convnextv2_atto", "edgenext_xx_small",
         "mobilevit_xx_small", "pvt_v2_b0", "pit_ti", "poolformer_s12", "repvgg_a0",
         "coat_lite_tiny", "xcit_tiny_12_p16_224", "vit_b_32_224", "swin_tiny",
         "visformer_tiny", "crossvit_9", "convit_tiny", "cmt_tiny", "cait_xxs24_224",
         "volo_d1", "pvt_tiny", "skresnet18", "res2net50", "resnest14", "seresnet18",
         "resnext50_32x4d", "resnetv2_50", "dpn92", "hrnet_w32", "inception_v3", "xception",
         "vgg11", "halonet_50t", "repmlp_t224", "mlp_mixer_s_p32", "swinv2_tiny_window8",
         "convnext_tiny", "efficientnet_v2_s", "sknet", "BiT_resnet50", "nasnet_a_4x1056",
         "pnasnet", "inception_v4", "senet154", "mae_b_16_224_finetune", "coat_mini"]


# ----------------------------------------------------------------------------- worker side

def _export(name, workdir):
    """Export `name` at batch 1 and record MindSpore's outputs at batch 1 and 3."""
    import numpy as np
    import mindspore as ms
    import mindcv
    from mindcv.models.registry import get_pretrained_cfg_value

    ms.set_context(mode=ms.PYNATIVE_MODE, device_target="CPU")
    ms.set_seed(0)
    size = get_pretrained_cfg_value(name, "input_size") or (3, 224, 224)
    net = mindcv.create_model(name, pretrained=False)
    net.set_train(False)
    x3 = np.random.RandomState(0).rand(3, *size).astype(np.float32) * 2 - 1
    t = time.perf_counter()
    # one forward at batch 3 (MindSpore on CPU is the slow part of the sweep); batch 1 is
    # compared with its first row: eval-mode classifiers treat samples independently
    ref3 = net(ms.Tensor(x3)).asnumpy()
    ref1 = ref3[:1]
    forward_s = time.perf_counter() - t
    t = time.perf_counter()
    base = os.path.join(workdir, name)
    ms.export(net, ms.Tensor(x3[:1]), file_name=base, file_format="MINDIR")
    export_s = time.perf_counter() - t
    np.savez(base + ".npz", x=x3, ref1=ref1, ref3=ref3)
    return {"input_size": list(size), "export_s": round(export_s, 2),
            "ms_forward_s": round(forward_s, 2)}


def _tolerance(ref) -> float:
    import numpy as np
    return 1e-4 * max(1.0, float(np.max(np.abs(ref))))


def _close(actual, ref):
    import numpy as np
    tol = _tolerance(ref)
    err = float(np.max(np.abs(actual - ref))) if actual.shape == ref.shape else float("inf")
    return err <= tol, err, tol


def _convert_and_check(name, workdir):
    import numpy as np
    import onnxruntime as ort
    from coat_export import converters

    base = os.path.join(workdir, name)
    data = np.load(base + ".npz")
    mindir = _mindir_path(base)
    x, ref1, ref3 = data["x"], data["ref1"], data["ref3"]
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    results = {}
    for opset in OPSETS:
        for dynamic in (False, True):
            key = f"{'dynamic' if dynamic else 'static'}_{opset}"
            rec = {}
            try:
                t = time.perf_counter()
                model = converters.convert_to_model(mindir, opset=opset,
                                                    dynamic_batch=dynamic)
                rec["convert_s"] = round(time.perf_counter() - t, 3)
                if sum(len(i.raw_data) for i in model.graph.initializer) < 1_800_000_000:
                    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                                providers=["CPUExecutionProvider"])
                else:  # over protobuf's 2 GB: written with external data, loaded by path
                    del model
                    path = os.path.join(workdir, f"{name}.{key}.onnx")
                    converters.convert(mindir, path, opset=opset, dynamic_batch=dynamic)
                    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
                    for f in os.listdir(workdir):  # the file and its external data
                        if f.startswith(f"{name}.{key}.onnx"):
                            os.remove(os.path.join(workdir, f))
                inp = sess.get_inputs()[0].name
                checks = [(1, x[:1], ref1)] + ([(3, x, ref3)] if dynamic else [])
                ok = True
                for batch, xb, ref in checks:
                    out = sess.run(None, {inp: xb})[0]
                    good, err, tol = _close(out, ref)
                    rec[f"max_err_b{batch}"] = err
                    rec[f"top1_equal_b{batch}"] = bool(
                        np.array_equal(np.argmax(out, -1), np.argmax(ref, -1)))
                    rec["tol"] = tol
                    ok = ok and good
                rec["status"] = "ok" if ok else "mismatch"
            except converters.ConversionError as exc:
                rec["status"] = "refused"
                rec["reason"] = str(exc)[:400]
            except Exception as exc:  # a converter bug: keep it in the table
                rec["status"] = "crash"
                rec["reason"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            results[key] = rec
    return results


def _mindir_path(base):
    # MindSpore writes models over 1 GB as NAME_graph.mindir + NAME_variables/ (external data)
    return base + ".mindir" if os.path.exists(base + ".mindir") else base + "_graph.mindir"


def _one_ulp_away(a, rng):
    import numpy as np
    away = np.where(rng.rand(*a.shape) < 0.5, -np.inf, np.inf).astype(np.float32)
    return np.nextafter(a, away)


ULP_DRAWS = 3


def one_ulp_moved(mindir, inputs, params):
    """ULP_DRAWS times (seeded): the MINDIR as a GraphCell with every weight of `params`
    (name -> float32 array) moved by one ulp in a random direction, and `inputs` with every
    float32 element moved so. Yields (cell, moved inputs) for the caller to run."""
    import numpy as np
    import mindspore as ms
    from mindspore import nn

    rng = np.random.RandomState(1)
    for _ in range(ULP_DRAWS):
        moved = {k: ms.Tensor(_one_ulp_away(v, rng)) for k, v in params.items()}
        xs = [_one_ulp_away(x, rng) if x.dtype == np.float32 else x for x in inputs]
        yield nn.GraphCell(ms.load(mindir), params_init=moved), xs


def _ulp_sensitivity(name, workdir):
    """max|f(x) - f'(x')| for MindSpore's own runs of the MINDIR: x' = x with every element
    moved by exactly one float32 ulp (random direction), and f' = f with every float32
    weight moved so; the largest of ULP_DRAWS draws (in a chaotic network one draw can be
    ten times another). Rounding differences of that size are what any other correct fp32
    implementation brings, so they bound how closely it can agree with MindSpore."""
    import numpy as np
    import mindspore as ms
    from mindspore import nn

    from coat_export import converters

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    base = os.path.join(workdir, name)
    mindir = _mindir_path(base)
    x = np.load(base + ".npz")["x"][:1].astype(np.float32)
    a = nn.GraphCell(ms.load(mindir))(ms.Tensor(x)).asnumpy()
    params = {k: v.data for k, v in converters.read_mindir(mindir).parameters.items()
              if v.data is not None and v.data.dtype == np.float32}
    draws = [float(np.max(np.abs(a - cell(ms.Tensor(xs[0])).asnumpy())))
             for cell, xs in one_ulp_moved(mindir, [x], params)]
    return {"ulp_draws": draws, "max_diff": max(draws),
            "tol": _tolerance(a)}


def worker(name, workdir, phase):
    if phase == "export":
        out = _export(name, workdir)
    elif phase == "sensitivity":
        out = _ulp_sensitivity(name, workdir)
    else:
        out = _convert_and_check(name, workdir)
    print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver side

def _run_phase(name, workdir, phase, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--phase", phase,
           "--workdir", workdir]
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=REPO + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None, f"timeout after {timeout} s in {phase}"
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), None
    return None, f"{phase} failed (exit {proc.returncode}): " + failure_reason(proc.stderr or "")


def failure_reason(stderr: str) -> str:
    """The informative line of a MindSpore failure: the exception line or the kernel/operator
    complaint, not the C++ call stack that follows it."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    keys = ("Unsupported op", "Error:", "Exception:", "Kernel select failed", "not support")
    hits = [ln for ln in lines if any(k in ln for k in keys) and not ln.startswith("[WARNING")]
    if hits:
        return " | ".join(dict.fromkeys(h[:200] for h in hits[-3:]))
    return " | ".join(lines[-3:])[-400:]


# members of a family whose cost on MindSpore's CPU kernels runs to many minutes: last
HEAVY = ("huge", "_h_", "xlarge", "xl", "large", "_l_", "l256", "m36", "m48", "x3", "_b_",
         "base", "b224", "b256", "d256", "b5", "b6", "b7", "d3", "d4", "d5", "12gf", "16gf",
         "32gf", "8_0gf", "152", "200", "269", "101", "vgg", "b3", "b4", "pvt_v2_b", "_384")


def _order(models):
    first = [m for m in FIRST if m in models]
    rest = [m for m in models if m not in first]
    light = [m for m in rest if not any(h in m for h in HEAVY)]
    return first + light + [m for m in rest if m not in light]


def sweep(args):
    import mindcv  # noqa: F401  (fail early outside the side environment)
    from mindcv.models import list_models
    models = args.models.split(",") if args.models else \
        [m for m in list_models() if m not in SKIP]
    os.makedirs(args.workdir, exist_ok=True)
    results = {}
    if os.path.exists(args.out):
        results = json.load(open(args.out))
    commit = converter_commit()
    for name in (models if args.models else _order(models)):  # --models: in that order
        rec = results.get(name, {})
        if args.conditioning_only:
            if _mismatched(rec):
                _measure_conditioning(name, rec, args)
                save_results(args.out, results)
                print(f"{name}: {rec['ulp_sensitivity']}", flush=True)
            continue
        stale = rec.get("converter_commit") != commit
        if rec.get("conversions") and not (args.redo_convert or
                                           (args.redo_stale and stale)):
            continue
        if rec.get("error", "").startswith("export") and not args.redo_export:
            continue  # could not be exported before: the converter is not the question
        base = os.path.join(args.workdir, name)
        cached = os.path.exists(base + ".npz") and (
            os.path.exists(base + ".mindir") or os.path.exists(base + "_graph.mindir"))
        if args.redo_export or not cached:
            exp, err = _run_phase(name, args.workdir, "export", args.timeout)
            if err:
                results[name] = {"error": "export: " + err}
                save_results(args.out, results)
                print(f"{name}: {err}", flush=True)
                continue
            rec["export"] = exp
        conv, err = _run_phase(name, args.workdir, "convert", args.timeout)
        if err:
            rec["error"] = "convert: " + err
        else:
            rec.pop("error", None)
            rec["conversions"] = conv
            rec.pop("ulp_sensitivity", None)
            if _mismatched(rec):
                _measure_conditioning(name, rec, args)
        rec["converter_commit"] = commit
        results[name] = rec
        if args.discard_ok and _all_ok(rec):
            _discard_mindir(args.workdir, name)
        save_results(args.out, results)
        print(f"{name}: {_summary(rec)}", flush=True)
    print(table(results))


def _mismatched(rec) -> bool:
    return any(r.get("status") == "mismatch" for r in (rec.get("conversions") or {}).values())


def _measure_conditioning(name, rec, args):
    sens, err = _run_phase(name, args.workdir, "sensitivity", args.timeout)
    rec["ulp_sensitivity"] = sens or {"error": err}


def converter_commit() -> str:
    """The last commit that changed converters/ ('+dirty' with local changes)."""
    def git(*a):
        return subprocess.run(["git", "-C", REPO, *a], capture_output=True, text=True).stdout
    head = git("log", "-1", "--format=%h", "--", "converters").strip() or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "converters").strip() else "")


def save_results(path, results):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _all_ok(rec) -> bool:
    conv = rec.get("conversions") or {}
    return len(conv) == 2 * len(OPSETS) and all(r.get("status") == "ok" for r in conv.values())


def _discard_mindir(workdir, name):
    """Drop a fully converted model's MINDIR (the zoo needs tens of GB otherwise); its inputs
    and MindSpore outputs (.npz) stay, and --redo_export brings the MINDIR back."""
    import shutil
    base = os.path.join(workdir, name)
    for path in (base + ".mindir", base + "_graph.mindir"):
        if os.path.exists(path):
            os.remove(path)
    if os.path.isdir(base + "_variables"):
        shutil.rmtree(base + "_variables")


def _summary(rec):
    conv = rec.get("conversions")
    if not conv:
        return rec.get("error", "?")
    return " ".join(f"{k}={v['status']}" for k, v in sorted(conv.items()))


def ill_conditioned(rec) -> bool:
    """A mismatch explained by the model's conditioning: one ulp of input and weights moves
    MindSpore's own output beyond the tolerance, and ONNX Runtime still picks MindSpore's
    top-1 class."""
    sens = rec.get("ulp_sensitivity") or {}
    conv = rec.get("conversions") or {}
    top1 = [v for r in conv.values() for k, v in r.items() if k.startswith("top1_equal")]
    return bool(sens.get("max_diff", 0) > sens.get("tol", float("inf")) and top1 and all(top1)
                and all(r.get("status") in ("ok", "mismatch") for r in conv.values()))


def table(results) -> str:
    lines = ["| model | static 13/17/21 | dynamic 13/17/21 | convert s (static 17) | converter | "
             "note |", "| --- | --- | --- | --- | --- | --- |"]
    current = converter_commit()
    by_current = 0
    totals = {"static": 0, "dynamic": 0, "exported": 0, "export_failed": 0, "ill": 0}
    times = []
    for name in sorted(results):
        rec = results[name]
        conv = rec.get("conversions")
        if not conv:
            err = rec.get("error", "")
            if err.startswith("export"):
                totals["export_failed"] += 1
            lines.append(f"| {name} | - | - | - | - | {err[:160]} |")
            continue
        totals["exported"] += 1
        by_current += rec.get("converter_commit") == current
        cells, notes = [], []
        for kind in ("static", "dynamic"):
            marks = []
            for opset in OPSETS:
                r = conv.get(f"{kind}_{opset}", {})
                marks.append({"ok": "ok", "refused": "no", "mismatch": "MISMATCH",
                              "crash": "CRASH"}.get(r.get("status"), "?"))
                if r.get("status") != "ok" and r.get("reason"):
                    notes.append(f"{kind} {opset}: {r['reason'][:140]}")
            if all(m == "ok" for m in marks):
                totals[kind] += 1
            cells.append("/".join(marks))
        t = conv.get("static_17", {}).get("convert_s")
        if t is not None:
            times.append(t)
        note = notes[0] if notes else ""
        if ill_conditioned(rec):
            totals["ill"] += 1
            sens = rec["ulp_sensitivity"]
            worst = max(v for r in conv.values() for k, v in r.items() if k.startswith("max_err"))
            note = (f"ill-conditioned: one ulp of input and weights moves MindSpore's own "
                    f"output by up to {sens['max_diff']:.3g} ({len(sens['ulp_draws'])} draws), "
                    f"ONNX Runtime differs by up to {worst:.3g} "
                    f"(tolerance {sens['tol']:.3g}); top-1 equal")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {t if t is not None else '-'} | "
                     f"{rec.get('converter_commit', '-')} | {note.replace('|', '/')} |")
    n = totals["exported"]
    times.sort()
    median = times[len(times) // 2] if times else 0
    lines.append("")
    lines.append(f"Totals: {len(results)} models tried, {n} exported to MINDIR on CPU "
                 f"({totals['export_failed']} could not be exported or timed out); "
                 f"static at all opsets {totals['static']}/{n}, dynamic batch at all opsets "
                 f"{totals['dynamic']}/{n}; ill-conditioned mismatches (see the notes): "
                 f"{totals['ill']}; checked by the current converter ({current}): "
                 f"{by_current}/{n}. Conversion time (static, opset 17): median "
                 f"{median:.2f} s, max {max(times) if times else 0:.2f} s.")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="zoo_sweep.json")
    p.add_argument("--workdir", default="zoo_sweep_work")
    p.add_argument("--models", default="")
    p.add_argument("--timeout", type=int, default=900)
    p.add_argument("--table", action="store_true", help="print the table of --out and stop")
    p.add_argument("--redo_convert", action="store_true",
                   help="convert again models already converted (e.g. with a newer converter)")
    p.add_argument("--redo_stale", action="store_true",
                   help="convert again models converted with another converter commit")
    p.add_argument("--redo_export", action="store_true")
    p.add_argument("--conditioning_only", action="store_true",
                   help="only measure again the conditioning of models that mismatched")
    p.add_argument("--discard_ok", action="store_true",
                   help="delete a model's MINDIR once it converted and matched everywhere")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--phase", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.workdir, args.phase)
    elif args.table:
        print(table(json.load(open(args.out))))
    else:
        sweep(args)


if __name__ == "__main__":
    main()
