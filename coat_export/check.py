"""Parity check: exported MINDIR / ONNX files against the MindSpore network they came from.

Computing only (Polygraphy style): `run_check` returns a `CheckResult`; `coat_export.report`
turns it into JSON and Markdown. Pieces reused, not copied: `pipeline.build_model` /
`run_network` (the reference), `runtime.OrtBackend` / `MindirBackend` (the candidates),
`preprocess` (real images), `compare.compare_arrays` (the verdict), `divergence` (the first
diverging node of a failing ONNX file).

Exit-code policy of the command built on this: 0 every comparison passes, 1 one fails (this
includes a candidate that loads but cannot run), 2 bad usage: a missing or unreadable file,
an unknown format, an unreadable image, or a file whose input/output shape is not the model's
(a file of another model: comparing it would be meaningless, so it is a usage error).
"""
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .compare import Comparison, compare_arrays, tolerance_for
from .divergence import LocalisationResult, NodeTolerance
from .errors import UserError, first_line
from .progress import say, step

__all__ = ["CheckInputs", "Candidate", "CandidateResult", "CheckResult", "make_inputs",
           "open_candidate", "detect_onnx_precision", "run_check", "DEFAULT_NUM_SAMPLES",
           "REFERENCE_NAME"]

DEFAULT_NUM_SAMPLES = 4
REFERENCE_NAME = "mindspore"
REFERENCE_CHUNK = 16  # samples per call of the source network (bounded memory)

_INT8_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger",
             "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}


# ----------------------------------------------------------------------------- inputs


@dataclass
class CheckInputs:
    array: np.ndarray            # (N, C, S, S) float32, what every runner is fed
    description: dict            # for the report: random count + seed, image files, preprocessing


def make_inputs(built, spec, images: Optional[str] = None, num_samples: Optional[int] = None,
                seed: int = 0) -> CheckInputs:
    """Seeded random tensors and/or preprocessed images (MindCV eval transform at the model's
    own image size, so 64x64 test models take real photos too)."""
    from .pipeline import sample_input
    from .preprocess import PreprocessConfig, list_images, preprocess_batch

    if num_samples is None:
        num_samples = 0 if images else DEFAULT_NUM_SAMPLES
    if num_samples < 0:
        raise UserError(f"--num_samples must be >= 0, got {num_samples}")
    parts, desc = [], {"random": int(num_samples), "seed": int(seed)}
    if num_samples:
        parts.append(sample_input((num_samples, *built.input_shape), seed))
    if images:
        paths = list_images(images)
        if not paths:
            raise UserError(f"no image files in {images} (extensions: .jpg, .png, ...)")
        try:
            cfg = PreprocessConfig.from_dict(spec.preprocessing(built.config.image_size))
        except ValueError as exc:
            raise UserError(f"preprocessing of {spec.source}: {exc}") from None
        with step(f"preprocess {len(paths)} image(s) from {images} at {cfg.image_size}x"
                  f"{cfg.image_size}"):
            parts.append(preprocess_batch(paths, cfg))  # ImageDecodeError: one line, exit 2
        desc["images"] = [os.path.basename(p) for p in paths]
        desc["image_dir"] = images
        desc["preprocessing"] = cfg.to_dict()
    if not parts:
        raise UserError("no inputs: give --num_samples N (N >= 1) and/or --images DIR")
    x = np.concatenate(parts).astype(np.float32)
    desc["count"] = int(len(x))
    desc["shape"] = [int(d) for d in x.shape[1:]]
    return CheckInputs(x, desc)


# ----------------------------------------------------------------------------- candidates


def detect_onnx_precision(model) -> str:
    """'int8' (quantize/dequantize or integer ops), 'fp16' (float16 initializers or casts),
    else 'fp32'."""
    from onnx import TensorProto

    ops = {n.op_type for n in model.graph.node}
    if ops & _INT8_OPS or any(op.startswith("QLinear") for op in ops):
        return "int8"
    if any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    for n in model.graph.node:
        if n.op_type == "Cast" and any(a.name == "to" and a.i == TensorProto.FLOAT16
                                       for a in n.attribute):
            return "fp16"
    return "fp32"


