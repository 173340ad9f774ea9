"""Classify images with an exported ONNX model or an edge bundle. Never imports MindSpore.

`MODEL` is a bundle directory or an .onnx file. Preprocessing and labels come from the
bundle's manifest (every file verified before use); an .onnx file inside a bundle directory
uses that bundle's manifest; a bare .onnx file gets MindCV's defaults (crop 0.9, bicubic,
ImageNet mean/std, image size from the graph's input or 224) and a warning.

This module is also the whole of a bundle's `predict.py`: the script calls `main` with the
bundle's own directory, so `python BUNDLE/predict.py IMAGE ...` and `coat-export predict
BUNDLE IMAGE ...` are one implementation with the same flags and the same output.
"""
import argparse
import json
import os
import sys
from typing import List, Optional, Sequence

from .atomic import check_writable_file, write_text
from .bundle import MANIFEST_NAME, is_bundle, load_labels, open_bundle
from .errors import UserError
from .preprocess import PreprocessConfig, preprocess_batch
from .cli_support import (OneLineParser, VersionAction, add_runtime_arguments, positive_int,
                          run_guarded)
from .runtimes import open_onnx_runner
from .sources import OnnxModel, resolve_onnx
from .third_party import quiet_third_party
from .topk import softmax, topk

__all__ = ["Predictor", "predict", "format_text", "format_json", "add_arguments", "run",
           "main"]


