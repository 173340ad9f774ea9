"""Edge bundles: one directory with everything a deployment needs to classify images.

    <bundle>/
      model.onnx               fp32 graph
      model.fp16.onnx          optional variants (fp16, int8_dynamic, int8_static)
      model.int8_dynamic.onnx
      model.int8_static.onnx
      labels.txt               optional, one class name per line
      manifest.json

`manifest.json` records the model (name, architecture), the checkpoint's sha256, the ONNX
opset and input/output names and shapes, the preprocessing, the parity results of the export,
the quality checks of each variant, every file's sha256 and size, and the versions of the
tool and of the libraries that made it. A bundle is written into a temporary directory next
to the destination and renamed into place, so a reader never sees a half-written one.

Reading a bundle (read_manifest, load_labels, verify_file) needs only the standard library;
writing needs `onnx` (and onnxruntime for variants). Neither imports MindSpore: its version
is read from the package metadata.
"""
import hashlib
import json
import os
import shutil
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence

from .errors import UserError, first_line

__all__ = ["MANIFEST_NAME", "FORMAT", "FORMAT_VERSION", "VARIANT_KEYS", "write_bundle",
           "read_manifest", "load_labels", "variant_file", "verify_file", "verify_bundle",
           "sha256_file", "library_versions", "onnx_io"]