@dataclass
class Candidate:
    path: str
    format: str                      # "onnx" | "mindir"
    precision: str
    input_shape: List             # as recorded in the file (batch: int or symbol)
    fixed_batch: Optional[int]
    backend: object = field(repr=False)
    onnx_model: object = field(default=None, repr=False)
    load_error: Optional[str] = None   # the runtime refused the file (a failure, exit 1)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits for all of `x`, in chunks of the file's fixed batch (last chunk padded)."""
        step_ = self.fixed_batch or len(x)
        outs = []
        for start in range(0, len(x), step_):
            chunk = x[start:start + step_]
            n = len(chunk)
            if self.fixed_batch and n < self.fixed_batch:
                pad = np.repeat(chunk[-1:], self.fixed_batch - n, axis=0)
                chunk = np.concatenate([chunk, pad])
            outs.append(np.asarray(self.backend(np.ascontiguousarray(chunk)))[:n])
        return np.concatenate(outs)


def _mindir_input_shape(path: str) -> List:
    """The first graph input's shape as recorded in a MINDIR (-1/None: symbolic)."""
    from converters.mindir_proto import tensor_info
    from converters.mindir_reader import load_mind_ir_pb2

    pb = load_mind_ir_pb2()
    model = pb.ModelProto()
    try:
        with open(path, "rb") as f:
            model.ParseFromString(f.read())
        shape = tensor_info(model.graph.input[0].tensor[0])[1]
    except Exception:
        raise UserError(f"{path} is not a readable MINDIR file") from None
    return ["batch" if d is None or (isinstance(d, int) and d < 0) else int(d)
            for d in (shape or [])]


def open_candidate(path: str, provider=None) -> Candidate:
    """Load a .onnx (ONNX Runtime) or .mindir (GraphCell) file; UserError when it cannot be."""
    from .runtime import MindirBackend, OrtBackend, model_format

    if not os.path.exists(path):
        raise UserError(f"file not found: {path}")
    fmt = model_format(path)
    if fmt == "bundle":
        raise UserError(f"{path} is a bundle directory; check its .onnx file instead")
    if fmt == "onnx":
        import onnx

        try:
            model = onnx.load(path)
        except Exception as exc:
            reason = first_line(exc)
            raise UserError(f"cannot read {path} as ONNX: {reason}") from None
        dims = model.graph.input[0].type.tensor_type.shape.dim if model.graph.input else []
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "batch")
                 for d in dims]
        fixed = shape[0] if shape and isinstance(shape[0], int) and shape[0] > 0 else None
        try:
            backend = OrtBackend(path, provider=provider)
        except UserError as exc:
            if "cannot load" not in str(exc):  # e.g. an unavailable provider: usage
                raise
            # a well-formed ONNX file that ONNX Runtime refuses (invalid graph): it fails
            return Candidate(path, "onnx", detect_onnx_precision(model), shape, fixed, None,
                             model, load_error=str(exc))
        return Candidate(path, "onnx", detect_onnx_precision(model), shape, fixed, backend,
                         model)
    shape = _mindir_input_shape(path)
    backend = MindirBackend(path)
    fixed = shape[0] if shape and isinstance(shape[0], int) else None
    return Candidate(path, "mindir", "fp32", shape, fixed, backend)


def _check_shapes(cand: Candidate, built) -> None:
    expected = list(built.input_shape)
    got = cand.input_shape[1:]
    if len(cand.input_shape) != len(expected) + 1 or any(
            isinstance(g, int) and g != e for g, e in zip(got, expected)):
        raise UserError(f"{cand.path} takes inputs of shape {cand.input_shape}, model "
                        f"'{built.name}' takes [N, {', '.join(map(str, expected))}]: is it an "
                        "export of another model? (give that model's -c/--model/--ckpt_path)")


# ----------------------------------------------------------------------------- results


@dataclass
class CandidateResult:
    path: str
    format: str
    precision: str
    comparison: Optional[Comparison]
    error: Optional[str] = None          # the candidate loaded but could not run
    localisation: Optional[LocalisationResult] = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.comparison is not None and self.comparison.passed


