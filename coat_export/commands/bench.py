"""`bench`: median / p90 latency of exported models in each runtime, interleaved runs."""
import argparse

from .arguments import add_runtime_arguments, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", metavar="FILE", nargs="+", help=".onnx, .mindir or bundle directory")
    p.add_argument("--batch_size", type=positive_int, default=1, help="default 1")
    p.add_argument("--runs", type=positive_int, default=30, help="timed rounds (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs per model (default 5)")
    p.add_argument("--image_size", type=positive_int, help="default: the models' input size, "
                                                           "else 224")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    add_runtime_arguments(p)


def run(args) -> int:
    import json

    from ..edge.atomic import check_writable_file, write_text
    from ..edge.benchmark import benchmark, format_table
    from ..edge.progress import step
    from ..edge.options import RuntimeOptions
    from ..host.open_models import open_runners

    if args.json:
        check_writable_file(args.json, "--json")
    runners = open_runners(args.files, RuntimeOptions.from_args(args))
    with step(f"bench {len(runners)} model(s), batch {args.batch_size}, {args.runs} rounds"):
        results = benchmark(runners, batch_size=args.batch_size, runs=args.runs,
                            warmup=args.warmup, image_size=args.image_size, seed=args.seed)
    print(format_table(results))
    if args.json:
        write_text(args.json, json.dumps({"results": [r.to_dict() for r in results]},
                                         indent=1) + "\n")
    return 0
