"""The kernel launcher's `!cmd` runner (run_command): pipes instead of a terminal.

The runner is plain Python; here it runs real commands with /bin/sh on this host.
"""

import importlib.util
import os
import signal
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.abspath(os.path.join(HERE, "..", "..", "kernel-image", "kernelbox-kernel.py"))


@pytest.fixture(scope="module")
def launcher():
    spec = importlib.util.spec_from_file_location("kernelbox_launcher_commands", LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(launcher, cmd):
    """(status, chunks): chunks are ("out" | "err", text) in the order they were handed on."""
    chunks = []
    status = launcher.run_command(cmd, lambda t: chunks.append(("out", t)),
                                  lambda t: chunks.append(("err", t)))
    return status, chunks


def text(chunks, which):
    return "".join(t for w, t in chunks if w == which)


def gone(pid, within=5.0):
    """True once pid has exited (or is a zombie nobody has reaped yet)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_stdout_and_stderr_stay_apart_with_plain_line_ends(launcher):
    status, chunks = run(launcher, "printf 'a\\nb\\n'; echo oops >&2; printf 'c\\n'; exit 3")
    assert status == 3
    assert text(chunks, "out") == "a\nb\nc\n"
    assert text(chunks, "err") == "oops\n"
    assert "\r" not in text(chunks, "out")


def test_input_reads_as_empty_at_once(launcher):
    start = time.monotonic()
    status, chunks = run(launcher, "read line; echo \"read=[$line] status=$?\"; tty || true")
    assert time.monotonic() - start < 5
    assert status == 0
    assert text(chunks, "out") == "read=[] status=1\nnot a tty\n"


def test_bytes_that_are_not_utf8_become_replacement_characters(launcher):
    # A character split across two writes still decodes whole.
    status, chunks = run(launcher, "printf 'q\\377r\\n\\303'; sleep 0.3; printf '\\251\\n'")
    assert status == 0
    assert text(chunks, "out") == "q\ufffdr\n\u00e9\n"


def test_output_larger_than_a_pipe_is_read_to_the_end(launcher):
    status, chunks = run(launcher, "seq 1 200000; seq 1 50000 >&2")
    assert status == 0
    assert text(chunks, "out") == "".join(f"{i}\n" for i in range(1, 200001))
    assert text(chunks, "err") == "".join(f"{i}\n" for i in range(1, 50001))


def test_a_signal_gives_minus_its_number(launcher):
    status, _ = run(launcher, "kill -TERM $$")
    assert status == -signal.SIGTERM


def test_an_interrupt_stops_the_command_and_is_raised_again(launcher, tmp_path):
    pidfile = tmp_path / "pid"
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    chunks = []
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            launcher.run_command(
                f"echo $$ > {pidfile}; echo started; trap '' INT; sleep 30; echo never",
                lambda t: chunks.append(t), lambda t: chunks.append(t))
    finally:
        timer.cancel()
    # The shell ignores SIGINT: SIGKILL ends it after the grace.
    assert time.monotonic() - start < 5
    assert "".join(chunks) == "started\n"
    assert gone(int(pidfile.read_text()))


def test_leftover_children_do_not_hold_the_cell_and_are_hung_up(launcher, tmp_path):
    pidfile = tmp_path / "pid"
    start = time.monotonic()
    status, chunks = run(launcher, f"(sleep 30; echo late) & echo $! > {pidfile}; echo now")
    assert time.monotonic() - start < 5
    assert status == 0
    assert text(chunks, "out") == "now\n"
    assert gone(int(pidfile.read_text()))