@dataclass
class CheckResult:
    model: str
    checkpoint: Optional[str]
    inputs: dict
    results: List[CandidateResult]
    tolerances: Dict[str, dict]
    node_tolerance: dict
    versions: Dict[str, str]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def _versions() -> Dict[str, str]:
    out = {}
    for mod in ("mindspore", "onnxruntime", "onnx", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            pass
    return out


def reference_outputs(built, x: np.ndarray) -> np.ndarray:
    from .pipeline import run_network

    outs = [run_network(built.network, x[i:i + REFERENCE_CHUNK])
            for i in range(0, len(x), REFERENCE_CHUNK)]
    return np.concatenate(outs)


def run_check(built, spec, files: Sequence[str], images: Optional[str] = None,
              num_samples: Optional[int] = None, seed: int = 0, provider=None,
              atol: Optional[float] = None, min_cosine: Optional[float] = None,
              min_top1: Optional[float] = None, localize: bool = True,
              node_tolerance: NodeTolerance = NodeTolerance()) -> CheckResult:
    """Compare every file with the MindSpore network `built` on the same inputs."""
    if not files:
        raise UserError("no files to check")
    # Open every file first: usage errors (missing file, wrong model) before any slow work.
    candidates = [open_candidate(f, provider=provider) for f in files]
    for c in candidates:
        _check_shapes(c, built)
    inputs = make_inputs(built, spec, images, num_samples, seed)
    x = inputs.array
    with step(f"reference: MindSpore {built.name} on {len(x)} input(s)"):
        reference = reference_outputs(built, x)
    overrides = dict(max_abs=atol, cosine_min=min_cosine, top1_min=min_top1)
    tolerances = {}
    results = []
    probes = {}
    try:
        for cand in candidates:
            tol = tolerance_for(cand.precision, **overrides)
            tolerances[cand.precision] = asdict(tol)
            if cand.load_error:
                results.append(CandidateResult(cand.path, cand.format, cand.precision, None,
                                               error=cand.load_error))
                continue
            with step(f"run {cand.name} ({cand.format}, {cand.precision})"):
                try:
                    out = cand.run(x)
                except UserError as exc:
                    results.append(CandidateResult(cand.path, cand.format, cand.precision,
                                                   None, error=str(exc)))
                    continue
                except Exception as exc:  # the runtime refused the graph at run time
                    results.append(CandidateResult(cand.path, cand.format, cand.precision,
                                                   None, error=f"{cand.format} runtime error: "
                                                               f"{first_line(exc, limit=300)}"))
                    continue
            try:
                comp = compare_arrays(reference, out, reference_name=REFERENCE_NAME,
                                      candidate_name=cand.path, output_name="logits",
                                      tolerance=tol, precision=cand.precision)
            except ValueError as exc:  # output shape differs: another model's file
                raise UserError(f"{exc}: is {cand.path} an export of another model?") from None
            result = CandidateResult(cand.path, cand.format, cand.precision, comp)
            if not comp.passed and localize and cand.format == "onnx":
                result.localisation = _localise(built, cand, x, reference, out, probes,
                                                node_tolerance, provider)
            results.append(result)
    finally:
        for p in probes.values():
            p.close()
    return CheckResult(model=built.name, checkpoint=built.ckpt_path, inputs=inputs.description,
                       results=results, tolerances=tolerances,
                       node_tolerance={"rtol": node_tolerance.rtol, "atol": node_tolerance.atol},
                       versions=_versions())


def _localise(built, cand: Candidate, x, reference, out, probes, node_tolerance,
              provider) -> LocalisationResult:
    """First divergence of a failing ONNX file, on the sample that differs most."""
    from .divergence import MindSporeProbe, locate_first_divergence

    if cand.precision != "fp32":
        return LocalisationResult(None, "", 0, 0, note=f"{cand.precision} candidate: per-node "
                                  "localisation needs fp32 (reduced precision departs at every "
                                  "node)")
    per_sample = np.abs(reference.astype(np.float64) - out.astype(np.float64))
    per_sample = per_sample.reshape(len(x), -1).max(axis=1)
    worst = int(np.nanargmax(np.where(np.isfinite(per_sample), per_sample, np.inf)))
    batch = cand.fixed_batch or 1
    start = min(worst, len(x) - 1) if batch == 1 else (worst // batch) * batch
    sub = x[start:start + batch]
    if len(sub) < batch:
        sub = np.concatenate([sub, np.repeat(sub[-1:], batch - len(sub), axis=0)])
    key = (batch, cand.fixed_batch is None)
    with step(f"locate the first diverging node of {cand.name}"):
        try:
            if key not in probes:
                probes[key] = MindSporeProbe(built, batch_size=batch,
                                             dynamic_batch=cand.fixed_batch is None)
            loc = locate_first_divergence(cand.onnx_model, probes[key], sub,
                                          tolerance=node_tolerance, provider=provider)
        except UserError:
            raise
        except Exception as exc:  # localisation is a diagnosis: never hide the verdict
            return LocalisationResult(None, "", 0, 0, note=f"localisation failed: "
                                                             f"{first_line(exc, limit=300)}")
    loc.sample_index = start
    if loc.divergence is not None:
        say(f"     first divergence: {loc.divergence.describe()}")
    elif loc.note:
        say(f"     localisation: {loc.note}")
    return loc
