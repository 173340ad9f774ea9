"""Write files so that a reader never sees a half-written one: temp file, then rename."""
import os
import tempfile
from contextlib import contextmanager

from .errors import UserError


@contextmanager
def atomic_path(final_path: str):
    """Yield a temporary path beside `final_path`; rename it into place only on success.

    The temporary name keeps the final suffix, because some writers (MindSpore's export)
    decide the format from it.
    """
    directory = os.path.dirname(os.path.abspath(final_path))
    base, suffix = os.path.splitext(os.path.basename(final_path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".partial{suffix}", dir=directory)
    os.close(fd)
    try:
        yield tmp
        # mkstemp makes 0600 files and MindSpore writes exports 0400: give the result the
        # permissions any new file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def check_writable_file(path: str, what: str = "output") -> str:
    """UserError unless `path` can be written as a file (before any heavy work is done)."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a directory; give a file path")
    if not os.path.isdir(parent):
        raise UserError(f"{what}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (os.path.exists(path)
                                                     and not os.access(path, os.W_OK)):
        raise UserError(f"{what}: cannot write {path} (permission denied)")
    return path


def ensure_writable_dir(path: str) -> str:
    """Create `path` if needed; UserError if it is a file or cannot be written."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"output directory {path} is a file; pass a directory to --output_dir")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"output directory {path} is not writable; choose another --output_dir")
    return path
