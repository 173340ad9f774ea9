"""Edge bundles, reading side: a directory with everything a deployment needs, verified.

    <bundle>/
      model.onnx                 fp32 graph
      model.<variant>.onnx       optional variants (fp16, int8_dynamic, int8_static)
      labels.txt                 optional, one class name per line
      manifest.json              what everything is, with every file's size and sha256
      predict.py, README.md      run it: python predict.py IMAGE ... (no install needed)
      coat_edge/                 the toolkit's edge runtime (this subpackage), verbatim

A bundle is untrusted input. Every file name the manifest uses for a model, variant or labels
must be a plain name of a regular file inside the bundle (no path separators, no `..`, no
symbolic links), and a file is used only from the exact bytes that were checked against the
recorded size and sha256: the bytes are read once, verified, then handed to the runtime.
Anything else is a `UserError` (one line, exit 2). Writing bundles is host work
(`coat_export.host.bundle_writer`).
"""
import hashlib
import json
import os
import stat
from typing import Dict, List, Optional

from .errors import UserError

__all__ = ["MANIFEST_NAME", "FORMAT", "FORMAT_VERSION", "MODEL_FILE", "LABELS_FILE",
           "RUNTIME_DIR", "PREDICT_SCRIPT", "VARIANT_KEYS", "Bundle", "open_bundle",
           "is_bundle", "parse_labels", "load_labels", "sha256_bytes", "sha256_file",
           "read_regular_file"]

MANIFEST_NAME = "manifest.json"
FORMAT = "coat-export-edge-bundle"
FORMAT_VERSION = 2
MODEL_FILE = "model.onnx"
LABELS_FILE = "labels.txt"
RUNTIME_DIR = "coat_edge"
PREDICT_SCRIPT = "predict.py"
# quantize modes -> variant keys in the manifest
VARIANT_KEYS = {"fp16": "fp16", "dynamic": "int8_dynamic", "static": "int8_static"}
# how the static int8 variant is calibrated (its manifest `method` names the one used); kept
# here, in the base layer, so the CLI offers them without importing the host side
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
MAX_MANIFEST_BYTES = 16 << 20
# A manifest is untrusted: its shape is bounded before anything reads it.
MAX_VARIANTS = 16
MAX_FILES = 10_000
MAX_NAME_CHARS = 255
MAX_DEPTH = 32
MAX_LABELS_BYTES = 16 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def read_regular_file(path: str, what: str, max_bytes: Optional[int] = None,
                      expect_bytes: Optional[int] = None, follow_links: bool = False) -> bytes:
    """The bytes of a regular file; refuses FIFOs, devices and directories, and files larger
    than `max_bytes` (or of another size than `expect_bytes`) before reading them. Unless
    `follow_links`, a symbolic link is refused too (bundle members)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    if not follow_links and os.path.islink(path):
        raise UserError(f"{what} {path} is a symbolic link; a bundle holds only regular files")
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise UserError(f"{what} not found: {path}") from exc
    except OSError as exc:
        raise UserError(f"cannot open {what} {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{what} {path} is not a regular file")
        if expect_bytes is not None and st.st_size != expect_bytes:
            raise UserError(f"{what} {path} has {st.st_size} bytes, {MANIFEST_NAME} records "
                            f"{expect_bytes} (modified or corrupted)")
        if max_bytes is not None and st.st_size > max_bytes:
            raise UserError(f"{what} {path} is larger than {max_bytes >> 20} MiB")
        limit = st.st_size if expect_bytes is None else expect_bytes
        chunks, left = [], limit + 1   # one byte more: a file that grew is caught too
        while left > 0:
            block = os.read(fd, min(left, 1 << 24))
            if not block:
                break
            chunks.append(block)
            left -= len(block)
        data = b"".join(chunks)
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(data) != limit:
        raise UserError(f"{what} {path} changed size while being read")
    return data


def is_bundle(path: str) -> bool:
    """A directory with a manifest.json entry of any kind: a FIFO or a link there is then
    refused by the manifest reader as what it is, not reported as a missing manifest."""
    return os.path.isdir(path) and os.path.lexists(os.path.join(path, MANIFEST_NAME))


def _plain_name(name, what: str) -> str:
    """A manifest file name that can only mean a file directly inside the bundle."""
    bad = (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
           or "\\" in name or "\0" in name or (len(name) > 1 and name[1] == ":")
           or name != name.strip())
    if bad:
        raise UserError(f"{MANIFEST_NAME} names {what} {name!r}: only plain file names inside "
                        "the bundle are allowed (no paths); the bundle is damaged or hostile")
    return name


def _relative_name(name, what: str) -> str:
    """A manifest file name that may have subfolders (the runtime copy), never leaving the
    bundle: relative, '/'-separated, no empty, '.' or '..' parts."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        raise UserError(f"{MANIFEST_NAME} lists {what} {name!r} outside the bundle")
    for part in name.split("/"):
        _plain_name(part, what)
    return name


