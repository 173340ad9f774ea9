"""INT8 (and fp16) recipes for bench_runtimes.py: each turns an fp32 ONNX model into a variant.

Every recipe is one explicit call of onnxruntime.quantization (or the project's own
`coat_export.host.quantize.quantize_model` for the project's current modes), so the winner can
be copied into `quantize` verbatim: `RECIPES[name].kwargs` are the exact arguments.

Static recipes share these defaults unless they say otherwise: QDQ format, U8 activations
(asymmetric), S8 weights (symmetric), MinMax calibration, no reduce_range, on the output of
onnxruntime's `quant_pre_process` (the project's int8 pipeline does the same).
"""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

__all__ = ["Recipe", "RECIPES", "build_variant", "depthwise_conv_nodes", "pre_process"]

MM = ["MatMul", "Gemm", "Conv"]


@dataclass
class Recipe:
    name: str
    kind: str                      # "fp32", "fp16", "dynamic", "static"
    what: str                      # one line, for the table legend
    kwargs: dict = field(default_factory=dict)   # quantize_static / quantize_dynamic arguments
    exclude_depthwise: bool = False  # nodes_to_exclude += the grouped (depthwise) Convs
    exclude_act_matmul: bool = False  # nodes_to_exclude += MatMuls without a constant input
    same_graph_as: Optional[str] = None  # calibration-only variants: same ops, other ranges


def _static(name, what, **kw):
    return Recipe(name, "static", what, kw)


RECIPES: Dict[str, Recipe] = {r.name: r for r in [
    Recipe("fp32", "fp32", "the exported fp32 graph"),
    Recipe("fp16", "fp16", "project quantize fp16 (onnxconverter-common, fp32 I/O)"),
    Recipe("dyn", "dynamic", "project quantize dynamic: MatMul/Gemm, per-channel S8 weights",
           dict(op_types_to_quantize=["MatMul", "Gemm"], per_channel=True,
                weight_type="QInt8")),
    Recipe("dyn_pt", "dynamic", "dynamic MatMul/Gemm, per-tensor S8 weights",
           dict(op_types_to_quantize=["MatMul", "Gemm"], per_channel=False,
                weight_type="QInt8")),
    _static("qdq_all_pt", "static QDQ, ORT's default op set (every op it can quantize: "
                          "MatMul/Gemm/Conv, Add, Mul, Softmax, LayerNorm, Transpose, ...), "
                          "per-tensor",
            per_channel=False),
    _static("qdq_all_pc", "static QDQ, default op set, per-channel (= project 'static')",
            per_channel=True),
    _static("qdq_mm_pt", "static QDQ, only MatMul/Gemm/Conv inputs, per-tensor",
            op_types_to_quantize=MM, per_channel=False),
    _static("qdq_mm_pc", "static QDQ, only MatMul/Gemm/Conv inputs, per-channel",
            op_types_to_quantize=MM, per_channel=True),
    Recipe("qdq_mm_pc_nodw", "static",
           "as qdq_mm_pc but depthwise (grouped) Convs stay fp32",
           dict(op_types_to_quantize=MM, per_channel=True), exclude_depthwise=True),
    # (extra_options MatMulConstBOnly does nothing in QDQ format in onnxruntime 1.32: only
    # the QOperator/dynamic MatMul quantizer reads it; so the act x act MatMuls are excluded)
    Recipe("qdq_wmm_pc", "static", "static QDQ, MatMul/Gemm/Conv with constant weights only "
                                   "(attention act x act MatMuls stay fp32), per-channel",
           dict(op_types_to_quantize=MM, per_channel=True), exclude_act_matmul=True),
    _static("qdq_ext_pc", "static QDQ, MatMul/Gemm/Conv + Add/Mul/Softmax/Transpose/Reshape, "
                          "per-channel",
            op_types_to_quantize=MM + ["Add", "Mul", "Softmax", "Transpose", "Reshape"],
            per_channel=True),
    _static("qdq_ext2_pc", "as qdq_ext_pc without Mul (keeps ORT's Gelu fusion): "
                           "MatMul/Gemm/Conv + Add/Softmax/Transpose/Reshape, per-channel",
            op_types_to_quantize=MM + ["Add", "Softmax", "Transpose", "Reshape"],
            per_channel=True),
    _static("qdq_ext2_pt", "qdq_ext2_pc with per-tensor weights",
            op_types_to_quantize=MM + ["Add", "Softmax", "Transpose", "Reshape"],
            per_channel=False),
    _static("qdq_s8_ext2_pc", "qdq_ext2_pc with S8 symmetric activations",
            op_types_to_quantize=MM + ["Add", "Softmax", "Transpose", "Reshape"],
            per_channel=True, activation_type="QInt8",
            extra_options={"ActivationSymmetric": True}),
    _static("qdq_s8_pc", "static QDQ MatMul/Gemm/Conv, S8 symmetric activations, per-channel",
            op_types_to_quantize=MM, per_channel=True, activation_type="QInt8",
            extra_options={"ActivationSymmetric": True}),
    _static("qdq_ov_pc", "OpenVINO-style QDQ: MatMul/Gemm/Conv inputs only, per-channel, "
                         "fp32 bias (QuantizeBias off), dedicated QDQ pairs",
            op_types_to_quantize=MM, per_channel=True,
            extra_options={"QuantizeBias": False, "DedicatedQDQPair": True}),
    _static("qdq_mm_pc_rr", "qdq_mm_pc with reduce_range (7-bit weights)",
            op_types_to_quantize=MM, per_channel=True, reduce_range=True),
    # NNCF (OpenVINO's own quantizer; its ONNX backend writes QDQ ONNX): the reference for
    # what OpenVINO-friendly QDQ placement looks like. Needs nncf importable (--nncf_path).
    Recipe("nncf_tr", "nncf", "NNCF quantize, model_type=TRANSFORMER (preset MIXED: "
                               "S8 sym weights per-channel, asym activations)",
           dict(model_type="TRANSFORMER")),
    Recipe("nncf_perf", "nncf", "NNCF quantize, default CNN scheme (preset PERFORMANCE, "
                                "symmetric activations)", dict()),
]}

