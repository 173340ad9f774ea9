"""`export`: checkpoint -> MINDIR / AIR / ONNX, each verified against the source network.

The flags are a fixed contract shared with the MindCV-style `export.py` at the repo root.
Parse (`host.export_options`) -> validate -> run, one stage module each
(`host.config.build_model`, `host.pipeline.export_verified`, `host.check.run_check`,
`host.bundle_reference`, `host.bundle_writer`) -> report (`commands.reporting`).
"""
import argparse

from ..edge.bundle import VARIANT_KEYS
from .arguments import add_model_source_arguments, positive_int

FORMATS = ("mindir", "air", "onnx")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_source_arguments(
        p, config_help="yaml config: ours (configs/) or MindCV's training yaml",
        model_help="variant name (default: the config's, else coat_lite_tiny)",
        ckpt_help="MindCV checkpoint (.ckpt); absent: seeded random weights")
    p.add_argument("--format", required=True, choices=FORMATS, help="output format")
    p.add_argument("--batch_size", type=positive_int, default=1, help="static batch size")
    p.add_argument("--dynamic_batch", action="store_true",
                   help="symbolic batch dimension (MINDIR/ONNX)")
    p.add_argument("--output_dir", default="./exported", help="where to write DIR/<model>.<ext>")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (13-21; default 17)")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights and test inputs")
    p.add_argument("--check", action="store_true",
                   help="after exporting, run the parity check (as `check`) on the file and "
                        "write DIR/<model>.parity.json")
    p.add_argument("--bundle", action="store_true",
                   help="with --format onnx: also write the edge bundle DIR/<model>_bundle/")
    p.add_argument("--labels", help="class names, one per line: recorded in the ONNX file's "
                                    "metadata and the bundle")
    p.add_argument("--bundle_variants", nargs="+", choices=tuple(VARIANT_KEYS),
                   default=(), help="reduced-precision variants to add to the bundle")
    p.add_argument("--calib_dir", help="calibration images for the 'static' int8 variant")
    p.add_argument("--images", metavar="DIR",
                   help="with --bundle: real images (searched recursively) whose MindSpore "
                        "outputs the bundle records in reference.npz, beside seeded inputs")


def run(args) -> int:
    from .arguments import model_spec, require_host

    require_host("export", "mindspore", "onnx", "yaml")
    import json
    import os

    from ..edge.atomic import output_dir
    from ..host.bundle_reference import mindspore_reference
    from ..host.bundle_writer import bundle_export
    from ..host.check import run_check
    from ..host.config import build_model
    from ..host.export_options import ExportOptions
    from ..host.pipeline import export_verified
    from .reporting import report_result

    options = ExportOptions.from_args(args)
    options.validate()           # flags that do not go together: before any work
    with output_dir(args.output_dir) as out_dir:
        spec = model_spec(args)  # unknown model / bad architecture: before building
        built = build_model(spec, seed=options.seed)
        exported = export_verified(built, spec, options, out_dir)
        print(exported.path)
        parity = None
        if options.check:
            parity_path = os.path.join(out_dir, f"{built.name}.parity.json")
            result = run_check(built, spec, [exported.path],
                               computed=exported.verified_on)
            status = report_result(result, parity_path)
            if status:
                return status
            with open(parity_path, encoding="utf-8") as f:
                parity = json.load(f)
        if options.bundle:
            reference = mindspore_reference(built, spec, options.seed,
                                            (("images", options.images),
                                             ("calibration", options.bundle.calib_dir)))
            print(bundle_export(built, spec, options, exported.path, parity, reference))
    return 0
