"""Session fixtures for the top-level tests."""
import pytest


@pytest.fixture(scope="session")
def ms_graph():
    """MindSpore in graph mode on CPU (what export traces)."""
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE)
    return ms
