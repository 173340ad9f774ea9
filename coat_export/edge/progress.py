"""Progress on stderr (stdout stays for results): step lines with timings, and a bar."""
import sys
import time
from contextlib import contextmanager

from .interrupts import raise_if_interrupted


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


HEARTBEAT_SECONDS = 15.0


@contextmanager
def step(label: str, heartbeat: float = HEARTBEAT_SECONDS):
    """`with step("compile and export"):` prints the start and the duration of a slow step,
    and a line every `heartbeat` seconds while it runs (compiles and big conversions give no
    progress of their own), so a long step never looks hung."""
    import threading

    say(f"[..] {label}")
    start = time.perf_counter()
    done = threading.Event()

    def beat():
        while not done.wait(heartbeat):
            say(f"     ... {label}: {time.perf_counter() - start:.0f}s")
    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
    raise_if_interrupted()  # a step whose library swallowed Ctrl-C is not "ok"
    say(f"[ok] {label} ({time.perf_counter() - start:.1f}s)")


class ProgressBar:
    """A one-line bar on stderr, redrawn per update on a terminal; every 10% otherwise."""

    def __init__(self, total: int, label: str = "", stream=None, width: int = 30):
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_decile = -1

    def update(self, done: int) -> None:
        frac = min(1.0, done / self.total)
        elapsed = time.perf_counter() - self.start
        filled = int(round(frac * self.width))
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{done}/{self.total} ({elapsed:.1f}s)")
        if self.tty:
            self.stream.write("\r" + line)
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(line + "\n")
                self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
