"""`validate`: top-1 / top-5 of exported models (ONNX, MINDIR, bundles) on an ImageFolder."""
import argparse

from .arguments import positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", metavar="FILE", nargs="+",
                   help=".onnx, .mindir or bundle directory (all evaluated on the same inputs)")
    p.add_argument("--data_dir", required=True, help="ImageFolder: DATA_DIR/<class>/<image>")
    p.add_argument("--batch_size", type=positive_int, default=32)
    p.add_argument("--image_size", type=int, help="default: manifest, else the ONNX input size")
    p.add_argument("--crop_pct", type=float, help="default: manifest, else 0.9")
    p.add_argument("--interpolation", help="default: manifest, else bicubic")
    p.add_argument("--limit", type=positive_int, help="only the first N images (smoke runs)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import json

    from ..atomic import write_text
    from ..progress import say
    from ..validate import format_table, validate

    report = validate(args.files, args.data_dir, batch_size=args.batch_size,
                      overrides={"image_size": args.image_size, "crop_pct": args.crop_pct,
                                 "interpolation": args.interpolation},
                      progress=not args.no_progress, limit=args.limit)
    for s in report.skipped:
        say(f"warning: skipped {s['error']}")
    print(format_table(report))
    if args.json:
        write_text(args.json, json.dumps(report.to_dict(), indent=1) + "\n")
    return 0
