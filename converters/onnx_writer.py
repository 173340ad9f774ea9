"""Serialise an `OnnxGraph` to an onnx.ModelProto and write it atomically."""
import json
import os
from typing import Dict, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

from coat_export.edge.atomic import atomic_model_path

from .dynamic_axes import BATCH
from .errors import ConversionError
from .onnx_graph import OnnxGraph

PRODUCER = "coat-export converters"
PRODUCER_VERSION = "1.0"
PROVENANCE_KEY = "mindspore_provenance"
EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 2 ** 24  # protobuf's 2 GiB limit, with headroom


def _elem_type(dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _attr(key, value):
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return helper.make_attribute(key, _elem_type(value))
    if isinstance(value, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(value, key))
    if isinstance(value, (list, tuple)):
        value = [int(v) if isinstance(v, (bool, np.integer)) else
                 (float(v) if isinstance(v, np.floating) else v) for v in value]
    elif isinstance(value, (bool, np.integer)):
        value = int(value)
    elif isinstance(value, np.floating):
        value = float(value)
    return helper.make_attribute(key, value)


def _value_info(name, info, axis_names: Dict[int, str]):
    dtype = info.dtype if info is not None else None
    if dtype is None:
        raise ConversionError(f"graph input/output '{name}' has an unknown data type")
    shape = None
    if info.shape is not None:
        shape = []
        for i, d in enumerate(info.shape):
            if d is None:
                shape.append(axis_names.get(i) or (BATCH if i == 0 else f"{name}_dim{i}"))
            else:
                shape.append(d)
    return helper.make_tensor_value_info(name, _elem_type(dtype), shape)


def min_ir_version(opset: int) -> int:
    """The oldest IR version that carries `opset`, so older runtimes can still load the model."""
    for _release, ir_version, ai_onnx_opset, *_ in helper.VERSION_TABLE:
        if ai_onnx_opset >= opset:
            return ir_version
    return onnx.IR_VERSION


def provenance_of(og: OnnxGraph) -> dict:
    """ONNX tensor name -> the MINDIR node output it equals (name, scope, op type, index)."""
    out = {}
    for tensor, (node_name, index) in sorted(og.tensor_origin.items()):
        node = og.ir_nodes.get(node_name)
        out[tensor] = {"node": node_name, "output": index,
                       "op": node.op_type if node else "", "scope": node.scope if node else ""}
    return out


def build_model(og: OnnxGraph, opset: int,
                axis_names: Optional[Dict[str, Dict[int, str]]] = None) -> onnx.ModelProto:
    """The ModelProto of `og`; `axis_names` ({input: {axis: name}}) names the inputs' symbolic
    axes (default: `batch` for axis 0, `<tensor>_dim<i>` for the others)."""
    axis_names = axis_names or {}
    nodes = []
    for n in og.nodes:
        try:
            attrs = [_attr(k, v) for k, v in sorted(n.attrs.items())]
            proto = helper.make_node(n.op_type, n.inputs, n.outputs, name=n.name, domain=n.domain)
            proto.attribute.extend(attrs)
        except Exception as exc:  # an attribute value ONNX cannot hold: name the node
            where = "; ".join(f"{o.op_type} '{o.name}'" for o in n.origin) or n.name
            raise ConversionError(f"cannot serialise ONNX {n.op_type} node for {where} "
                                  f"({type(exc).__name__}: {str(exc)[:160]})") from exc
        if n.origin:
            proto.doc_string = "; ".join(
                f"MindSpore {o.op_type} '{o.scope or o.name}' (MINDIR node {o.name})"
                for o in n.origin)
        nodes.append(proto)
    initializers = []
    for name, a in og.initializers.items():
        try:
            initializers.append(numpy_helper.from_array(np.asarray(a), name))
        except Exception as exc:
            raise ConversionError(f"cannot serialise initializer '{name}' "
                                  f"({type(exc).__name__}: {str(exc)[:160]})") from exc
    inputs = [_value_info(n, og.info.get(n), axis_names.get(n, {})) for n in og.inputs]
    outputs = [_value_info(n, og.info.get(n), {}) for n in og.outputs]
    graph = helper.make_graph(nodes, og.name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name=PRODUCER, producer_version=PRODUCER_VERSION)
    model.ir_version = min_ir_version(opset)
    helper.set_model_props(model, {PROVENANCE_KEY: json.dumps(provenance_of(og),
                                                              sort_keys=True)})
    return model


def write_model(model: onnx.ModelProto, path: str, verify=None, make_dirs: bool = False) -> str:
    """Write `path` (and `<path>.data`, the external data of a model over protobuf's 2 GiB)
    atomically: never a half-written file, and after SIGKILL the next run removes the
    temporaries (`.coat-partial.<pid>.*`, edge.atomic's convention).

    `verify(tmp_path)` (if given) checks the written file before it is moved into place; it
    raises ConversionError to leave nothing behind. Files get the permissions a normal
    `open()` would give them. `make_dirs` creates the output directory.
    """
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    if make_dirs and not os.path.isdir(directory):
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise ConversionError(f"cannot create output directory {directory}: "
                                  f"{exc.strerror or exc}") from exc
    if not os.path.isdir(directory):
        raise ConversionError(f"output directory does not exist: {directory}")
    if not os.access(directory, os.W_OK):
        raise ConversionError(f"output directory is not writable: {directory}")
    if os.path.isdir(path):
        raise ConversionError(f"output path is a directory: {path}")
    big = sum(len(t.raw_data) for t in model.graph.initializer) > EXTERNAL_DATA_THRESHOLD
    try:
        # the model and its external data are written under their final names in a private
        # directory beside `path`, verified there, then moved into place (data first)
        with atomic_model_path(path) as tmp:
            if big:
                onnx.save_model(model, tmp, save_as_external_data=True,
                                all_tensors_to_one_file=True,
                                location=os.path.basename(path) + ".data", size_threshold=1024)
            else:
                with open(tmp, "wb") as f:
                    f.write(model.SerializeToString())
            if verify is not None:
                verify(tmp)
    except OSError as exc:
        raise ConversionError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def load_provenance(model: onnx.ModelProto) -> Optional[dict]:
    for prop in model.metadata_props:
        if prop.key == PROVENANCE_KEY:
            return json.loads(prop.value)
    return None
