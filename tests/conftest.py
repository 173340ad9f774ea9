"""Session fixtures for the top-level tests."""
import pytest


@pytest.fixture(scope="session")
def ms_graph():
    """MindSpore in graph mode on CPU (what export traces)."""
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE)
    return ms


# The suite runs in parallel (`pytest -n auto`, pytest-xdist, in the test extra): each worker
# loads MindSpore and its own copies of the session's exported artifacts (1-3 GB), so "auto"
# is capped: more workers than this add memory, not speed, on the hosts CI runs on.
MAX_WORKERS = 4


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cpus or 1))
