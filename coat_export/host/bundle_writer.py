"""Writing edge bundles (host side: needs `onnx`, and onnxruntime's quantizer for variants).

The layout and the reading side are in `coat_export.edge.bundle`. Besides the models, labels
and manifest, a bundle carries the edge runtime itself: a verbatim copy of the
`coat_export.edge` subpackage as `coat_edge/`, a `predict.py` that runs it, and a README, so a
box with only numpy, pillow and onnxruntime (or openvino) classifies images with the bundle
alone. Every file, the runtime's included, is listed in the manifest with its size and
sha256. A bundle is written into a temporary directory next to the destination and renamed
into place, so a reader never sees a half-written one.
"""
import json
import os
import shutil
from dataclasses import dataclass
from typing import Any, Optional, Tuple


from ..edge.atomic import atomic_dir, ensure_writable_dir, output_lock
from ..edge.bundle import (FORMAT, FORMAT_VERSION, LABELS_FILE, MANIFEST_NAME, MODEL_FILE,
                           PREDICT_SCRIPT, RUNTIME_DIR, VARIANT_KEYS, is_bundle, load_labels,
                           sha256_file)
from ..edge.errors import UserError, first_line
from ..edge.progress import step
from ..edge.versions import __version__, library_versions

__all__ = ["write_bundle", "BundleSource", "BundleOptions", "bundle_export",
           "onnx_io", "runtime_files", "PREDICT_PY"]

EDGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "edge")

# The bundle's entry point: the edge runtime's own predict command, bound to this directory.
PREDICT_PY = """#!/usr/bin/env python3
\"\"\"Classify images with this bundle: python predict.py IMAGE [IMAGE ...] [--topk K] [--json]
[--runtime onnxruntime|openvino]. Needs numpy, pillow and onnxruntime (or openvino).\"\"\"
import os
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the bundle (read-only media, listings)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from coat_edge.interrupts import exit_on_interrupt_while_starting  # noqa: E402

exit_on_interrupt_while_starting()  # before the runtimes' imports

from coat_edge.cli_support import run_program  # noqa: E402  (the bundle's own runtime)
from coat_edge.predict import main  # noqa: E402

if __name__ == "__main__":
    run_program(lambda: main(sys.argv[1:], bundle_dir=HERE, prog="predict.py"))
"""


def runtime_files():
    """(path in the bundle, source path) of every module of the edge runtime."""
    out = []
    for root, dirs, files in os.walk(EDGE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                src = os.path.join(root, f)
                rel = os.path.relpath(src, EDGE_DIR).replace(os.sep, "/")
                out.append((f"{RUNTIME_DIR}/{rel}", src))
    return out


def _readme(manifest: dict) -> str:
    m = manifest["model"]
    pre = manifest["preprocessing"]
    io = manifest["onnx"]
    variants = "\n".join(f"- `{k}`: `{v['file']}` ({v['precision']})"
                          for k, v in manifest["variants"].items())
    return f"""# {m['name']}: CoaT image classifier bundle

Made by coat-export {__version__}. Everything here is listed in `{MANIFEST_NAME}` with its
size and sha256; files are verified before they are used.

## Run it

Needs Python 3.9 or newer with `numpy`, `pillow` and `onnxruntime` (or `openvino`); nothing
else, no install of this toolkit:

```bash
pip install numpy pillow onnxruntime
python predict.py photo.jpg --topk 5
python predict.py a.jpg b.png --json            # JSON on stdout
python predict.py photo.jpg --runtime openvino  # pip install openvino
python predict.py photo.jpg --variant int8_dynamic
python predict.py photo.jpg --variant auto         # the fastest variant that passes here
python predict.py --selftest                       # this box vs MindSpore's recorded outputs
```

With the toolkit installed (`pip install coat-export`), `coat-export predict THIS_DIR
IMAGE ...` gives exactly the same results.

## Model

- classes: {m.get('num_classes')}; input `{io['inputs'][0]['name']}` {io['inputs'][0]['shape']}
  (float32, NCHW), output `{io['outputs'][0]['name']}` {io['outputs'][0]['shape']} (logits)
- ONNX opset {io['opset']}
- preprocessing (MindCV's eval transform): decode RGB, resize the shorter side to
  int({pre['image_size']} / {pre['crop_pct']}) ({pre['interpolation']}), center crop
  {pre['image_size']}, scale to [0, 1], normalize with mean {pre['mean']} and std {pre['std']}

Variants:

{variants}
"""


def onnx_io(onnx_path: str) -> dict:
    """Opset, IR version and graph inputs/outputs (name, shape with ints or symbols, type)."""
    import onnx

    try:
        m = onnx.load(onnx_path, load_external_data=False)
    except Exception as exc:
        raise UserError(f"cannot read {onnx_path} as ONNX: {first_line(exc)}") from exc

    def desc(v):
        t = v.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in t.shape.dim]
        return {"name": v.name, "shape": shape,
                "type": onnx.TensorProto.DataType.Name(t.elem_type).lower()}

    inits = {i.name for i in m.graph.initializer}
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
    inputs = [desc(v) for v in m.graph.input if v.name not in inits]
    return {"opset": opset, "ir_version": m.ir_version, "inputs": inputs,
            "outputs": [desc(v) for v in m.graph.output],
            "dynamic_batch": bool(inputs and not isinstance(inputs[0]["shape"][0], int))}


