"""Argument types shared by the subcommands (light: no heavy imports)."""
import argparse


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1, with a one-line error otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
