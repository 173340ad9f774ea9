"""Benchmark of the MINDIR -> ONNX converter on the CoaT variants.

    python bench/bench_converter.py [--variants coat_tiny,coat_lite_tiny] [--repeats 3]

Prints, per variant: MINDIR export time (MindSpore, for scale), conversion time (median of
--repeats full `converters.convert` runs), ONNX node counts and GMACs counted from the exported
graph (Conv / MatMul / Gemm with shapes from ONNX shape inference) against the paper's figures;
and ONNX Runtime latency (median, batch 1 and 8) of coat_lite_tiny and coat_tiny converted with
and without the converter's optimisation passes.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

PAPER_GMACS = {"coat_lite_tiny": 1.6, "coat_lite_mini": 2.0, "coat_lite_small": 3.9,
               "coat_lite_medium": 9.8, "coat_tiny": 4.4, "coat_mini": 6.8, "coat_small": 12.6}
ALL = ["coat_lite_tiny", "coat_lite_mini", "coat_lite_small", "coat_lite_medium", "coat_tiny",
       "coat_mini", "coat_small"]
LATENCY_VARIANTS = ("coat_lite_tiny", "coat_tiny")


def count_macs(model) -> int:
    """Multiply-accumulates of Conv, MatMul and Gemm nodes (shapes from shape inference)."""
    import onnx
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + \
            list(inferred.graph.output):
        dims = [d.dim_value if d.HasField("dim_value") else 1
                for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    macs = 0
    for n in inferred.graph.node:
        if n.op_type == "Conv":
            w = shapes[n.input[1]]
            out = shapes[n.output[0]]
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type in ("MatMul", "Gemm"):
            a = shapes[n.input[0]]
            out = shapes[n.output[0]]
            trans_a = any(at.name == "transA" and at.i for at in n.attribute)
            k = a[-2] if trans_a else a[-1]
            macs += int(np.prod(out)) * int(k)
    return macs


def export_variant(name, directory):
    import mindspore as ms
    from coat_export.model import create_model
    ms.set_seed(0)
    net = create_model(name)
    net.set_train(False)
    path = os.path.join(directory, name)
    t = time.perf_counter()
    ms.export(net, ms.Tensor(np.zeros((1, 3, 224, 224), np.float32)), file_name=path,
              file_format="MINDIR")
    return path + ".mindir", time.perf_counter() - t


def ort_latencies(models, batch, runs):
    """Median latency of each model on the same input, runs interleaved round-robin so that
    machine noise falls on all of them alike; sessions from coat_export.edge.runners.onnxruntime_runner (explicit
    threads, no spinning)."""
    import onnx

    from coat_export.edge.runners.onnxruntime_runner import create_session

    sessions = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, model in enumerate(models):
            path = os.path.join(tmp, f"m{i}.onnx")
            onnx.save(model, path)
            sessions.append(create_session(path))
    x = np.random.RandomState(0).randn(batch, 3, 224, 224).astype(np.float32)
    feeds = [{s.get_inputs()[0].name: x} for s in sessions]
    for s, feed in zip(sessions, feeds):
        s.run(None, feed)  # warm-up
    times = [[] for _ in sessions]
    for _ in range(runs):
        for s, feed, t in zip(sessions, feeds, times):
            start = time.perf_counter()
            s.run(None, feed)
            t.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(ALL))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10, help="ORT runs per latency median")
    args = parser.parse_args()
    import mindspore as ms
    ms.set_context(mode=ms.GRAPH_MODE)
    from coat_export import converters

    variants = [v for v in args.variants.split(",") if v]
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'variant':18} {'export s':>9} {'convert s':>10} {'read':>6} {'lower':>6} "
              f"{'passes':>6} {'nodes':>6} {'GMACs':>6} {'paper':>6} {'ratio':>6}")
        mindirs = {}
        for name in variants:
            mindir, export_s = export_variant(name, tmp)
            mindirs[name] = mindir
            out = os.path.join(tmp, name + ".onnx")
            runs = [converters.convert(mindir, out) for _ in range(args.repeats)]
            total = statistics.median(r.timings["total"] for r in runs)
            step = {k: statistics.median(r.timings[k] for r in runs)
                    for k in ("read", "lower", "passes")}
            import onnx
            gmacs = count_macs(onnx.load(out)) / 1e9
            paper = PAPER_GMACS.get(name)
            print(f"{name:18} {export_s:9.1f} {total:10.2f} {step['read']:6.2f} "
                  f"{step['lower']:6.2f} {step['passes']:6.2f} {runs[-1].onnx_nodes:6d} "
                  f"{gmacs:6.2f} {paper:6.1f} {gmacs / paper:6.2f}")
        print()
        print(f"{'ORT latency (ms, median)':30} {'b1 passes':>10} {'b1 raw':>8} {'ratio':>6} "
              f"{'b8 passes':>10} {'b8 raw':>8} {'ratio':>6} {'nodes':>12}")
        for name in LATENCY_VARIANTS:
            if name not in mindirs:
                continue
            opt = converters.convert_detailed(mindirs[name], dynamic_batch=True).model
            raw = converters.convert_detailed(mindirs[name], dynamic_batch=True,
                                              optimize=False).model
            row = []
            for batch in (1, 8):
                a, b = (t * 1e3 for t in ort_latencies([opt, raw], batch, args.runs))
                row += [a, b, b / a]
            print(f"{name:30} {row[0]:10.1f} {row[1]:8.1f} {row[2]:6.2f} {row[3]:10.1f} "
                  f"{row[4]:8.1f} {row[5]:6.2f} {len(opt.graph.node):5d}/{len(raw.graph.node):<6d}")


if __name__ == "__main__":
    main()
