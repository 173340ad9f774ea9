"""Reduced-precision variants of an fp32 ONNX model, each checked against the fp32 model.

Modes:
* fp16     weights and compute in float16 (onnxconverter-common's converter), float32 inputs
           and outputs (keep_io_types=True), so callers feed the same arrays.
* dynamic  int8 weights, activations quantized at run time (onnxruntime.quantization
           .quantize_dynamic; MatMul/Gemm, per-channel weights). No calibration data.
* static   int8 weights and activations, QDQ format, per-channel weights, U8 activations /
           S8 weights (the VNNI fast path), ranges calibrated (MinMax by default; percentile or
           entropy on request) on preprocessed images
           from a calibration directory.

int8 modes first run onnxruntime's `quant_pre_process` (shape inference and graph
optimization), as its documentation recommends.

Every result is compared with the fp32 model on the same inputs (the calibration images when
given, else seeded random inputs) by edge.compare with the agreement gates of its
precision (tolerance_for('fp16') / tolerance_for('int8')). A failing result is not written
(VerificationError, exit 1), unless the check is switched off.
"""
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from ..edge.atomic import (atomic_path, check_writable_file, libraries_temp_in, output_lock,
                           scratch_dir)
from ..edge.bundle import CALIBRATION_METHODS, VARIANT_KEYS
from ..edge.compare import (AGREEMENT_SAMPLES, Comparison, Tolerance, compare_arrays,
                            tolerance_for)
from ..edge.cpu import cpu_info, cpu_line
from ..edge.errors import UserError, VerificationError, first_line
from ..edge.check_inputs import seeded_input
from ..edge.preprocess import PreprocessConfig, list_images, preprocess_batch
from ..edge.runtimes import open_onnx_runner
from ..edge.sources import OnnxModel

__all__ = ["MODES", "QuantizeOptions", "QuantizeResult", "quantize_model", "ImageCalibrationReader",
           "calibration_images"]

MODES = tuple(VARIANT_KEYS)   # a bundle holds one variant per mode


@dataclass
class QuantizeResult:
    mode: str
    method: str                    # what was done, in words
    input_path: str
    output_path: Optional[str]     # None when the check failed (nothing written)
    seconds: float                 # conversion time (without the check)
    input_bytes: int
    output_bytes: int = 0
    check: Optional[Comparison] = None
    check_inputs: str = ""         # "N calibration images" / "N random inputs"
    notes: List[str] = field(default_factory=list)
    forced: bool = False           # written although the gates failed (--force)
    # where the gates were judged: {"runtime", "cpu", "isa", "vnni"} (coat_export.edge.cpu);
    # INT8 agreement is a property of the instruction set as much as of the model
    validated_on: Optional[dict] = None

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("mode", "method", "input_path", "output_path",
                                           "seconds", "input_bytes", "output_bytes",
                                           "check_inputs", "notes", "forced",
                                           "validated_on")}
        d["check"] = self.check.to_dict() if self.check else None
        return d


def calibration_images(calib_dir: str, limit: Optional[int] = None) -> List[str]:
    """Image files under calib_dir (recursive, sorted); UserError if there are none."""
    if not os.path.isdir(calib_dir):
        raise UserError(f"calibration directory not found: {calib_dir}")
    paths = list_images(calib_dir, recursive=True)
    if not paths:
        raise UserError(f"no images found in calibration directory {calib_dir}")
    if limit and len(paths) > limit:
        # an even spread over the sorted list, so every class folder is represented
        idx = np.linspace(0, len(paths) - 1, limit).round().astype(int)
        paths = [paths[i] for i in sorted(set(idx.tolist()))]
    return paths


def _load_calibration(paths, preprocess: PreprocessConfig) -> np.ndarray:
    batch, kept, errors = preprocess_batch(paths, preprocess, skip_errors=True)
    if not kept:
        raise UserError(f"none of the {len(paths)} calibration images could be decoded")
    return batch


