"""Shared by the tests: repository paths, fixture paths, small architectures (importable as
`support`: the pytest configuration puts tests/ on sys.path). Needs only the standard library,
so the MindSpore-free edge tests (tests/edge_runtime) use it too.

The suite's folders say what their tests need: tests/edge_runtime numpy, pillow and
onnxruntime only (it runs in the MindSpore-free environment); tests/host the host toolchain
(MindSpore, onnx), with tests/host/edge for edge commands run on models the host makes;
tests/test_layers.py the source alone.
"""
import contextlib
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
# the digits model trained for the tests (training/train_digits.py) and its held-out images
TRAINED = os.path.join(FIXTURES, "trained")
HELDOUT = os.path.join(TRAINED, "digits_heldout")
LABELS = os.path.join(TRAINED, "digits_labels.txt")
TRAINED_CKPT = os.path.join(TRAINED, "coat_lite_digits.ckpt")
TRAINED_CONFIG = os.path.join(TRAINED, "coat_lite_digits.yaml")

# A small CoaT-Lite and a small CoaT (with parallel blocks) at 64x64: breadth in seconds.
SMALL_LITE = dict(embed_dims=[32, 48, 64, 80], serial_depths=[1, 1, 1, 1], parallel_depth=0,
                  num_heads=8, mlp_ratios=[2, 2, 2, 2], num_classes=10, image_size=64)
SMALL_FULL = dict(embed_dims=[32, 48, 48, 48], serial_depths=[1, 1, 1, 1], parallel_depth=2,
                  num_heads=8, mlp_ratios=[2, 2, 2, 2], num_classes=10, image_size=64)


def fixture_path(*parts: str) -> str:
    return os.path.join(FIXTURES, *parts)


@contextlib.contextmanager
def pynative_mode():
    """Run MindSpore references eagerly (no graph compile per input shape), then restore the
    mode the caller had (exports trace in graph mode)."""
    import mindspore as ms

    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        yield
    finally:
        ms.set_context(mode=mode)