def _uses_external_data(onnx_path: str) -> bool:
    import onnx

    m = onnx.load(onnx_path, load_external_data=False)
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)


def _copy_model(src: str, dst: str) -> None:
    if _uses_external_data(src):  # inline the weights: a bundle file stands alone
        import onnx

        onnx.save(onnx.load(src), dst)
    else:
        shutil.copyfile(src, dst)


@dataclass(frozen=True)
class BundleSource:
    """What a bundle's manifest says about its model.

    architecture: the CoaT architecture dict (e.g. CoaTConfig.to_dict()).
    checkpoint_path: hashed (sha256) into the manifest; or give checkpoint_sha256 directly;
        neither: the manifest records weights of unknown origin (null).
    opset: expected opset; UserError if the ONNX file says otherwise (None: read from file).
    preprocessing: PreprocessConfig or dict (None: MindCV defaults at the graph's image size).
    weights: which checkpoint weights the model computes, 'raw' or 'ema' (None: random or
        unknown), recorded as manifest["weights"].
    """

    name: str
    architecture: Optional[dict] = None
    preprocessing: Any = None
    opset: Optional[int] = None
    checkpoint_path: Optional[str] = None
    checkpoint_sha256: Optional[str] = None
    weights: Optional[str] = None


@dataclass(frozen=True)
class BundleOptions:
    """What goes into a bundle besides its fp32 model.

    labels_file: copied as labels.txt (text, or JSON list/dict; validated against the class
        count).
    variants: quantize modes to add: 'fp16', 'dynamic', 'static' ('static' needs calib_dir).
        Each is checked against the fp32 model (host.quantize) unless check_variants is
        False; a failing check raises and nothing is written.
    bench_runs: time every variant in every runtime installed here (batch 1, interleaved, this
        many rounds) and record the figures and the fastest in the manifest; 0: skip.
    """

    labels_file: Optional[str] = None
    variants: Tuple[str, ...] = ()
    calib_dir: Optional[str] = None
    check_variants: bool = True
    bench_runs: int = 10