class ImageCalibrationReader:
    """onnxruntime CalibrationDataReader over preprocessed images, `batch` at a time."""

    def __init__(self, input_name: str, data: np.ndarray, batch: int = 1,
                 fixed_batch: bool = False):
        self.input_name, self.data, self.batch = input_name, data, max(1, batch)
        self.fixed_batch = fixed_batch
        self._pos = 0

    def get_next(self):
        if self._pos >= len(self.data):
            return None
        chunk = self.data[self._pos:self._pos + self.batch]
        self._pos += self.batch
        if self.fixed_batch and len(chunk) < self.batch:
            return None  # a fixed-batch graph cannot take a short batch
        return {self.input_name: np.ascontiguousarray(chunk, dtype=np.float32)}

    def rewind(self):
        self._pos = 0

    def __len__(self):
        return -(-len(self.data) // self.batch)


def _graph_input(path: str):
    """The model's input, read by ONNX Runtime -- after the file and its external data were
    checked as every command checks a bare .onnx (resolve_onnx): a FIFO or a path outside
    the model's folder never reaches a runtime or onnx.load."""
    from ..edge.sources import resolve_onnx

    if os.path.isdir(path):
        raise UserError(f"{path} is a directory; quantize takes an .onnx file")
    return open_onnx_runner(resolve_onnx(path), threads=1).input


def _image_size(inp, preprocess: Optional[PreprocessConfig]) -> PreprocessConfig:
    size = inp.image_size
    if preprocess is None:
        return PreprocessConfig(image_size=size or 224)
    if size and size != preprocess.image_size:
        raise UserError(f"preprocessing image_size {preprocess.image_size} does not match the "
                        f"model input {inp.shape}")
    return preprocess


def _pre_process(src: str, dst: str, notes: List[str]) -> str:
    """quant_pre_process (symbolic shape inference + ORT optimization); fall back to src."""
    import importlib.util

    from onnxruntime.quantization.shape_inference import quant_pre_process

    # onnxruntime's symbolic shape inference needs sympy; ONNX's own shape inference does not.
    symbolic = importlib.util.find_spec("sympy") is not None
    try:
        quant_pre_process(src, dst, skip_symbolic_shape=not symbolic)
        return dst
    except Exception as exc:  # symbolic shape inference fails on some graphs
        reason = first_line(exc, limit=160)
        try:
            quant_pre_process(src, dst, skip_symbolic_shape=True)
            notes.append(f"symbolic shape inference skipped ({reason})")
            return dst
        except Exception:
            notes.append(f"quant_pre_process skipped ({reason})")
            return src


def _stage_input(src: str, work: str) -> str:
    """A private copy of the input inside the scratch directory. onnxruntime's tools write
    beside the model they are given (`<name>-inferred.onnx`, then removed: a user's file of
    that name would be lost), so they are only ever given this copy. External data is
    gathered into the copy's own folder."""
    import onnx

    staged = os.path.join(work, "input.onnx")
    model = onnx.load(src, load_external_data=False)
    external = any(t.data_location == onnx.TensorProto.EXTERNAL
                   for t in model.graph.initializer)
    if not external:
        shutil.copyfile(src, staged)
        return staged
    model = onnx.load(src)          # the weights, from the files the model names
    big = model.ByteSize() > (1 << 31) - (1 << 20)
    onnx.save(model, staged, save_as_external_data=big, all_tensors_to_one_file=True,
              location="input.onnx.data")
    return staged


def _fp16(src: str, dst: str) -> str:
    import onnx
    try:
        from onnxconverter_common import float16
    except ImportError as exc:
        raise UserError("fp16 needs the onnxconverter-common package: "
                        "pip install onnxconverter-common==1.16.0") from exc
    import warnings

    model = onnx.load(src)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "values truncated to fp16 range" notices
        m16 = float16.convert_float_to_float16(model, keep_io_types=True)
    onnx.save(m16, dst)
    return "float16 weights and compute (onnxconverter-common), float32 inputs/outputs"


# ONNX Runtime multiplies U8 activations by S8 weights. Without VNNI (x86 with AVX2 only:
# most servers and edge boxes) its kernels add pairs of 8-bit products in 16 bits, which
# saturate; 7-bit weights (reduce_range) cannot. A bundle made on a VNNI host runs on boxes
# without it, so the choice is made for every host, by measurement (bench/bench_int8_isa.py,
# bench/results/int8_isa_avx2.txt; digits model against fp32, 64 seeded inputs, AVX2 host):
# dynamic, per-channel: ONNX Runtime max |diff| 1.19 -> 0.36, top-1 agreement 0.95 -> 0.98.
DYNAMIC_RECIPE = {"per_channel": True, "reduce_range": True}


def _weight_bits(reduce_range: bool) -> str:
    return "S8 in 7 bits (reduce_range)" if reduce_range else "S8"


def _dynamic(src: str, dst: str, per_channel: Optional[bool],
             reduce_range: Optional[bool]) -> str:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if per_channel is None:
        per_channel = DYNAMIC_RECIPE["per_channel"]
    if reduce_range is None:
        reduce_range = DYNAMIC_RECIPE["reduce_range"]
    quantize_dynamic(src, dst, op_types_to_quantize=["MatMul", "Gemm"], per_channel=per_channel,
                     reduce_range=reduce_range, weight_type=QuantType.QInt8)
    return (f"int8 dynamic: MatMul/Gemm weights {_weight_bits(reduce_range)} "
            f"({'per-channel' if per_channel else 'per-tensor'}), "
            "activations quantized at run time")


# Static INT8 recipes by the runtime the model is for, chosen by bench/bench_runtimes.py
# (bench/RUNTIMES.md; coat_lite_tiny / coat_tiny, 2 cores, medians vs the best fp32):
# * onnxruntime: every op QDQ, U8 asymmetric activations, per-tensor S8 weights -- 0.60-0.83x
#   (per-channel weights: 0.80-0.94x; OpenVINO runs this recipe at 1.4-2.2x);
# * openvino: only MatMul/Gemm/Conv, S8 symmetric activations, per-channel weights -- the
#   fastest INT8 in OpenVINO, 0.61-0.63x at batch 8 (about 1.0x in ONNX Runtime).
# 7-bit weights by measurement as for DYNAMIC_RECIPE: the openvino recipe (S8 activations)
# gains in both runtimes (random inputs, top-1 agreement: OpenVINO 0.89 -> 0.92, ONNX
# Runtime 0.83 -> 0.94); the onnxruntime one (per-tensor, every op) does not (0.91 -> 0.89,
# one held-out image more wrong), so it keeps 8 bits.
STATIC_RECIPES = {
    "onnxruntime": {"op_types": None, "activations": "U8 asymmetric", "per_channel": False,
                    "reduce_range": False},
    "openvino": {"op_types": ["MatMul", "Gemm", "Conv"], "activations": "S8 symmetric",
                 "per_channel": True, "reduce_range": True},
}


def _static(src: str, dst: str, reader, runtime: str, per_channel: Optional[bool],
            calibrate: str = "minmax", reduce_range: Optional[bool] = None) -> str:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    recipe = STATIC_RECIPES[runtime]
    if per_channel is None:
        per_channel = recipe["per_channel"]
    if reduce_range is None:
        reduce_range = recipe["reduce_range"]
    symmetric = recipe["activations"].startswith("S8")
    method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
              "entropy": CalibrationMethod.Entropy}[calibrate]
    quantize_static(src, dst, reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    reduce_range=reduce_range, op_types_to_quantize=recipe["op_types"],
                    activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=method,
                    extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True})
    ops = "/".join(recipe["op_types"]) if recipe["op_types"] else "all ops"
    return (f"int8 static QDQ for {runtime}: {ops}, {recipe['activations']} activations "
            f"({calibrate} calibration), {_weight_bits(reduce_range)} weights "
            f"({'per-channel' if per_channel else 'per-tensor'})")


