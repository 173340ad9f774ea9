"""`validate`: top-1 / top-5 accuracy on an ImageFolder, every model and runtime side by side.

    validate [FILE ...] [-c CONFIG | --model NAME] [--ckpt_path CKPT] --data_dir DIR
             [--val_split NAME] [--runtime R [R ...]]

FILEs are .onnx files, bundle directories and .mindir files; with a config or model name the
MindSpore network itself (the checkpoint, or seeded weights) is the first row (host only).
"""
import argparse

from .arguments import add_model_source_arguments, add_runtime_arguments, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", metavar="FILE", nargs="*",
                   help=".onnx, .mindir or bundle directory (all evaluated on the same inputs)")
    add_model_source_arguments(
        p, config_help="yaml config (ours or MindCV's): evaluate the MindSpore network too "
                       "(host)",
        model_help="variant name: evaluate the MindSpore network too (host)",
        ckpt_help="checkpoint of the MindSpore network (default: the config's; absent: "
                  "seeded random weights)")
    p.add_argument("--data_dir", required=True, help="ImageFolder: DATA_DIR/<class>/<image>")
    p.add_argument("--val_split", metavar="NAME",
                   help="evaluate DATA_DIR/NAME (a MindCV-style root with train/, val/)")
    p.add_argument("--batch_size", type=positive_int, default=32, help="default 32")
    p.add_argument("--image_size", type=positive_int,
                   help="default: manifest/config, else the ONNX input size")
    p.add_argument("--crop_pct", type=float, help="default: manifest/config, else 0.9")
    p.add_argument("--interpolation", help="default: manifest/config, else bicubic")
    p.add_argument("--limit", type=positive_int, help="only the first N images (smoke runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights (no checkpoint)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    add_runtime_arguments(p)


def run(args) -> int:
    import json

    from ..edge.atomic import check_writable_file, write_text
    from ..edge.errors import UserError
    from ..edge.progress import say
    from ..edge.validate import format_table, resolve_data_dir, validate
    from ..edge.options import RuntimeOptions
    from ..host.open_models import open_runners
    from .arguments import names_network

    if not args.files and not (args.config or args.model):
        raise UserError("nothing to validate: give model FILEs and/or -c CONFIG / --model NAME")
    if args.json:
        check_writable_file(args.json, "--json")
    data_dir = resolve_data_dir(args.data_dir, args.val_split)
    runtime = RuntimeOptions.from_args(args)
    runners, base = [], None
    if names_network(args):
        if not (args.config or args.model):
            raise UserError("--ckpt_path needs -c CONFIG or --model NAME (the network to load "
                            "it into)")
        from .arguments import model_spec, require_host

        require_host("validating the MindSpore network", "mindspore")
        from ..host.config import build_model
        from ..host.runners.network_runner import NetworkRunner

        spec = model_spec(args)
        models = open_runners(args.files, runtime)
        built = build_model(spec, seed=args.seed)
        base = spec.preprocessing(built.config.image_size)
        runners = [NetworkRunner(built, name=built.name)] + models
    else:
        runners = open_runners(args.files, runtime)
    report = validate(runners, data_dir, batch_size=args.batch_size,
                      overrides={"image_size": args.image_size, "crop_pct": args.crop_pct,
                                 "interpolation": args.interpolation},
                      progress=not args.no_progress, limit=args.limit, base_preprocess=base)
    for s in report.skipped:
        say(f"warning: skipped {s['error']}")
    print(format_table(report))
    if args.json:
        write_text(args.json, json.dumps(report.to_dict(), indent=1) + "\n")
    return 0
