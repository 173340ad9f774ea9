"""Writing outputs safely: atomic renames, one writer per output, no debris after a kill.

* Every temporary file or directory that a command makes beside its target is named
  ``.coat-partial.<pid>.<name>...``: a reader never sees a half-written output, and a later
  run in that directory removes the ones whose process is gone (after SIGKILL, nothing else
  can). Scratch space in $TMPDIR follows the same rule (``coat-export-scratch.<pid>.*``) and is
  removed on any exit the process survives.
* `output_lock` gives one writer per output: a second concurrent run on the same output
  refuses at once with one line naming the other run's pid.
* The overwrite policy (export, bundle, quantize alike): an existing output is replaced
  atomically only after the new one has been written and verified; a failed or interrupted
  run leaves the old one untouched.
"""
import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Optional

from .errors import UserError
from .interrupts import deferred, raise_if_interrupted

PARTIAL_TAG = ".coat-partial"
LOCK_TAG = ".coat-lock"
SCRATCH_PREFIX = "coat-export-scratch"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str, prefix: str) -> Optional[int]:
    """The pid in '<prefix>.<pid>.<rest>', or None for other names."""
    if not name.startswith(prefix + "."):
        return None
    pid = name[len(prefix) + 1:].split(".", 1)[0]
    return int(pid) if pid.isdigit() else None


