"""The kernel launcher's reading of %%bash output (lenient_script_output).

IPython's script magic is not installed here, so the launcher patches a stand-in for its
module, which holds nothing but the asyncio module the magic uses; the streams are those of
a real subprocess.
"""

import asyncio
import importlib.util
import os
import sys
import types

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.abspath(os.path.join(HERE, "..", "..", "kernel-image", "kernelbox-kernel.py"))


@pytest.fixture
def script(monkeypatch):
    """The stand-in for IPython.core.magics.script, patched by the launcher (8-byte pieces)."""
    spec = importlib.util.spec_from_file_location("kernelbox_launcher", LAUNCHER)
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    module = types.ModuleType("IPython.core.magics.script")
    module.asyncio = asyncio
    magics = types.ModuleType("IPython.core.magics")
    magics.script = module
    for name, mod in (("IPython", types.ModuleType("IPython")),
                      ("IPython.core", types.ModuleType("IPython.core")),
                      ("IPython.core.magics", magics), ("IPython.core.magics.script", module)):
        monkeypatch.setitem(sys.modules, name, mod)
    launcher.lenient_script_output(piece=8)
    assert module.asyncio is not asyncio
    return module


def run(script, data, reads=None, reader="user_code", stream_arg=None):
    """What readline() gives, called from a coroutine named reader with a local stream_arg,
    reading a process that writes data; then what read() gives."""
    async def main():
        process = await script.asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        process.stdin.write(data)
        process.stdin.close()
        namespace = {}
        exec(f"async def {reader}(stream, stream_arg, reads):\n"
             "    lines = []\n"
             "    for _ in range(reads):\n"
             "        line = await stream.readline()\n"
             "        if not line:\n"
             "            break\n"
             "        lines.append(line)\n"
             "    return lines\n", namespace)
        lines = await namespace[reader](process.stdout, stream_arg,
                                        reads if reads is not None else 10 ** 9)
        rest = await process.stdout.read()
        await process.wait()
        return lines, rest
    return asyncio.run(main())


def test_lines_decode_with_replacement_and_keep_their_bytes(script):
    data = b"ab\nq\xff\xfer\nlast"
    lines, rest = run(script, data)
    assert [line.decode("utf8") for line in lines] == ["ab\n", "q\ufffd\ufffdr\n", "last"]
    assert b"".join(lines) == data and rest == b""


def test_a_long_line_comes_in_pieces_cut_between_characters(script):
    data = b"cdefghijklmnop\n" + ("a" + "\u00e9" * 5).encode() + b"\n" + b"x" * 20
    lines, _ = run(script, data)
    assert b"".join(lines) == data
    assert [line.decode("utf8") for line in lines] == [
        "cdefghij", "klmnop\n", "a\u00e9\u00e9\u00e9", "\u00e9\u00e9\n", "xxxxxxxx",
        "xxxxxxxx", "xxxx"]
    assert all(len(line) <= 8 for line in lines)


def test_more_than_a_pipe_holds_is_read_to_the_end(script):
    data = b"\xff\n" + b"y" * 300000 + b"\n" + b"".join(b"%d\n" % i for i in range(20000))
    lines, _ = run(script, data)
    assert b"".join(lines) == data


def test_read_after_readline_starts_with_what_was_buffered(script):
    lines, rest = run(script, b"one\ntwo\nthree\n", reads=1)
    assert lines == [b"one\n"] and rest == b"two\nthree\n"


def test_the_magics_own_reader_gets_every_whole_line_at_hand(script):
    data = b"".join(b"%d\n" % i for i in range(5)) + b"tail"

    lines, _ = run(script, data, reader="_handle_stream")
    assert b"".join(lines) == data
    # Pieces of at most 8 bytes, each ending at its last newline: several lines per read.
    assert lines[0] == b"0\n1\n2\n3\n" and len(lines) < 6
    # Its --out form stores each line it reads, replacing the one before: it gets the whole
    # output in one piece, bytes unchanged, and then the end.
    lines, _ = run(script, data, reader="_handle_stream", stream_arg="out")
    assert lines == [data]
    assert lines[0].decode("utf8") == data.decode("utf8")
    lines, _ = run(script, b"\xff\n" + b"z" * 100, reader="_handle_stream", stream_arg="out")
    assert [line.decode("utf8") for line in lines] == ["\ufffd\n" + "z" * 100]
