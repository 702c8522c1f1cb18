"""The MNIST loader's whole path against a local HTTP server serving IDX files made here."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from nnlab.datasets import _mnist
from nnlab.datasets._mnist import MnistUnavailableError, mnist, read_idx

N_TRAIN, N_TEST = 120, 30


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def idx_files(tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, np.ndarray]]:
    """Small MNIST-format files and their SHA-256, in a directory the server serves."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TRAIN, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, N_TRAIN),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, N_TEST),
    }
    served = tmp_path / "served"
    served.mkdir()
    sums = {}
    for name, array in arrays.items():
        data = gzip.compress(_idx_bytes(array))
        (served / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    return served, sums, arrays


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve_dir() -> Iterator[functools.partial]:
    """Start a real HTTP server on a free loopback port serving a directory; yields its URL."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _fresh_memory_cache() -> Iterator[None]:
    _mnist.clear_cache()
    yield
    _mnist.clear_cache()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there now


def test_downloads_verifies_caches_and_splits(tmp_path: Path, idx_files, serve_dir) -> None:
    served, sums, arrays = idx_files
    cache = tmp_path / "cache"
    data = mnist(cache, mirrors=[serve_dir(served)], checksums=sums)
    assert data.sizes() == {"train": 100, "validation": 20, "test": 30}
    assert data.n_features == 784
    assert data.n_classes == 10
    images = arrays["train-images-idx3-ubyte.gz"].reshape(N_TRAIN, 784) / 255.0
    labels = arrays["train-labels-idx1-ubyte.gz"]
    # the book's split: the first 5/6 of the training file train, the last 1/6 validates
    np.testing.assert_array_equal(data.train[0], images[:100])
    np.testing.assert_array_equal(data.train[1], labels[:100])
    np.testing.assert_array_equal(data.validation[0], images[100:])
    np.testing.assert_array_equal(data.test[1], arrays["t10k-labels-idx1-ubyte.gz"])
    assert sorted(p.name for p in cache.iterdir()) == sorted(sums)
    # once cached, no server is needed
    _mnist.clear_cache()
    again = mnist(cache, mirrors=[_closed_port_url()], checksums=sums)
    np.testing.assert_array_equal(again.test[0], data.test[0])


def test_falls_back_to_the_next_mirror(tmp_path: Path, idx_files, serve_dir) -> None:
    served, sums, _ = idx_files
    empty = tmp_path / "empty"
    empty.mkdir()
    data = mnist(
        tmp_path / "cache", mirrors=[_closed_port_url(), serve_dir(empty), serve_dir(served)], checksums=sums
    )
    assert data.sizes()["test"] == N_TEST


def test_a_corrupt_file_is_rejected_and_nothing_half_written_stays(
    tmp_path: Path, idx_files, serve_dir
) -> None:
    served, sums, _ = idx_files
    name = "t10k-images-idx3-ubyte.gz"
    data = bytearray((served / name).read_bytes())
    data[100] ^= 0xFF
    (served / name).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(MnistUnavailableError, match=f"could not download {name}.*checksum mismatch"):
        mnist(cache, mirrors=[serve_dir(served)], checksums=sums)
    assert not (cache / name).exists()
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]


def test_offline_fails_fast_and_says_how_to_place_the_files(tmp_path: Path, idx_files) -> None:
    _, sums, _ = idx_files
    cache = tmp_path / "cache"
    with pytest.raises(MnistUnavailableError) as info:
        mnist(cache, mirrors=[_closed_port_url()], checksums=sums, timeout=5)
    message = str(info.value)
    assert "copy the four files" in message
    assert str(cache) in message
    assert "NNLAB_MNIST_MIRRORS" in message
    assert "digits()" in message


def test_a_damaged_cached_file_is_downloaded_again(tmp_path: Path, idx_files, serve_dir) -> None:
    served, sums, _ = idx_files
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "train-labels-idx1-ubyte.gz").write_bytes(b"half a file")
    data = mnist(cache, mirrors=[serve_dir(served)], checksums=sums)
    assert data.sizes()["train"] == 100
    assert (
        hashlib.sha256((cache / "train-labels-idx1-ubyte.gz").read_bytes()).hexdigest()
        == sums["train-labels-idx1-ubyte.gz"]
    )


def test_mirrors_come_from_the_environment(tmp_path: Path, idx_files, serve_dir, monkeypatch) -> None:
    served, sums, _ = idx_files
    monkeypatch.setenv("NNLAB_MNIST_MIRRORS", f"{_closed_port_url()}, {serve_dir(served)}")
    monkeypatch.setenv("NNLAB_DATA_DIR", str(tmp_path / "data"))
    data = mnist(checksums=sums)
    assert data.sizes()["validation"] == 20
    assert (tmp_path / "data" / "mnist" / "t10k-images-idx3-ubyte.gz").exists()


def test_a_file_with_the_right_checksum_but_bad_content_is_reported(
    tmp_path: Path, idx_files, serve_dir
) -> None:
    served, sums, _ = idx_files
    name = "train-labels-idx1-ubyte.gz"
    bogus = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 999) + b"\x01\x02")
    (served / name).write_bytes(bogus)
    sums = {**sums, name: hashlib.sha256(bogus).hexdigest()}
    with pytest.raises(MnistUnavailableError, match=r"could not be read.*delete them"):
        mnist(tmp_path / "cache", mirrors=[serve_dir(served)], checksums=sums)


def test_read_idx_parses_and_rejects(tmp_path: Path) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    plain = tmp_path / "a-idx3-ubyte"
    plain.write_bytes(_idx_bytes(array))
    np.testing.assert_array_equal(read_idx(plain), array)
    (tmp_path / "b.gz").write_bytes(gzip.compress(_idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "b.gz"), array)
    (tmp_path / "c").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        read_idx(tmp_path / "c")
    (tmp_path / "d").write_bytes(_idx_bytes(array)[:-3])
    with pytest.raises(ValueError, match="promises 24"):
        read_idx(tmp_path / "d")
    (tmp_path / "e.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a readable IDX file"):
        read_idx(tmp_path / "e.gz")