class Bundle:
    """A bundle directory and its manifest; files come out verified (`read`)."""

    def __init__(self, directory: str, manifest: dict):
        self.directory = directory
        self.manifest = manifest
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise UserError(f"{MANIFEST_NAME} of {directory} has no file list")
        self.files: Dict[str, dict] = {}
        for name, rec in files.items():
            _relative_name(name, "file")
            if not (isinstance(rec, dict) and isinstance(rec.get("bytes"), int)
                    and rec["bytes"] >= 0 and isinstance(rec.get("sha256"), str)):
                raise UserError(f"{MANIFEST_NAME} of {directory}: bad record for {name!r}")
            self.files[name] = rec

    def _path(self, name: str) -> str:
        path = os.path.join(self.directory, *name.split("/"))
        root = os.path.realpath(self.directory)
        if os.path.commonpath([root, os.path.realpath(path)]) != root:
            raise UserError(f"{name} in bundle {self.directory} leads outside the bundle")
        return path

    def read(self, name: str, what: str = "file", plain: bool = True) -> bytes:
        """The bytes of a listed file, verified against its size and sha256."""
        name = _plain_name(name, what) if plain else _relative_name(name, what)
        rec = self.files.get(name)
        if rec is None:
            raise UserError(f"{what} {name} is not listed in {MANIFEST_NAME} of "
                            f"{self.directory}")
        data = read_regular_file(self._path(name), what, expect_bytes=rec["bytes"])
        if sha256_bytes(data) != rec["sha256"]:
            raise UserError(f"{name} in {self.directory} does not match its sha256 in "
                            f"{MANIFEST_NAME} (modified or corrupted)")
        return data

    def verify_all(self) -> None:
        for name in self.files:
            self.read(name, plain=False)

    @property
    def variants(self) -> Dict[str, dict]:
        v = self.manifest.get("variants")
        if not isinstance(v, dict) or not v:
            raise UserError(f"{MANIFEST_NAME} of {self.directory} lists no model")
        return v

    def variant(self, variant: Optional[str] = None) -> dict:
        """The manifest record of a variant ('fp32' default, 'fp16', 'int8_dynamic' or its
        quantize mode 'dynamic', ...), with a checked plain file name."""
        key = VARIANT_KEYS.get(variant, variant) if variant else \
            self.manifest.get("default_variant", "fp32")
        rec = self.variants.get(key)
        if not isinstance(rec, dict):
            raise UserError(f"bundle has no '{str(variant)[:40]}' variant; it has: "
                            f"{', '.join(self.variants)}")
        _plain_name(rec.get("file"), f"the {key} model")
        return dict(rec, key=key)

    def model_bytes(self, variant: Optional[str] = None) -> bytes:
        rec = self.variant(variant)
        return self.read(rec["file"], what=f"{rec['key']} model")

    def labels(self) -> Optional[List[str]]:
        name = self.manifest.get("labels")
        if not name:
            return None
        data = self.read(name, what="labels file")
        return parse_labels(data, f"{self.directory}/{name}")

    @property
    def preprocessing(self) -> dict:
        p = self.manifest.get("preprocessing") or {}
        if not isinstance(p, dict):
            raise UserError(f"{MANIFEST_NAME} of {self.directory}: bad preprocessing")
        return p