MANIFEST_NAME = "manifest.json"
FORMAT = "coat-export-edge-bundle"
FORMAT_VERSION = 1
MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.txt"
# quantize modes -> variant keys in the manifest
VARIANT_KEYS = {"fp16": "fp16", "dynamic": "int8_dynamic", "static": "int8_static"}


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def library_versions() -> Dict[str, Optional[str]]:
    """Versions of the libraries involved, from package metadata (imports nothing)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("onnx", "onnxruntime", "numpy", "pillow", "mindspore", "onnxconverter-common"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


# ---------------------------------------------------------------- reading (edge side)

def read_manifest(bundle_dir: str) -> dict:
    """The parsed manifest.json of a bundle directory; UserError if missing or malformed."""
    path = os.path.join(bundle_dir, MANIFEST_NAME)
    if not os.path.isfile(path):
        raise UserError(f"{bundle_dir} is not a bundle: no {MANIFEST_NAME} in it")
    try:
        with open(path, "r", encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{path} is not a coat_export bundle manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise UserError(f"{path} has format version {manifest.get('format_version')}; this "
                        f"tool reads up to {FORMAT_VERSION}: upgrade coat_export")
    return manifest


def variant_file(manifest: dict, variant: Optional[str] = None) -> str:
    """File name of a variant ('fp32' default, 'fp16', 'int8_dynamic'/'dynamic', ...)."""
    variants = manifest.get("variants") or {}
    key = VARIANT_KEYS.get(variant, variant) if variant else manifest.get("default_variant", "fp32")
    if key not in variants:
        raise UserError(f"bundle has no '{variant}' variant; it has: {', '.join(variants)}")
    return variants[key]["file"]


def verify_file(bundle_dir: str, manifest: dict, name: str) -> None:
    """UserError unless `name` exists in the bundle with the recorded size and sha256."""
    rec = (manifest.get("files") or {}).get(name)
    path = os.path.join(bundle_dir, name)
    if rec is None:
        raise UserError(f"{name} is not listed in {MANIFEST_NAME}")
    if not os.path.isfile(path):
        raise UserError(f"bundle {bundle_dir} is incomplete: {name} missing")
    if os.path.getsize(path) != rec["bytes"] or sha256_file(path) != rec["sha256"]:
        raise UserError(f"{name} in {bundle_dir} does not match its sha256 in {MANIFEST_NAME} "
                        "(modified or corrupted)")


def verify_bundle(bundle_dir: str) -> dict:
    manifest = read_manifest(bundle_dir)
    for name in manifest.get("files") or {}:
        verify_file(bundle_dir, manifest, name)
    return manifest


def load_labels(path: str) -> List[str]:
    """Class names: a text file with one per line, or JSON (a list, or {index: name})."""
    if not os.path.isfile(path):
        raise UserError(f"labels file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read labels file {path}: {exc}") from None
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"labels file {path} is not valid JSON: {exc}") from None
        if isinstance(data, dict):
            try:
                items = sorted((int(k), str(v)) for k, v in data.items())
            except ValueError:
                raise UserError(f"labels file {path}: keys must be class indices") from None
            if [k for k, _ in items] != list(range(len(items))):
                raise UserError(f"labels file {path}: indices must be 0..N-1")
            return [v for _, v in items]
        if isinstance(data, list):
            return [str(v) for v in data]
        raise UserError(f"labels file {path}: expected a list or an object")
    labels = [line.strip() for line in text.splitlines()]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise UserError(f"labels file {path} is empty")
    return labels


# ---------------------------------------------------------------- writing

def onnx_io(onnx_path: str) -> dict:
    """Opset, IR version and graph inputs/outputs (name, shape with ints or symbols, type)."""
    import onnx

    try:
        m = onnx.load(onnx_path, load_external_data=False)
    except Exception as exc:
        raise UserError(f"cannot read {onnx_path} as ONNX: {first_line(exc)}") from None

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


def write_bundle(onnx_path: str, output_dir: str, model_name: str, architecture: dict,
                 checkpoint_path: Optional[str] = None, opset: Optional[int] = None,
                 preprocessing=None, parity: Optional[dict] = None,
                 labels_file: Optional[str] = None, variants: Sequence[str] = (),
                 calib_dir: Optional[str] = None, check_variants: bool = True,
                 overwrite: bool = False, checkpoint_sha256: Optional[str] = None) -> dict:
    """Write an edge bundle directory for `onnx_path`; returns the manifest.

    architecture: the CoaT architecture dict (e.g. CoaTConfig.to_dict()).
    checkpoint_path: hashed (sha256) into the manifest; or pass checkpoint_sha256 directly;
        neither: the manifest records weights of unknown origin (null).
    opset: expected opset; UserError if the ONNX file says otherwise (None: read from file).
    preprocessing: PreprocessConfig or dict (None: MindCV defaults at the graph's image size).
    parity: the export's parity results (any JSON-serialisable dict), recorded as given.
    labels_file: copied as labels.txt (text, or JSON list/dict; validated against the class
        count).
    variants: quantize modes to add: 'fp16', 'dynamic', 'static' ('static' needs calib_dir).
        Each is checked against the fp32 model (coat_export.quantize) unless check_variants
        is False; a failing check raises and nothing is written.
    overwrite: replace an existing output_dir (else UserError if it exists and is not empty).
    """
    from .preprocess import PreprocessConfig
    from . import __version__

    if not os.path.isfile(onnx_path):
        raise UserError(f"ONNX model not found: {onnx_path}")
    modes = list(dict.fromkeys(variants or ()))
    for m in modes:
        if m not in VARIANT_KEYS:
            raise UserError(f"unknown variant '{m}'; choose from {', '.join(VARIANT_KEYS)}")
    if "static" in modes and not calib_dir:
        raise UserError("the 'static' int8 variant needs calibration images: pass calib_dir")
    out = os.path.abspath(output_dir)
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise UserError(f"bundle output {output_dir} exists and is a file")
        if os.listdir(out) and not overwrite:
            raise UserError(f"bundle output {output_dir} exists and is not empty; "
                            "pass --overwrite to replace it")
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
    if checkpoint_path is not None:
        if not os.path.isfile(checkpoint_path):
            raise UserError(f"checkpoint not found: {checkpoint_path}")
        checkpoint = {"file": os.path.basename(checkpoint_path),
                      "sha256": sha256_file(checkpoint_path)}
    elif checkpoint_sha256:
        checkpoint = {"file": None, "sha256": checkpoint_sha256}
    else:
        checkpoint = None

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.partial-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; a bundle is an ordinary directory
    try:
        _copy_model(onnx_path, os.path.join(tmp, MODEL_FILE))
        variant_recs = {"fp32": {"file": MODEL_FILE, "precision": "fp32"}}
        if modes:
            from .quantize import quantize_model

            for mode in modes:
                key = VARIANT_KEYS[mode]
                name = f"model.{key}.onnx"
                result = quantize_model(os.path.join(tmp, MODEL_FILE), os.path.join(tmp, name),
                                        mode, calib_dir=calib_dir, preprocess=pre,
                                        check=check_variants)
                variant_recs[key] = {"file": name,
                                     "precision": "fp16" if mode == "fp16" else "int8",
                                     "method": result.method,
                                     "check": result.check.to_dict() if result.check else None}
        if labels is not None:
            with open(os.path.join(tmp, LABELS_FILE), "w", encoding="utf-8") as f:
                f.write("\n".join(labels) + "\n")
        files = {}
        for name in sorted(os.listdir(tmp)):
            p = os.path.join(tmp, name)
            files[name] = {"bytes": os.path.getsize(p), "sha256": sha256_file(p)}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {"name": model_name, "architecture": _jsonable(architecture),
                      "num_classes": num_classes},
            "checkpoint": checkpoint,
            "onnx": io,
            "preprocessing": pre.to_dict(),
            "labels": LABELS_FILE if labels is not None else None,
            "default_variant": "fp32",
            "variants": variant_recs,
            "parity": _jsonable(parity) if parity is not None else None,
            "files": files,
            "tool": {"name": "coat_export", "version": __version__},
            "versions": library_versions(),
        }
        with open(os.path.join(tmp, MANIFEST_NAME), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=False)
            f.write("\n")
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _swap_into_place(tmp: str, out: str) -> None:
    if os.path.exists(out):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old-", dir=os.path.dirname(out))
        os.rmdir(old)
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


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
