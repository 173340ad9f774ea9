"""Argument types and flags shared by the subcommands (light: no heavy imports)."""
import importlib.util

from ..edge.cli_support import (add_runtime_arguments, non_negative_float,  # noqa: F401
                                non_negative_int, positive_int)

HOST_INSTALL = 'pip install "coat-export[export]"'


def add_ema_argument(p) -> None:
    """--ema / --no-ema: which of a MindCV checkpoint's weights are the network."""
    import argparse

    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                   help="the checkpoint's EMA weights (ema.*) are the network, as MindCV's "
                        "validate.py loads them with ema: True (default: the yaml's ema:, "
                        "else the raw weights); --no-ema forces the raw ones")


def require_host(command: str, *modules: str) -> None:
    """One line naming the install when a host-side library is missing."""
    from ..edge.errors import UserError

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"{command} needs the host toolchain ({', '.join(missing)} not "
                        f"installed): {HOST_INSTALL}")
