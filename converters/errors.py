"""The one exception type the converter raises for anything the user can act on."""
from typing import Dict, Optional, Tuple


class ConversionError(Exception):
    """A MINDIR file that cannot be converted: unreadable, unsupported, or not provable."""


class UnsupportedOpsError(ConversionError):
    """Every primitive without a handler, reported together so a user sees the whole list."""

    def __init__(self, unsupported: Dict[str, Tuple[int, str]], opset: int,
                 reasons: Optional[Dict[str, str]] = None):
        self.unsupported = dict(sorted(unsupported.items()))
        self.opset = opset
        self.reasons = {k: v for k, v in (reasons or {}).items() if k in self.unsupported}
        parts = [f"{op} (x{count}, e.g. {example})" +
                 (f" [{self.reasons[op]}]" if op in self.reasons else "")
                 for op, (count, example) in self.unsupported.items()]
        super().__init__(f"{len(self.unsupported)} unsupported MindSpore operator(s) at opset "
                         f"{opset}: " + "; ".join(parts))
