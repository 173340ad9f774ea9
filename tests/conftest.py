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


def pytest_collection_modifyitems(config, items):
    """The few tests marked slow (minutes each) first: pytest-xdist hands out tests in
    collection order, so a slow test collected last runs alone while the other workers idle
    (the MindCV recipe tests, last in the tree, made the suite's final 3 minutes one worker's)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)   # a stable sort