def write_bundle(onnx_path: str, output_dir: str, source: BundleSource,
                 options: BundleOptions = BundleOptions(), parity: Optional[dict] = None,
                 reference=None) -> dict:
    """Write an edge bundle directory for `onnx_path`; returns the manifest.

    parity: the export's parity results (any JSON-serialisable dict), recorded as given.
    reference: (inputs, outputs, meta) recorded from the source network (export --bundle:
        MindSpore) as reference.npz; None: the fp32 ONNX model's own outputs on seeded inputs,
        labelled as such (no MindSpore network was given).
    An existing bundle at output_dir is replaced atomically once the new one is complete;
    a non-empty directory that is not a bundle is never replaced (UserError).
    """
    from ..edge.preprocess import PreprocessConfig

    model_name, architecture, preprocessing = source.name, source.architecture, source.preprocessing
    opset, weights = source.opset, source.weights
    checkpoint_path, checkpoint_sha256 = source.checkpoint_path, source.checkpoint_sha256
    labels_file, variants, calib_dir = options.labels_file, options.variants, options.calib_dir
    check_variants, bench_runs = options.check_variants, options.bench_runs

    if not os.path.isfile(onnx_path):
        raise UserError(f"ONNX model not found: {onnx_path}")
    modes = list(dict.fromkeys(variants or ()))
    for m in modes:
        if m not in VARIANT_KEYS:
            raise UserError(f"unknown variant '{m}'; choose from {', '.join(VARIANT_KEYS)}")
    if "static" in modes and not calib_dir:
        raise UserError("the 'static' int8 variant needs calibration images: pass calib_dir")
    out = os.path.abspath(output_dir)
    if os.path.exists(out):   # replace a bundle, never anything else
        if not os.path.isdir(out):
            raise UserError(f"bundle output {output_dir} exists and is a file")
        if os.listdir(out) and not is_bundle(out):
            raise UserError(f"bundle output {output_dir} exists and is not a bundle; "
                            "refusing to replace it: choose another directory")
    io = onnx_io(onnx_path)
    if opset is not None and io["opset"] != int(opset):
        raise UserError(f"{onnx_path} has opset {io['opset']}, not the stated {opset}")
    if isinstance(preprocessing, PreprocessConfig):
        pre = preprocessing
    else:
        pre = PreprocessConfig.from_dict(preprocessing or {})
        if not preprocessing:
            shape = io["inputs"][0]["shape"] if io["inputs"] else []
            if len(shape) == 4 and isinstance(shape[2], int):
                pre = PreprocessConfig(image_size=shape[2])
    shape = io["inputs"][0]["shape"] if io["inputs"] else []
    if len(shape) == 4 and isinstance(shape[2], int) and shape[2] != pre.image_size:
        raise UserError(f"preprocessing image_size {pre.image_size} does not match the "
                        f"model input {shape}")
    num_classes = io["outputs"][0]["shape"][-1] if io["outputs"] and io["outputs"][0]["shape"] else None
    labels = load_labels(labels_file) if labels_file else None
    if labels is not None and isinstance(num_classes, int) and len(labels) != num_classes:
        raise UserError(f"labels file {labels_file} has {len(labels)} names, the model "
                        f"{num_classes} classes")
    if weights not in (None, "raw", "ema"):
        raise UserError(f"weights must be 'raw' or 'ema', got {weights!r}")
    if checkpoint_path is not None:
        if not os.path.isfile(checkpoint_path):
            raise UserError(f"checkpoint not found: {checkpoint_path}")
        checkpoint = {"file": os.path.basename(checkpoint_path),
                      "sha256": sha256_file(checkpoint_path)}
    elif checkpoint_sha256:
        checkpoint = {"file": None, "sha256": checkpoint_sha256}
    else:
        checkpoint = None

    ensure_writable_dir(os.path.dirname(out), "the bundle's parent directory")
    with output_lock(out), atomic_dir(out) as tmp:
        _copy_model(onnx_path, os.path.join(tmp, MODEL_FILE))
        ref_record = _write_reference(tmp, reference, pre, checkpoint, weights)
        variant_recs = {"fp32": {"file": MODEL_FILE, "precision": "fp32"}}
        if modes:
            from .quantize import QuantizeOptions, quantize_model

            for mode in modes:
                key = VARIANT_KEYS[mode]
                name = f"model.{key}.onnx"
                result = quantize_model(os.path.join(tmp, MODEL_FILE), os.path.join(tmp, name), QuantizeOptions(mode, calib_dir=calib_dir, preprocess=pre,
                                        check=check_variants))
                variant_recs[key] = {"file": name,
                                     "precision": "fp16" if mode == "fp16" else "int8",
                                     "method": result.method,
                                     "check": result.check.to_dict() if result.check else None,
                                     "check_inputs": result.check_inputs or None,
                                     "validated_on": result.validated_on}
        if labels is not None:
            with open(os.path.join(tmp, LABELS_FILE), "w", encoding="utf-8") as f:
                f.write("\n".join(labels) + "\n")
        os.makedirs(os.path.join(tmp, RUNTIME_DIR, "runners"), exist_ok=True)
        for rel, src in runtime_files():
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            shutil.copyfile(src, os.path.join(tmp, *rel.split("/")))
        with open(os.path.join(tmp, PREDICT_SCRIPT), "w", encoding="utf-8") as f:
            f.write(PREDICT_PY)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {"name": model_name, "architecture": _jsonable(architecture),
                      "num_classes": num_classes},
            "checkpoint": checkpoint,
            "weights": weights,
            "onnx": io,
            "preprocessing": pre.to_dict(),
            "labels": LABELS_FILE if labels is not None else None,
            "default_variant": "fp32",
            "variants": variant_recs,
            "parity": _jsonable(parity) if parity is not None else None,
            "reference": ref_record,
            "host_benchmark": _benchmark(tmp, variant_recs, bench_runs) if bench_runs else None,
            "files": {},
            "tool": {"name": "coat-export", "version": __version__},
            "versions": library_versions(),
        }
        with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
            f.write(_readme(manifest))
        manifest["files"] = _file_records(tmp)
        with open(os.path.join(tmp, MANIFEST_NAME), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=False)
            f.write("\n")
    return manifest