def clean_stale(directory: str, prefix: str = PARTIAL_TAG) -> int:
    """Remove temporaries of dead processes from `directory`; returns how many."""
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        pid = _owner_pid(name, prefix)
        if pid is None or _pid_alive(pid):
            continue
        path = os.path.join(directory, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed += 1
        except OSError:
            pass
    return removed


def _normal_permissions(path: str, directory: bool = False) -> None:
    # mkstemp/mkdtemp make 0600/0700 entries and MindSpore writes exports 0400: give the
    # result the permissions any new file or directory would get.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)


@contextmanager
def atomic_path(final_path: str):
    """Yield a temporary path beside `final_path`; rename it into place only on success.

    The temporary name keeps the final suffix, because some writers (MindSpore's export)
    decide the format from it.
    """
    directory = os.path.dirname(os.path.abspath(final_path))
    clean_stale(directory)
    base, suffix = os.path.splitext(os.path.basename(final_path))
    fd, tmp = tempfile.mkstemp(prefix=f"{PARTIAL_TAG}.{os.getpid()}.{base}.", suffix=suffix,
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        raise_if_interrupted()  # an interrupt a library swallowed must not commit the file
        _normal_permissions(tmp)
        os.replace(tmp, final_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextmanager
def atomic_model_path(final_path: str):
    """`atomic_path` for writers that put companions beside a model file (ONNX external data
    `<name>.data`, MindSpore's `<name>_variables/`): the model is written under its final
    name inside a private directory beside `final_path`, so the names it records for its
    companions are already the final ones (a companion written beside a `.coat-partial.<pid>`
    temporary would keep that name, and a later run's stale-file cleanup would delete it). On
    success the companions are moved into place first, the model last; on failure nothing
    is."""
    directory = os.path.dirname(os.path.abspath(final_path))
    main = os.path.basename(final_path)
    clean_stale(directory)
    tmp_dir = tempfile.mkdtemp(prefix=f"{PARTIAL_TAG}.{os.getpid()}.{main}.", dir=directory)
    try:
        yield os.path.join(tmp_dir, main)
        raise_if_interrupted()
        names = sorted(os.listdir(tmp_dir))
        if main not in names:
            raise OSError(errno.ENOENT, "the writer produced no file", final_path)
        with deferred():   # no interrupt between moving the companions and the model
            for name in [n for n in names if n != main] + [main]:
                _move_into_place(os.path.join(tmp_dir, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _move_into_place(src: str, dst: str) -> None:
    if not os.path.isdir(src) or os.path.islink(src):
        _normal_permissions(src)
        os.replace(src, dst)
        return
    _normal_permissions(src, directory=True)
    for d, dirs, files in os.walk(src):
        for name in dirs:
            _normal_permissions(os.path.join(d, name), directory=True)
        for name in files:
            _normal_permissions(os.path.join(d, name))
    _replace_dir(src, dst)


def _replace_dir(new: str, out: str) -> None:
    """Rename directory `new` to `out`; an existing `out` is moved aside first, put back if
    the swap fails, and removed after it."""
    if not os.path.exists(out):
        os.rename(new, out)
        return
    old = tempfile.mkdtemp(prefix=f"{PARTIAL_TAG}.{os.getpid()}.old.", dir=os.path.dirname(out))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(new, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_dir(final_dir: str):
    """Yield a temporary directory beside `final_dir`; on success it replaces `final_dir`
    (an existing one is moved aside first and removed after the swap)."""
    out = os.path.abspath(final_dir)
    parent = os.path.dirname(out)
    clean_stale(parent)
    tmp = tempfile.mkdtemp(prefix=f"{PARTIAL_TAG}.{os.getpid()}.{os.path.basename(out)}.",
                           dir=parent)
    try:
        _normal_permissions(tmp, directory=True)
        yield tmp
        raise_if_interrupted()
        _replace_dir(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def make_scratch(label: str = "work") -> str:
    """A private directory in $TMPDIR (stale ones of dead runs are removed first); the caller
    removes it with `shutil.rmtree` -- or uses `scratch_dir`."""
    root = tempfile.gettempdir()
    clean_stale(root, SCRATCH_PREFIX)
    return tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}.{os.getpid()}.{label}.", dir=root)


def process_scratch_path(label: str) -> str:
    """A scratch path of this process in $TMPDIR that is not created here: for libraries that
    create it themselves when they need it (MindSpore's failure dumps); removed by
    `remove_process_scratch` on exit, or by a later run after SIGKILL."""
    return os.path.join(tempfile.gettempdir(), f"{SCRATCH_PREFIX}.{os.getpid()}.{label}")


def remove_process_scratch() -> None:
    """Remove every scratch entry of this process from $TMPDIR."""
    root = tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if _owner_pid(name, SCRATCH_PREFIX) == os.getpid():
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


@contextmanager
def scratch_dir(label: str = "work"):
    """A private directory in $TMPDIR, removed when the block ends (also on Ctrl-C/SIGTERM;
    after SIGKILL, by the next run)."""
    path = make_scratch(label)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def libraries_temp_in(directory: str):
    """Point `tempfile`'s default directory at `directory` (our scratch) for the block.
    Libraries that make their own temporaries in $TMPDIR (onnxruntime.quantization's
    `ort.quant.*` and `pre.quant.*`, which SIGKILL would leave behind) make them there, so
    they go with the scratch: on exit, or with the next run's stale-scratch cleanup."""
    saved = tempfile.tempdir
    tempfile.tempdir = directory
    try:
        yield directory
    finally:
        tempfile.tempdir = saved


@contextmanager
def output_lock(final_path: str):
    """Hold the one-writer lock of an output (a file or a bundle directory) for the block.

    A second run on the same output refuses at once, naming the pid that holds it. The lock
    file lives beside the output and is removed on release."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking, the atomic rename still protects readers
        yield
        return
    out = os.path.abspath(final_path)
    lock = os.path.join(os.path.dirname(out), f"{LOCK_TAG}.{os.path.basename(out)}")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise UserError(f"another coat-export run (pid {holder}) is writing {final_path}; "
                            "wait for it to finish or choose another output") from exc
        try:   # the file we locked may have been unlinked by the previous holder: retry
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        try:
            os.unlink(lock)
        except OSError:
            pass
        os.close(fd)


def write_text(path: str, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def check_writable_file(path: str, what: str = "output") -> str:
    """UserError unless `path` can be written as a file (before any heavy work is done)."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a directory; give a file path")
    if not os.path.isdir(parent):
        raise UserError(f"{what}: directory {parent} does not exist")
    if not _writable_dir(parent) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UserError(f"{what}: cannot write {path} (permission denied)")
    return path


def _writable_dir(path: str) -> bool:
    """Whether files can be created in `path`: tried, since access() is wrong for root on
    read-only mounts and for some ACLs."""
    if not os.access(path, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=f"{PARTIAL_TAG}.{os.getpid()}.probe.", dir=path)
    except OSError:
        return False
    os.close(fd)
    os.remove(probe)
    return True


@contextmanager
def output_dir(path: str, what: str = "--output_dir"):
    """`ensure_writable_dir` for a block: the directories it had to create are removed again
    when the block fails (error, Ctrl-C, SIGTERM) and they are still empty, so a failed run
    leaves no empty output folder behind."""
    created, probe = [], os.path.abspath(path)
    while not os.path.lexists(probe):
        created.append(probe)
        probe = os.path.dirname(probe)
    try:
        ensure_writable_dir(path, what)
        yield path
    except BaseException:
        for d in created:           # deepest first; stops at the first that is not empty
            try:
                os.rmdir(d)
            except OSError:
                break
        raise


def ensure_writable_dir(path: str, what: str = "--output_dir") -> str:
    """Create `path` if needed; UserError if it is a file or cannot be written."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"output directory {path} is a file; pass a directory to {what}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {path}: {exc.strerror}") from exc
    if not _writable_dir(path):
        raise UserError(f"output directory {path} is not writable; choose another {what}")
    return path
