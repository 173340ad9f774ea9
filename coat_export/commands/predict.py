"""`predict`: top-k classes of images with an ONNX model or an edge bundle (no MindSpore)."""
import argparse

from .arguments import positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="an .onnx file or a bundle directory")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    p.add_argument("--labels", help="class names, one per line (default: the bundle's)")
    p.add_argument("--topk", type=positive_int, default=5, help="classes per image (default 5)")
    p.add_argument("--variant", help="bundle variant: fp32 (default), fp16, int8_dynamic, "
                                     "int8_static")
    p.add_argument("--provider", help="ONNX Runtime execution provider (default: cpu)")
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write JSON instead of text (to PATH, or stdout without PATH)")


def run(args) -> int:
    from ..atomic import write_text
    from ..predict import Predictor, format_json, format_text
    from ..progress import say

    predictor = Predictor(args.model, labels_file=args.labels, variant=args.variant,
                          provider=args.provider)
    for note in predictor.resolved.notes:
        say(f"warning: {note}")
    results = predictor.predict(args.images, k=args.topk)
    if args.json:
        text = format_json(results, predictor.resolved)
        if args.json == "-":
            print(text)
        else:
            write_text(args.json, text + "\n")
            print(format_text(results))
    else:
        print(format_text(results))
    return 0
