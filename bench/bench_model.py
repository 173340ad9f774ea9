"""MindSpore CPU latency of coat_lite_tiny and coat_tiny, and GMACs against the paper.

Run: python bench/bench_model.py [--repeats 10]. Prints medians (these machines are noisy).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

PAPER_GMACS = {"coat_lite_tiny": 1.6, "coat_lite_mini": 2.0, "coat_lite_small": 4.0,
               "coat_lite_medium": 9.8, "coat_tiny": 4.4, "coat_mini": 6.8, "coat_small": 12.6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=["coat_lite_tiny", "coat_tiny"])
    args = parser.parse_args()

    import mindspore as ms

    from coat_export.model import create_model, variant_config
    from coat_export.model.macs import count_macs

    ms.set_context(mode=ms.GRAPH_MODE)
    print("GMACs at 224x224 (ours, counted from the architecture) vs the paper")
    print(f"{'model':18s} {'ours':>7s} {'paper':>7s} {'ratio':>6s}")
    for name, paper in PAPER_GMACS.items():
        ours = count_macs(variant_config(name)) / 1e9
        print(f"{name:18s} {ours:7.2f} {paper:7.1f} {ours / paper:6.3f}")

    print(f"\nMindSpore {ms.__version__} CPU latency, graph mode, median of {args.repeats} "
          f"({os.cpu_count()} cores)")
    print(f"{'model':18s} {'batch':>5s} {'median ms':>10s} {'p90 ms':>8s} {'img/s':>7s}")
    for name in args.models:
        ms.set_seed(0)
        net = create_model(name)
        net.set_train(False)
        for batch in (1, 8):
            x = ms.Tensor(np.random.default_rng(0).standard_normal(
                (batch, 3, 224, 224)).astype(np.float32))
            net(x).asnumpy()  # compile + warm-up
            net(x).asnumpy()
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                net(x).asnumpy()
                times.append(time.perf_counter() - start)
            med = statistics.median(times)
            p90 = sorted(times)[int(0.9 * (len(times) - 1))]
            print(f"{name:18s} {batch:5d} {med * 1e3:10.1f} {p90 * 1e3:8.1f} "
                  f"{batch / med:7.1f}")


if __name__ == "__main__":
    main()