# calibration-only variants (same graph as their base, other ranges): accuracy, not latency
for _base, _method in (("qdq_mm_pc", "Percentile"), ("qdq_mm_pc", "Entropy"),
                       ("qdq_all_pc", "Percentile")):
    _r = RECIPES[_base]
    _n = f"{_base}_{_method[:4].lower()}"
    RECIPES[_n] = Recipe(_n, "static", f"{_base} with {_method} calibration",
                         dict(_r.kwargs, calibrate_method=_method), _r.exclude_depthwise,
                         _r.exclude_act_matmul, same_graph_as=_base)


def depthwise_conv_nodes(path: str) -> List[str]:
    """Names of Conv nodes with group > 1 (depthwise / grouped)."""
    import onnx

    m = onnx.load(path, load_external_data=False)
    out = []
    for n in m.graph.node:
        if n.op_type == "Conv":
            g = next((a.i for a in n.attribute if a.name == "group"), 1)
            if g > 1:
                out.append(n.name)
    return out


def activation_matmul_nodes(path: str) -> List[str]:
    """Names of MatMul nodes neither of whose inputs is an initializer (act x act)."""
    import onnx

    m = onnx.load(path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return [n.name for n in m.graph.node
            if n.op_type == "MatMul" and not any(i in inits for i in n.input)]


def pre_process(src: str, dst: str) -> str:
    """onnxruntime's quant_pre_process, as coat_export.host.quantize does (cached)."""
    if os.path.isfile(dst):
        return dst
    from coat_export.host.quantize import _pre_process

    notes: List[str] = []
    out = _pre_process(src, dst + ".tmp", notes)
    if out == src:
        raise RuntimeError(f"quant_pre_process failed on {src}: {notes}")
    os.replace(dst + ".tmp", dst)
    return dst


class _Reader:
    def __init__(self, name: str, data: np.ndarray, batch: int):
        from coat_export.host.quantize import ImageCalibrationReader

        self._r = ImageCalibrationReader(name, data, batch=batch)

    def get_next(self):
        return self._r.get_next()

    def rewind(self):
        self._r.rewind()


def build_variant(recipe: Recipe, fp32: str, pre: str, out: str, calib: np.ndarray,
                  input_name: str, calib_batch: int = 1) -> str:
    """Write recipe's variant of fp32 (pre: its quant_pre_process output) to out."""
    if recipe.kind == "fp32":
        return fp32
    tmp = out + ".tmp.onnx"
    if recipe.kind == "fp16":
        from coat_export.host.quantize import QuantizeOptions, quantize_model

        quantize_model(fp32, tmp, QuantizeOptions("fp16", check=False))
    elif recipe.kind == "dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        kw = dict(recipe.kwargs)
        kw["weight_type"] = getattr(QuantType, kw.get("weight_type", "QInt8"))
        quantize_dynamic(pre, tmp, **kw)
    elif recipe.kind == "nncf":
        import nncf
        import onnx

        model = onnx.load(pre)
        kw = dict(recipe.kwargs)
        if "model_type" in kw:
            kw["model_type"] = getattr(nncf.ModelType, kw["model_type"])
        ds = nncf.Dataset([{input_name: calib[i:i + calib_batch]}
                           for i in range(0, len(calib), calib_batch)])
        q = nncf.quantize(model, ds, subset_size=len(calib), **kw)
        onnx.save(q, tmp)
    else:
        from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)

        kw = dict(recipe.kwargs)
        kw["activation_type"] = getattr(QuantType, kw.get("activation_type", "QUInt8"))
        kw["weight_type"] = getattr(QuantType, kw.get("weight_type", "QInt8"))
        kw["calibrate_method"] = getattr(CalibrationMethod, kw.get("calibrate_method", "MinMax"))
        # (not CalibMaxIntermediateOutputs: onnxruntime 1.32's MinMax calibrator drops the
        # flushed outputs instead of merging them -> "No data is collected.")
        extra = {"ActivationSymmetric": False, "WeightSymmetric": True}
        extra.update(kw.pop("extra_options", {}))
        exclude = []
        if recipe.exclude_depthwise:
            exclude += depthwise_conv_nodes(pre)
        if recipe.exclude_act_matmul:
            exclude += activation_matmul_nodes(pre)
        if exclude:
            kw["nodes_to_exclude"] = exclude
        quantize_static(pre, tmp, _Reader(input_name, calib, calib_batch),
                        quant_format=QuantFormat.QDQ, extra_options=extra, **kw)
    os.replace(tmp, out)
    for leftover in ("augmented_model.onnx",):
        if os.path.exists(leftover):
            os.remove(leftover)
    return out
