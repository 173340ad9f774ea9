"""A .mindir file run by MindSpore's GraphCell: the MINDIR backend of the runner protocol."""
import os
from typing import Optional

import numpy as np

from ...edge.errors import ModelLoadError, UserError, first_line
from ...edge.runners.base import ModelIO, Runner

__all__ = ["MindirRunner", "mindir_input_shape"]


def mindir_input_shape(path: str) -> list:
    """The first graph input's shape as recorded in a MINDIR ('batch' where symbolic)."""
    from ...converters import ConversionError, mindir_input_shapes

    try:
        shapes = mindir_input_shapes(path)
    except ConversionError as exc:
        raise UserError(str(exc)) from exc
    if not shapes:
        raise UserError(f"{path} is not a readable MINDIR file (no graph input)")
    return ["batch" if d is None else d for d in shapes[0]]


class MindirRunner(Runner):
    """A .mindir file run by MindSpore's GraphCell (CPU). A MINDIR exported with a static batch
    gets exactly that batch (padded by the shared batching policy), never per-sample calls."""

    runtime = "mindspore"
    runtime_label = "MindSpore"
    format = "mindir"

    def __init__(self, path: str, threads: Optional[int] = None, name: Optional[str] = None):
        if not os.path.isfile(path):
            raise UserError(f"model not found: {path}")
        from mindspore import nn

        from ..mindspore_import import import_mindspore

        ms = import_mindspore()

        if threads:
            try:
                ms.set_context(runtime_num_threads=int(threads))
            except Exception:  # the option moved between MindSpore releases
                pass
        shape = mindir_input_shape(path)
        try:
            self.cell = nn.GraphCell(ms.load(path))
        except Exception as exc:  # MindSpore raises RuntimeError/ValueError with C++ traces
            raise ModelLoadError(f"MindSpore cannot load {path}: {first_line(exc)}") from exc
        super().__init__(name or path, ModelIO("x", shape), ModelIO("logits", []),
                         threads=threads)
        self._ms = ms

    def infer(self, x: np.ndarray) -> np.ndarray:
        try:
            return self.cell(self._ms.Tensor(x)).asnumpy()
        except Exception as exc:
            raise UserError(f"MindSpore cannot run {self.name} on inputs of shape "
                            f"{list(x.shape)}: {first_line(exc)}") from exc

    def close(self) -> None:
        self.cell = None