def _check_inputs(inp, preprocess, calib: Optional[np.ndarray], samples: int, seed: int):
    """The calibration images (up to `samples`), topped up with seeded random inputs to
    `samples`: agreement gates on a handful of inputs move by whole points per sample."""
    s = preprocess.image_size
    parts, what = [], []
    if calib is not None and len(calib):
        parts.append(calib[:samples])
        what.append(f"{len(parts[0])} calibration images")
    short = samples - sum(len(p) for p in parts)
    if short > 0:
        parts.append(seeded_input((short, 3, s, s), seed))
        what.append(f"{short} seeded random inputs")
    return np.concatenate(parts).astype(np.float32), " + ".join(what)


@dataclass(frozen=True)
class QuantizeOptions:
    """What variant to make and how it is judged (see quantize_model).

    mode: 'fp16', 'dynamic' or 'static' (int8).
    calib_dir: images (any layout, searched recursively) for static calibration; also used as
        check inputs in every mode when given. Required for 'static'.
    preprocess: the model's preprocessing (default: MindCV's at the graph's input size).
    calibrate: static calibration method, 'minmax' (default), 'percentile' or 'entropy'.
    runtime: the runtime the variant is for ('onnxruntime' or 'openvino'): picks the static
        recipe (STATIC_RECIPES) and runs the gate check there.
    per_channel: weights per channel or per tensor (None: the recipe's choice; per-channel
        for dynamic).
    reduce_range: 7-bit weights (None: the recipe's choice, DYNAMIC_RECIPE / STATIC_RECIPES).
    check: compare with the fp32 model (tolerance: default tolerance_for(fp16/int8)).
        On failure nothing is written and VerificationError is raised -- unless `force`,
        which writes the model anyway and records the failed gates (result.forced).
    check_samples, seed: the check's seeded inputs (beside calib_dir's images).
    tolerance: the gates (None: tolerance_for(fp16/int8)).
    """

    mode: str
    calib_dir: Optional[str] = None
    preprocess: Optional[PreprocessConfig] = None
    check: bool = True
    per_channel: Optional[bool] = None
    calib_limit: int = 128
    check_samples: int = AGREEMENT_SAMPLES
    runtime: str = "onnxruntime"
    seed: int = 0
    tolerance: Optional[Tolerance] = None
    calibrate: str = "minmax"
    force: bool = False
    reduce_range: Optional[bool] = None


