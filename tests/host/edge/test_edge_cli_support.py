"""CLI plumbing of the edge runtime (no MindSpore): interrupts."""
import os
import subprocess
import sys

from support import REPO


def test_an_interrupt_a_library_swallows_still_stops_the_run(tmp_path):
    """Ctrl-C raised inside code that catches everything (as a C++ callback does) is still an
    interrupt: the atomic write is not committed, exit 130, one line."""
    script = f"""
import os, signal
from coat_export.edge.atomic import atomic_path
from coat_export.edge.cli_support import run_guarded

def work():
    with atomic_path({str(tmp_path / 'out.txt')!r}) as tmp:
        with open(tmp, "w") as f:
            f.write("done")
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            pass  # a library that swallows the KeyboardInterrupt
    print("committed")

raise SystemExit(run_guarded(work))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: interrupted; nothing was left half-written"]
    assert "committed" not in proc.stdout
    assert os.listdir(tmp_path) == []
