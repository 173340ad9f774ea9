"""`bench`: median / p90 latency and throughput of exported models (ONNX, MINDIR)."""
import argparse

from .arguments import positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", metavar="FILE", nargs="+", help=".onnx, .mindir or bundle directory")
    p.add_argument("--batch_size", type=positive_int, default=1)
    p.add_argument("--runs", type=positive_int, default=30, help="timed rounds (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs per model (default 5)")
    p.add_argument("--image_size", type=int, help="default: the ONNX input size, else 224")
    p.add_argument("--threads", type=positive_int, help="ONNX Runtime intra-op threads "
                                                     "(default: all cores of this process)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")


def run(args) -> int:
    import json

    from ..atomic import write_text
    from ..benchmark import benchmark, format_table
    from ..progress import step

    with step(f"bench {len(args.files)} model(s), batch {args.batch_size}, {args.runs} rounds"):
        results = benchmark(args.files, batch_size=args.batch_size, runs=args.runs,
                            warmup=args.warmup, image_size=args.image_size,
                            threads=args.threads, seed=args.seed)
    print(format_table(results))
    if args.json:
        write_text(args.json, json.dumps({"results": [r.to_dict() for r in results]},
                                         indent=1) + "\n")
    return 0