class Predictor:
    """A runner plus the preprocessing and labels that belong to its model."""

    def __init__(self, model: str, labels_file: Optional[str] = None,
                 variant: Optional[str] = None, runtime: Optional[str] = None, provider=None,
                 threads: Optional[int] = None, ov_precision: str = "f32",
                 batch_size: int = 1, runtimes: Optional[Sequence[str]] = None):
        self.notes: List[str] = []          # warnings for the user
        self.info: List[str] = []           # what was used, for the user (note lines)
        self.choice = None                  # --variant auto: what this device measured
        if variant == "auto":
            from .device_choice import choose_variant

            if not is_bundle(model):
                raise UserError("--variant auto chooses among a bundle's variants: give a "
                                "bundle directory")
            self.choice = choose_variant(model, runtimes or ([runtime] if runtime else None),
                                         batch_size=batch_size, provider=provider,
                                         threads=threads, ov_precision=ov_precision)
            variant, runtime = self.choice.variant, self.choice.runtime
        runtime = runtime or "onnxruntime"
        if not is_bundle(model) and is_bundle(os.path.dirname(os.path.abspath(model))) \
                and not variant:
            src = self._member_of_bundle(model)
        else:
            src = resolve_onnx(model, variant)
        self.model: OnnxModel = src
        self.runner = open_onnx_runner(src, runtime, provider=provider, threads=threads,
                                       ov_precision=ov_precision)
        graph_size = self.runner.image_size
        if src.bundle is not None:
            try:
                self.preprocess = PreprocessConfig.from_dict(src.bundle.preprocessing)
            except (ValueError, TypeError) as exc:
                raise UserError(f"bad preprocessing in {MANIFEST_NAME} of "
                                f"{src.bundle.directory}: {exc}") from exc
            if graph_size and graph_size != self.preprocess.image_size:
                raise UserError(f"{MANIFEST_NAME} says image_size {self.preprocess.image_size} "
                                f"but {src.name} takes {graph_size}x{graph_size}")
        elif (src.metadata or {}).get("preprocessing"):
            try:   # the exported file's own metadata_props
                self.preprocess = PreprocessConfig.from_dict(src.metadata["preprocessing"])
            except ValueError as exc:
                raise UserError(f"bad preprocessing in the metadata of {src.name}: "
                                f"{exc}") from exc
            self.info.append(f"preprocessing from {os.path.basename(src.name)}'s own metadata "
                             f"(image_size {self.preprocess.image_size}, crop_pct "
                             f"{self.preprocess.crop_pct}, {self.preprocess.interpolation})")
        else:
            size = graph_size or 224
            self.preprocess = PreprocessConfig(image_size=size)
            self.notes.append(f"no {MANIFEST_NAME} for {os.path.basename(src.name)}: using "
                              f"default preprocessing (image_size {size}, crop_pct 0.9, "
                              "bicubic, ImageNet mean/std); pass a bundle directory for the "
                              "model's own")
        if graph_size and graph_size != self.preprocess.image_size:
            raise UserError(f"the preprocessing says image_size {self.preprocess.image_size} "
                            f"but {src.name} takes {graph_size}x{graph_size}")
        if labels_file:
            self.labels = load_labels(labels_file)
        elif src.bundle is not None:
            self.labels = src.bundle.labels()
        else:
            self.labels = (src.metadata or {}).get("labels")
            if self.labels:
                self.info.append(f"labels from {os.path.basename(src.name)}'s own metadata")
        classes = self.runner.num_classes
        if self.labels is not None and classes and len(self.labels) != classes:
            raise UserError(f"the labels file has {len(self.labels)} names but the model has "
                            f"{classes} classes")

    @staticmethod
    def _member_of_bundle(path: str) -> OnnxModel:
        """An .onnx file inside a bundle directory: verified as the bundle member it is."""
        bundle = open_bundle(os.path.dirname(os.path.abspath(path)))
        name = os.path.basename(path)
        for key, rec in bundle.variants.items():
            if isinstance(rec, dict) and rec.get("file") == name:
                data = bundle.read(name, what=f"{key} model")
                return OnnxModel(path, data, rec.get("precision") or "fp32",
                                 (bundle.manifest.get("onnx") or {}).get("opset"), bundle, key)
        raise UserError(f"{path} is in a bundle directory but is not one of its models")

    def predict(self, images: Sequence[str], k: int = 5, max_batch: int = 16) -> List[dict]:
        batch = preprocess_batch(list(images), self.preprocess)
        probs = softmax(self.runner(batch, max_batch=max_batch))
        idx, val = topk(probs, k)
        return [{"image": str(path), "top": [
            {"class": int(i), "label": self.label(int(i)), "prob": float(v)}
            for i, v in zip(ii, vv)]} for path, ii, vv in zip(images, idx, val)]

    def label(self, i: int) -> Optional[str]:
        return self.labels[i] if self.labels is not None and 0 <= i < len(self.labels) else None

    def describe(self) -> dict:
        m = self.model
        d = {"file": os.path.basename(m.name), "variant": m.variant or "fp32",
             "precision": self.runner.precision, "runtime": self.runner.runtime,
             "name": (m.bundle.manifest.get("model") or {}).get("name") if m.bundle else None}
        if self.choice is not None:
            d["chosen_on_device"] = {"batch_size": self.choice.batch_size,
                                     "num_samples": self.choice.num_samples,
                                     "candidates": self.choice.rows}
        return d


def predict(model: str, images: Sequence[str], labels_file: Optional[str] = None, k: int = 5,
            variant: Optional[str] = None, runtime: str = "onnxruntime") -> List[dict]:
    """Top-k predictions per image: [{"image", "top": [{"class", "label", "prob"}...]}]."""
    return Predictor(model, labels_file, variant, runtime).predict(images, k)


def format_text(results: List[dict]) -> str:
    lines = []
    for r in results:
        lines.append(r["image"])
        for rank, t in enumerate(r["top"], start=1):
            name = f"{t['label']} ({t['class']})" if t["label"] is not None \
                else f"class {t['class']}"
            lines.append(f"  {rank}. {name:<32} {t['prob']:.4f}")
    return "\n".join(lines)


def format_json(results: List[dict], predictor: Predictor) -> str:
    return json.dumps({"model": predictor.describe(),
                       "preprocessing": predictor.preprocess.to_dict(),
                       "results": results}, indent=1)


# ----------------------------------------------------------------------------- command line

