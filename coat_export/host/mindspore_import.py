"""MindSpore imported once, the same way, by every host module that needs it."""
from ..edge.errors import UserError
from ..edge.interrupts import exit_at_once_on_interrupt

__all__ = ["import_mindspore"]


def import_mindspore():
    """MindSpore in graph mode (what export traces), or one line naming the install."""
    try:
        with exit_at_once_on_interrupt():  # an interrupted MindSpore import can crash
            import mindspore as ms
    except ImportError as exc:
        raise UserError('this command needs MindSpore (the host toolchain): '
                        'pip install "coat-export[export]"') from exc
    if ms.get_context("mode") != ms.GRAPH_MODE:
        ms.set_context(mode=ms.GRAPH_MODE)
    return ms
