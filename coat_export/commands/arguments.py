"""Argument types shared by the subcommands (light: no heavy imports)."""
import argparse


def _number(text: str, kind, minimum, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'") from None
    if not value >= minimum:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1, with a one-line error otherwise."""
    return _number(text, int, 1, "a whole number")


def non_negative_int(text: str) -> int:
    return _number(text, int, 0, "a whole number")


def non_negative_float(text: str) -> float:
    return _number(text, float, 0, "a number")