def add_arguments(p: argparse.ArgumentParser, with_model: bool = True) -> None:
    """The predict flags (shared by `coat-export predict` and a bundle's predict.py)."""
    if with_model:
        p.add_argument("model", metavar="MODEL", help="a bundle directory or an .onnx file")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="image files")
    p.add_argument("--selftest", action="store_true",
                   help="instead of classifying: run every variant in every --runtime "
                        "(default: those installed) on the bundle's recorded inputs and judge "
                        "each against the MindSpore outputs recorded with them; exit 0 all "
                        "pass, 1 one fails, 2 a damaged bundle")
    p.add_argument("--topk", type=positive_int, default=5, help="classes per image (default 5)")
    p.add_argument("--variant", help="bundle variant: fp32 (default), fp16, int8_dynamic, "
                                     "int8_static, or auto: the fastest variant x runtime "
                                     "that passes its gates on this device, measured now")
    p.add_argument("--labels", help="class names, one per line (default: the bundle's)")
    add_runtime_arguments(p, several=True)
    # one runtime to classify with (default onnxruntime); several for --selftest and
    # --variant auto (default: every installed one)
    p.set_defaults(runtime=None)
    p.add_argument("--json", nargs="?", const="-", metavar="PATH",
                   help="write JSON instead of text (to PATH, or stdout without PATH)")


def run(args, model: Optional[str] = None) -> int:
    from .progress import say

    model = model or args.model
    if args.json and args.json != "-":
        check_writable_file(args.json, "--json")
    if args.selftest:
        return _selftest(args, model)
    if not args.images:
        raise UserError("give one or more IMAGE files (or --selftest on a bundle)")
    runtimes = args.runtime or []
    if len(runtimes) > 1 and args.variant != "auto":
        raise UserError("predict runs in one --runtime; several are for --selftest and "
                        "--variant auto")
    predictor = Predictor(model, labels_file=args.labels, variant=args.variant,
                          runtime=runtimes[0] if len(runtimes) == 1 else None,
                          runtimes=runtimes if len(runtimes) > 1 else None,
                          provider=args.provider, threads=args.threads,
                          ov_precision=args.ov_precision,
                          batch_size=min(len(args.images), 16))
    if predictor.choice is not None:
        say(f"note: {predictor.choice.describe()}")
    for note in predictor.info:
        say(f"note: {note}")
    for note in predictor.notes:
        say(f"warning: {note}")
    results = predictor.predict(args.images, k=args.topk)
    if args.json:
        text = format_json(results, predictor)
        if args.json == "-":
            print(text)
            return 0
        write_text(args.json, text + "\n")
    print(format_text(results))
    return 0


def _selftest(args, model: str) -> int:
    from .runtimes import installed_runtimes
    from .report import build_report, to_json, to_markdown
    from .progress import say
    from .selftest import run_selftest, verdict_line

    if not is_bundle(model):
        raise UserError("--selftest needs a bundle directory (its recorded reference)")
    if args.images:
        raise UserError("--selftest runs the bundle's recorded inputs: give no IMAGE")
    result = run_selftest(model, args.runtime or installed_runtimes(), provider=args.provider,
                          threads=args.threads, ov_precision=args.ov_precision,
                          variants=[args.variant] if args.variant not in (None, "auto") else None)
    report = build_report(result)
    if args.json == "-":
        print(to_json(report), end="")
    else:
        print(to_markdown(report), end="")
        if args.json:
            write_text(args.json, to_json(report))
    say(verdict_line(result))
    return 0 if result.passed else 1


def main(argv: Optional[Sequence[str]] = None, bundle_dir: Optional[str] = None,
         prog: str = "predict.py") -> int:
    """A bundle's predict.py: classify images with the bundle at `bundle_dir`."""
    p = OneLineParser(prog=prog, description="Classify images with this CoaT bundle "
                                             "(top-k classes per image).")
    p.add_argument("--version", action=VersionAction)
    p.add_argument("--verbose", action="store_true",
                   help="also show the libraries' own warnings and logs")
    add_arguments(p, with_model=False)
    args = p.parse_args(argv)
    quiet_third_party(args.verbose)
    return run_guarded(lambda: run(args, model=bundle_dir))


if __name__ == "__main__":  # pragma: no cover
    from .cli_support import run_program

    run_program(main)
