"""Argument groups shared by the subcommands, each with the options object it fills (light:
no heavy imports). A flag means the same in every command that takes it."""
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


def add_model_source_arguments(p, config_help: str, model_help: str, ckpt_help: str) -> None:
    """-c/--config, --model, --ckpt_path, --ema: the MindSpore network (see model_spec)."""
    p.add_argument("-c", "--config", help=config_help)
    p.add_argument("--model", help=model_help)
    p.add_argument("--ckpt_path", help=ckpt_help)
    add_ema_argument(p)


def names_network(args) -> bool:
    """Whether the model source group names a MindSpore network."""
    return bool(args.config or args.model or args.ckpt_path)


def model_spec(args):
    """The ModelSpec the model source group names, checked (unknown model, bad architecture)
    before any slow work."""
    from ..host.config import build_config, resolve_spec

    spec = resolve_spec(args.config, args.model, args.ckpt_path, ema=args.ema)
    build_config(spec)
    return spec


def add_gate_arguments(p) -> None:
    """--atol, --rtol, --min_cosine, --min_top1: edge.options.GateOptions."""
    p.add_argument("--atol", type=non_negative_float,
                   help="fp32: |difference| of logits must be <= atol + rtol * |reference| "
                        "(default atol 1e-4; off for fp16/int8)")
    p.add_argument("--rtol", type=non_negative_float,
                   help="relative part of the fp32 bound above (default 0)")
    p.add_argument("--min_cosine", type=non_negative_float,
                   help="minimum cosine similarity of logits (fp32 0.99999, fp16 0.999, "
                        "bf16 0.995, int8 0.98)")
    p.add_argument("--min_top1", type=non_negative_float,
                   help="minimum top-1 agreement (fp32 1.0, fp16 0.95, int8 0.85)")


def add_localisation_arguments(p) -> None:
    """--node_atol, --node_rtol, --no_localize: see node_tolerance."""
    p.add_argument("--node_rtol", type=non_negative_float, default=None,
                   help="first-divergence search (host): a node departs when max|diff| > "
                        "node_atol + node_rtol * max|MindSpore value| (default 1e-3)")
    p.add_argument("--node_atol", type=non_negative_float, default=None,
                   help="see --node_rtol (default 1e-5)")
    p.add_argument("--no_localize", action="store_true",
                   help="do not search for the first diverging node of a failing ONNX file")


def node_tolerance(args):
    """The first-divergence search's NodeTolerance, None with --no_localize."""
    from ..host.divergence import NodeTolerance

    if args.no_localize:
        return None
    default = NodeTolerance()
    return NodeTolerance(rtol=default.rtol if args.node_rtol is None else args.node_rtol,
                         atol=default.atol if args.node_atol is None else args.node_atol)


def require_host(command: str, *modules: str) -> None:
    """One line naming the install when a host-side library is missing."""
    from ..edge.errors import UserError

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"{command} needs the host toolchain ({', '.join(missing)} not "
                        f"installed): {HOST_INSTALL}")