def _write_reference(tmp: str, reference, pre, checkpoint, weights) -> dict:
    """reference.npz in the bundle directory being written; its manifest record."""
    from ..edge.reference import REFERENCE_FILE, reference_bytes
    from .bundle_reference import reference_sample_count

    if reference is None:
        from ..edge.check_inputs import seeded_input
        from ..edge.runners.onnxruntime_runner import OnnxRuntimeRunner

        runner = OnnxRuntimeRunner(os.path.join(tmp, MODEL_FILE))
        shape = [3, pre.image_size, pre.image_size]
        x = seeded_input((reference_sample_count(shape), *shape), 0)
        reference = (x, runner(x), {"source": "onnxruntime",
                                    "note": "no MindSpore network was given: the fp32 ONNX "
                                            "model's own outputs", "random": len(x), "seed": 0})
    inputs, outputs, meta = reference
    meta = dict(meta, checkpoint_sha256=(checkpoint or {}).get("sha256"), weights=weights)
    data = reference_bytes(inputs, outputs, meta)
    with open(os.path.join(tmp, REFERENCE_FILE), "wb") as f:
        f.write(data)
    return dict(meta, file=REFERENCE_FILE, num_samples=int(len(inputs)),
                input_shape=[int(d) for d in inputs.shape[1:]],
                output_shape=[int(d) for d in outputs.shape[1:]])


def _benchmark(bundle_dir: str, variants: dict, runs: int) -> dict:
    """Batch-1 latency of every variant in every runtime installed on this host, interleaved:
    which one to deploy, measured where the bundle was made (the edge box may differ)."""
    from ..edge.benchmark import benchmark
    from ..edge.cpu import cpu_line
    from ..edge.runtimes import installed_runtimes
    from ..edge.runners.onnxruntime_runner import available_cores
    from ..edge.options import RuntimeOptions
    from .open_models import open_runners

    runtimes = installed_runtimes()
    keys = list(variants)
    files = [os.path.join(bundle_dir, variants[k]["file"]) for k in keys]
    with step(f"time {len(files)} model(s) x {len(runtimes)} runtime(s) at batch 1"):
        runners = open_runners(files, RuntimeOptions(runtimes=tuple(runtimes)))
        results = benchmark(runners, batch_size=1, runs=runs, warmup=2)
    rows = [{"variant": keys[i // len(runtimes)], "runtime": r.runtime,
             "median_ms": round(r.median_ms, 3), "p90_ms": round(r.p90_ms, 3)}
            for i, r in enumerate(results)]
    passed = [row for row in rows if row["variant"] == "fp32"
              or (variants[row["variant"]].get("check") or {}).get("passed")]
    best = min(passed or rows, key=lambda row: row["median_ms"])
    return {"batch_size": 1, "runs": runs, "cpu": cpu_line(),
            "cores": available_cores(), "results": rows,
            "fastest": {"variant": best["variant"], "runtime": best["runtime"],
                        "median_ms": best["median_ms"]}}


def _file_records(root: str) -> dict:
    """{relative '/'-separated name: {bytes, sha256}} of every file under root."""
    files = {}
    for d, dirs, names in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for n in sorted(names):
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            files[rel] = {"bytes": os.path.getsize(p), "sha256": sha256_file(p)}
    return dict(sorted(files.items()))


def _jsonable(obj):
    """Dataclasses, tuples, numpy scalars/arrays -> plain JSON types."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy
        return obj.tolist()
    return obj


# ----------------------------------------------------------------------------- from a network


def bundle_export(built, spec, options, onnx_path: str, parity: Optional[dict],
                  reference) -> str:
    """The edge bundle of a verified ONNX export (options: host.export_options.ExportOptions),
    beside it: <model>_bundle/. reference: what reference.npz records
    (host.bundle_reference.mindspore_reference)."""
    bundle_dir = os.path.join(os.path.dirname(onnx_path), f"{built.name}_bundle")
    source = BundleSource(built.name, built.config.to_dict(),
                          spec.preprocessing(built.config.image_size), opset=options.opset,
                          checkpoint_path=spec.ckpt_path, weights=built.weights)
    with step(f"write edge bundle {bundle_dir}"):
        write_bundle(onnx_path, bundle_dir, source, options.bundle, parity=parity,
                     reference=reference)
    return bundle_dir
