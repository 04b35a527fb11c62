"""kernelbox_files: the files API's helper inside the kernel, run here on a folder of its own.

What matters most: it never waits on something that is not a regular file (a FIFO would
hold the kernel until somebody opened its other end), and never follows a symlink.
"""

import base64
import json
import os
import socket
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..", "..", "kernel-image")))

import kernelbox_files  # noqa: E402  (lives in the kernel image's folder)


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(kernelbox_files, "ROOT", str(tmp_path))
    return tmp_path


def answer(reply):
    return json.loads(repr(reply))


def in_time(fn, *args, seconds=5):
    """fn(*args), failing the test if it has not returned within seconds."""
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=fn(*args)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__}{args} is still waiting"
    return out["value"]


def b64(data):
    return base64.b64encode(data).decode("ascii")


def test_regular_files_round_trip(root):
    assert answer(kernelbox_files.write("d/a.txt", 0, b64(b"hello"), True)) == \
        {"ok": True, "size": 5, "final": True}
    got = answer(kernelbox_files.read("d/a.txt", 0, 100))
    assert got == {"ok": True, "size": 5, "data": b64(b"hello")}
    assert answer(kernelbox_files.write("d/a.txt", 5, b64(b"!"), True))["size"] == 6
    assert (root / "d" / "a.txt").read_bytes() == b"hello!"


def test_a_fifo_is_refused_at_once_for_reading_and_writing(root):
    os.mkfifo(root / "pipe")
    expected = {"ok": False, "error": "not_file", "message": "not a regular file"}
    # nobody at the other end: reading would wait for a writer, writing for a reader
    assert answer(in_time(kernelbox_files.read, "pipe", 0, 100)) == expected
    assert answer(in_time(kernelbox_files.write, "pipe", 0, b64(b"x"), True)) == expected
    # a reader at the other end: writing could go through, but it is not a file either
    reader = os.open(root / "pipe", os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert answer(in_time(kernelbox_files.write, "pipe", 0, b64(b"x"), True)) == expected
        assert os.read(reader, 10) == b""
    finally:
        os.close(reader)


def test_a_socket_is_refused(root):
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "sock"))
        for reply in (in_time(kernelbox_files.read, "sock", 0, 100),
                      in_time(kernelbox_files.write, "sock", 0, b64(b"x"), True)):
            assert answer(reply)["error"] == "not_file"
    finally:
        server.close()


def test_directories_and_links_keep_their_own_answers(root):
    (root / "dir").mkdir()
    (root / "target").write_bytes(b"secret")
    os.symlink(root / "target", root / "link")
    assert answer(kernelbox_files.read("dir", 0, 100))["error"] == "is_dir"
    assert answer(kernelbox_files.write("dir", 0, b64(b"x"), True))["error"] == "is_dir"
    assert answer(kernelbox_files.read("link", 0, 100))["error"] == "symlink"
    assert answer(kernelbox_files.write("link", 0, b64(b"x"), True))["error"] == "symlink"
    assert (root / "target").read_bytes() == b"secret"
    assert answer(kernelbox_files.read("missing", 0, 100))["error"] == "not_found"
