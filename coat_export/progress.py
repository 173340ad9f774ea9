"""Progress lines for slow steps, with timings, on stderr (stdout stays for results)."""
import sys
import time
from contextlib import contextmanager


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def step(label: str):
    """`with step("compile and export"):` prints the start and the duration of a slow step."""
    say(f"[..] {label}")
    start = time.perf_counter()
    yield
    say(f"[ok] {label} ({time.perf_counter() - start:.1f}s)")