def open_bundle(directory: str) -> Bundle:
    """The bundle at `directory` with its parsed, structurally checked manifest."""
    path = os.path.join(directory, MANIFEST_NAME)
    if not os.path.isdir(directory) or not os.path.lexists(path):
        raise UserError(f"{directory} is not a bundle: no {MANIFEST_NAME} in it")
    data = read_regular_file(path, "bundle manifest", max_bytes=MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except RecursionError as exc:
        raise UserError(f"cannot read {path}: nested too deeply to be a bundle manifest") \
            from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {str(exc)[:200]}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{path} is not a coat-export bundle manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise UserError(f"{path}: bad format_version {version!r}")
    if version > FORMAT_VERSION:
        raise UserError(f"{path} has format version {version}; this tool reads up to "
                        f"{FORMAT_VERSION}: upgrade coat-export")
    _check_shape(manifest, path)
    return Bundle(directory, manifest)


def _depth(obj, limit: int) -> int:
    """Nesting depth of parsed JSON, without recursion (stops counting past limit)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def _check_shape(m: dict, path: str) -> None:
    """Types and sizes of the fields every reader uses: one line for anything else."""
    if _depth(m, MAX_DEPTH) > MAX_DEPTH:
        raise UserError(f"{path}: nested deeper than {MAX_DEPTH} levels: not a bundle manifest")
    variants, files = m.get("variants"), m.get("files")
    if not isinstance(variants, dict) or not variants:
        raise UserError(f"{path} lists no model (variants)")
    if len(variants) > MAX_VARIANTS:
        raise UserError(f"{path} lists {len(variants)} variants; a bundle has at most "
                        f"{MAX_VARIANTS}")
    for key, rec in variants.items():
        if len(key) > MAX_NAME_CHARS or not isinstance(rec, dict):
            raise UserError(f"{path}: bad variant record {key[:40]!r}")
    default = m.get("default_variant", "fp32")
    if not isinstance(default, str) or len(default) > MAX_NAME_CHARS:
        raise UserError(f"{path}: default_variant must be a variant name")
    if not isinstance(files, dict):
        raise UserError(f"{path} has no file list")
    if len(files) > MAX_FILES:
        raise UserError(f"{path} lists {len(files)} files; a bundle has at most {MAX_FILES}")
    if any(len(name) > 4 * MAX_NAME_CHARS for name in files):
        raise UserError(f"{path}: a file name is longer than {4 * MAX_NAME_CHARS} characters")
    for key in ("preprocessing", "model", "onnx"):
        if m.get(key) is not None and not isinstance(m[key], dict):
            raise UserError(f"{path}: '{key}' must be an object")
    labels = m.get("labels")
    if labels is not None and not isinstance(labels, str):
        raise UserError(f"{path}: 'labels' must be a file name")


def parse_labels(data: bytes, source: str) -> List[str]:
    """Class names from a labels file's bytes: one per line, or JSON (a list, or an object
    {index: name} with indices 0..N-1)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"labels file {source} is not UTF-8 text") from exc
    if source.lower().endswith(".json"):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise UserError(f"labels file {source} is not valid JSON: {exc}") from exc
        if isinstance(obj, dict):
            try:
                items = sorted((int(k), str(v)) for k, v in obj.items())
            except ValueError as exc:
                raise UserError(f"labels file {source}: keys must be class indices") from exc
            if [k for k, _ in items] != list(range(len(items))):
                raise UserError(f"labels file {source}: indices must be 0..N-1")
            labels = [v for _, v in items]
        elif isinstance(obj, list):
            labels = [str(v) for v in obj]
        else:
            raise UserError(f"labels file {source}: expected a list or an object")
    else:
        labels = [line.strip() for line in text.splitlines()]
        while labels and not labels[-1]:
            labels.pop()
    if not labels:
        raise UserError(f"labels file {source} is empty")
    return labels


def load_labels(path: str) -> List[str]:
    """Class names from a user's labels file (text, or .json)."""
    data = read_regular_file(path, "labels file", max_bytes=MAX_LABELS_BYTES, follow_links=True)
    return parse_labels(data, path)
