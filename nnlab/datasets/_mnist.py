"""MNIST: download the four IDX files once, verify them, cache them, parse them."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import threading
import urllib.error
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from nnlab._types import Array
from nnlab.datasets._dataset import Dataset, make_dataset

__all__ = ["DEFAULT_MIRRORS", "MNIST_FILES", "MnistUnavailableError", "mnist", "read_idx"]

#: The four files and the SHA-256 of each, as published by the MNIST mirrors.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: Tried in order; override with ``mirrors=`` or ``NNLAB_MNIST_MIRRORS`` (space or comma separated).
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

_CHUNK = 1 << 16
_cache: dict[tuple[str, tuple[tuple[str, str], ...]], Dataset] = {}
_cache_lock = threading.Lock()


class MnistUnavailableError(OSError):
    """MNIST could not be downloaded or read; the message says how to get it.

    ``cache_dir`` is the folder it looked in, ``files`` the four file names to put
    there by hand and ``reason`` what went wrong, so that a front end (the CLI) can
    word the advice in its own terms with :meth:`advice`.
    """

    def __init__(self, reason: str, cache_dir: Path, files: Iterable[str]) -> None:
        self.reason = reason
        self.cache_dir = cache_dir
        self.files = sorted(files)
        super().__init__(self.advice("cache_dir=...", "nnlab.datasets.digits() needs no download."))

    def advice(self, other_folder: str, alternative: str) -> str:
        """The message, with ``other_folder`` saying how to name another folder."""
        return (
            f"MNIST is not available: {self.reason}. To use MNIST without internet, copy the "
            f"four files {self.files} into {self.cache_dir} (or pass {other_folder}, or set "
            f"NNLAB_DATA_DIR), or set NNLAB_MNIST_MIRRORS to a mirror you can reach. {alternative}"
        )


def default_cache_dir() -> Path:
    """``$NNLAB_DATA_DIR/mnist``, by default ``~/.cache/nnlab/mnist``."""
    root = os.environ.get("NNLAB_DATA_DIR") or Path.home() / ".cache" / "nnlab"
    return Path(root) / "mnist"


def _mirrors_from_env() -> tuple[str, ...]:
    value = os.environ.get("NNLAB_MNIST_MIRRORS", "")
    return tuple(m for m in value.replace(",", " ").split() if m)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, target: Path, sha256: str, timeout: float) -> None:
    """Fetch ``url`` into ``target`` atomically; raise ``OSError`` on any failure."""
    import urllib.request  # ~20 ms to import: only when a download is needed

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise OSError(f"checksum mismatch (got sha256 {digest.hexdigest()[:12]}...)")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _fetch_all(cache_dir: Path, mirrors: Iterable[str], checksums: Mapping[str, str], timeout: float) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    mirrors = [m if m.endswith("/") else m + "/" for m in mirrors]
    for name, sha256 in checksums.items():
        target = cache_dir / name
        if target.exists():
            if _sha256(target) == sha256:
                continue
            target.unlink()  # a damaged or foreign file: fetch it again
        failures = []
        for mirror in mirrors:
            try:
                _download(mirror + name, target, sha256, timeout)
                break
            except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts are OSErrors
                failures.append(f"{mirror}{name}: {_describe(exc)}")
        else:
            tried = "; ".join(failures) or "no mirrors given"
            raise MnistUnavailableError(f"could not download {name} ({tried})", cache_dir, checksums)


def read_idx(path: str | os.PathLike[str]) -> Array:
    """Parse a (gzipped) IDX file of unsigned bytes into an array of its dimensions."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path.name} is not a readable IDX file: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path.name} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path.name} has a truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise ValueError(f"{path.name} holds {len(raw) - header} data bytes, its header promises {size}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _parse(cache_dir: Path, checksums: Mapping[str, str]) -> Dataset:

    def images(prefix: str) -> Array:
        (name,) = [n for n in checksums if n.startswith(prefix) and "images" in n]
        arr = read_idx(cache_dir / name)
        return arr.reshape(arr.shape[0], -1).astype(np.float64) / 255.0

    def labels(prefix: str) -> Array:
        (name,) = [n for n in checksums if n.startswith(prefix) and "labels" in n]
        return read_idx(cache_dir / name).astype(np.int64)

    X_train, y_train = images("train"), labels("train")
    X_test, y_test = images("t10k"), labels("t10k")
    if X_train.shape[0] != y_train.shape[0] or X_test.shape[0] != y_test.shape[0]:
        raise ValueError("MNIST image and label files disagree on the number of examples")
    # the book's split: the last sixth of the training file validates; _make cuts
    # test, validation and train from the front, in that order
    n_train = X_train.shape[0] - X_train.shape[0] // 6
    X = np.concatenate([X_test, X_train[n_train:], X_train[:n_train]])
    y = np.concatenate([y_test, y_train[n_train:], y_train[:n_train]])
    return make_dataset(
        "mnist",
        X,
        y,
        n_validation=X_train.shape[0] - n_train,
        n_test=X_test.shape[0],
        rng=None,
        n_classes=10,
        description="MNIST handwritten digits, 28x28 pixels",
    )


def mnist(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    mirrors: Iterable[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Dataset:
    """MNIST as the book splits it: 50,000 training, 10,000 validation, 10,000 test.

    The four IDX files are downloaded once into ``cache_dir`` (default
    ``~/.cache/nnlab/mnist``, or ``$NNLAB_DATA_DIR/mnist``) from the first of
    ``mirrors`` that answers, checked against their SHA-256 (``checksums``), and written
    atomically, so an interrupted download never leaves a half file behind. The
    validation set is the last sixth of the training file. Pixels are scaled to [0, 1].

    Without internet it fails within ``timeout`` seconds per mirror with
    :class:`MnistUnavailableError`, saying where to put the files by hand.
    """
    cache_path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    mirror_list = tuple(mirrors) if mirrors is not None else (_mirrors_from_env() or DEFAULT_MIRRORS)
    sums = dict(checksums) if checksums is not None else dict(MNIST_FILES)
    key = (str(cache_path.resolve()), tuple(sorted(sums.items())))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        _fetch_all(cache_path, mirror_list, sums, timeout)
        try:
            data = _parse(cache_path, sums)
        except ValueError as exc:
            raise MnistUnavailableError(
                f"the files in {cache_path} could not be read ({exc}): delete them to download fresh copies",
                cache_path,
                sums,
            ) from None
        _cache[key] = data
        return data


def clear_cache() -> None:
    """Forget MNIST arrays held in memory (the files on disk stay)."""
    with _cache_lock:
        _cache.clear()
