"""Session fixtures for the top-level tests."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import support  # noqa: E402,F401  (puts the repo root on sys.path)


@pytest.fixture(scope="session")
def ms_graph():
    """MindSpore in graph mode on CPU (what export traces)."""
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE)
    return ms
