"""`predict`: top-k classes of images with a bundle or an ONNX model (no MindSpore).

The flags and the work are the edge runtime's (`coat_export.edge.predict`), which a bundle's
own predict.py runs too.
"""
import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..edge.predict import add_arguments as add

    add(p)


def run(args) -> int:
    from ..edge.predict import run as run_predict

    return run_predict(args)
