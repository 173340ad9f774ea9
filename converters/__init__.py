"""General MindSpore MINDIR -> ONNX converter.

    converters.convert("net.mindir", "net.onnx", opset=17, dynamic_batch=False)
    converters.convert_to_model("net.mindir")            # -> onnx.ModelProto
    converters.convert_detailed("net.mindir")            # model + IR graph + provenance
    converters.expose_nodes(mindir_bytes, ["CNode_174"]) # MINDIR copy returning inner values
    converters.mindir_input_shapes("net.mindir")         # [[None, 3, 224, 224]]
    converters.dependency_order(reads, writes)           # topological order of any node list

`expose_nodes` rewrites a MINDIR so that chosen nodes become graph outputs (MindSpore itself
then computes them: see `mindir_expose`); it is how a converted graph's intermediate tensors
are checked against MindSpore's own values.

A MINDIR exported with symbolic axes (`Tensor(shape=[None, 3, None, None])`) converts with
them symbolic; `dynamic_axes={}` (or `{"x": {3: "time"}}`) names them (`converters.dynamic_axes`).

CLI: ``python -m converters IN.mindir OUT.onnx [--opset N] [--dynamic_batch]
[--dynamic_axes [[INPUT:]AXIS=NAME,...]] [--check_sizes NAME=SIZE[,SIZE]]``.
"""
from .api import (DEFAULT_OPSET, Conversion, ConversionResult, Provenance, check_opset,
                  convert, convert_detailed, convert_to_model)
from .errors import ConversionError, UnsupportedOpsError
from .handlers.registry import MAX_OPSET, MIN_OPSET, supported_ops
from .mindir_expose import ExposedMindir, expose_nodes
from .ir import dependency_order
from .mindir_reader import mindir_input_shapes, read_mindir
from .onnx_writer import PROVENANCE_KEY, load_provenance

__all__ = ["convert", "convert_to_model", "convert_detailed", "ConversionError",
           "UnsupportedOpsError", "ConversionResult", "Conversion", "Provenance",
           "read_mindir", "supported_ops", "load_provenance", "check_opset", "DEFAULT_OPSET",
           "MIN_OPSET", "MAX_OPSET", "PROVENANCE_KEY", "expose_nodes", "ExposedMindir",
           "mindir_input_shapes", "dependency_order"]