def quantize_model(input_path: str, output_path: str, options: QuantizeOptions) -> QuantizeResult:
    """Write the `options.mode` variant of the fp32 ONNX model at input_path to output_path.
    Returns a QuantizeResult with the timing, sizes and the comparison."""
    o = options
    mode, calib_dir, preprocess, check = o.mode, o.calib_dir, o.preprocess, o.check
    per_channel, calib_limit, check_samples = o.per_channel, o.calib_limit, o.check_samples
    runtime, seed, tolerance, calibrate = o.runtime, o.seed, o.tolerance, o.calibrate
    force, reduce_range = o.force, o.reduce_range
    if mode not in MODES:
        raise UserError(f"unknown mode '{mode}'; choose from {', '.join(MODES)}")
    if not os.path.isfile(input_path):
        raise UserError(f"model not found: {input_path}")
    if mode == "static" and not calib_dir:
        raise UserError("static quantization needs calibration images: pass --calib_dir DIR")
    if runtime not in STATIC_RECIPES:
        raise UserError(f"unknown runtime '{runtime}'; choose from {', '.join(STATIC_RECIPES)}")
    if calibrate not in CALIBRATION_METHODS:
        raise UserError(f"unknown calibration method '{calibrate}'; choose from "
                        f"{', '.join(CALIBRATION_METHODS)}")
    check_writable_file(output_path, "output")
    if os.path.abspath(output_path) == os.path.abspath(input_path):
        raise UserError("output path must differ from the input model")

    inp = _graph_input(input_path)
    preprocess = _image_size(inp, preprocess)
    calib = None
    if calib_dir:
        calib = _load_calibration(calibration_images(calib_dir, calib_limit), preprocess)

    notes: List[str] = []
    if mode == "dynamic" and runtime == "openvino":
        notes.append("dynamic INT8 runs 1.3-3x slower than fp32 in OpenVINO "
                     "(bench/RUNTIMES.md): for OpenVINO use --mode static")
    with output_lock(output_path), scratch_dir("quantize") as work:
        tmp_out = os.path.join(work, "out.onnx")
        t0 = time.perf_counter()
        try:
            with libraries_temp_in(work):
                staged = _stage_input(input_path, work)
                if mode == "fp16":
                    method = _fp16(staged, tmp_out)
                else:
                    src = _pre_process(staged, os.path.join(work, "pre.onnx"), notes)
                    if mode == "dynamic":
                        method = _dynamic(src, tmp_out, per_channel, reduce_range)
                    else:
                        fixed = inp.fixed_batch
                        if fixed and len(calib) < fixed:
                            raise UserError(f"the model's batch size is fixed at {fixed}; give at "
                                            f"least {fixed} calibration images")
                        reader = ImageCalibrationReader(inp.name, calib, batch=fixed or 8,
                                                        fixed_batch=bool(fixed))
                        method = _static(src, tmp_out, reader, runtime, per_channel, calibrate,
                                         reduce_range)
                        method += f", {len(calib)} calibration images"
        except UserError:
            raise
        except Exception as exc:  # onnxruntime.quantization / converter internals
            reason = first_line(exc)
            raise UserError(f"{mode} conversion of {input_path} failed: {reason}") from exc
        seconds = time.perf_counter() - t0
        result = QuantizeResult(mode=mode, method=method, input_path=input_path,
                                output_path=None, seconds=seconds,
                                input_bytes=os.path.getsize(input_path),
                                output_bytes=os.path.getsize(tmp_out), notes=notes)
        if check:
            data, result.check_inputs = _check_inputs(inp, preprocess, calib, check_samples, seed)
            precision = "fp16" if mode == "fp16" else "int8"
            # the shared batching policy pads a fixed-batch graph's last chunk
            # judged in the runtime the variant is for
            ref = open_onnx_runner(OnnxModel(input_path, input_path, "fp32"),
                                   runtime)(data, max_batch=16)
            cand = open_onnx_runner(OnnxModel(tmp_out, tmp_out, "fp32"),
                                    runtime)(data, max_batch=16)
            result.check = compare_arrays(ref, cand, reference_name="fp32",
                                          candidate_name=f"{mode}",
                                          tolerance=tolerance or tolerance_for(precision),
                                          precision=precision)
            info = cpu_info()
            result.validated_on = {"runtime": runtime, "cpu": cpu_line(), "isa": info["isa"],
                                   "vnni": info["vnni"]}
            if not result.check.passed:
                failed = (f"{mode} model fails the {precision} agreement gates against fp32 on "
                          f"{result.check_inputs}: {'; '.join(result.check.failures)}")
                if not force:
                    err = VerificationError(f"{failed}; not written (--force writes it anyway)")
                    err.result = result
                    raise err
                result.forced = True
                notes.append(f"written with --force although the {mode} model fails the "
                             "gates (for latency studies; do not deploy it)")
        with atomic_path(output_path) as final_tmp:
            shutil.copyfile(tmp_out, final_tmp)
        result.output_path = output_path
        return result
