"""Executing code through the public API against real kernels in real containers."""

import re
import threading
import time

from kbtest import Daemon, finish

MARKER = "\n...[truncated by kernelbox]..."


def test_state_persists_between_executes(kb):
    first = kb.execute("persist", "x = 41\nprint('set')")
    assert first["status"] == "success", first
    assert first["output"] == "set\n"
    second = kb.execute("persist", "x + 1")
    assert second["status"] == "success", second
    assert second["return_value"] == "42"
    assert second["execution_count"] == first["execution_count"] + 1
    assert second["kernel_restarted"] is False
    kinds = [o["kind"] for o in second["outputs"]]
    assert kinds == ["execute_result"]


def test_bash_runs_through_the_cell_magic(kb):
    res = kb.execute("bash", "echo $((6 * 7)); echo oops >&2; id -u", language="bash")
    assert res["status"] == "success", res
    lines = res["output"].split()
    assert lines[0] == "42"
    assert lines[1] != "0", "bash must not run as root"
    assert "oops" in res["stderr"]


def test_bash_out_and_err_capture_the_whole_output(kb):
    res = kb.execute("bashout", (
        "%%bash --out captured --err complaints\n"
        "seq 1 5\n"
        "echo a >&2\n"
        "echo b >&2"))
    assert res["status"] == "success", res
    assert res["output"] == "" and res["stderr"] == "", res
    got = kb.execute("bashout", "captured, complaints")
    assert got["return_value"] == "('1\\n2\\n3\\n4\\n5\\n', 'a\\nb\\n')", got


def test_modules_the_kernel_defers_load_in_full_when_used(kb):
    # The kernel starts without IPython's terminal front end and jupyter_client's client
    # side; code that uses either must still get the real thing.
    code = (
        "import sys\n"
        "import jupyter_client\n"
        "from IPython.terminal.embed import InteractiveShellEmbed\n"
        "from IPython import embed\n"
        "(jupyter_client.KernelManager.__name__, jupyter_client.BlockingKernelClient.__name__,\n"
        " InteractiveShellEmbed.__name__, callable(embed), 'jupyter_client.manager' in sys.modules)"
    )
    res = kb.execute("deferred", code)
    assert res["status"] == "success", res
    assert res["return_value"] == (
        "('KernelManager', 'BlockingKernelClient', 'InteractiveShellEmbed', True, True)")


def test_kernel_starts_from_its_recorded_modules_and_then_imports_as_usual(kb):
    # The image keeps the code of the kernel's start-up modules in one file; a kernel must
    # have used it, must not keep its finder after start-up, and the modules must look like
    # ordinary ones (real files, source for tracebacks and inspect).
    code = (
        "import inspect, json, os, sys, traceback, ipykernel.kernelapp as ka\n"
        "try:\n"
        "    json.loads('')\n"
        "except ValueError:\n"
        "    tb = traceback.format_exc()\n"
        "import colorsys\n"
        "(type(ka.__loader__).__name__, os.path.isfile(ka.__file__),\n"
        " 'def initialize' in inspect.getsource(ka.IPKernelApp.initialize),\n"
        " 'raise JSONDecodeError' in tb,\n"
        " [type(f).__name__ for f in sys.meta_path if type(f).__name__ == 'StartupFinder'],\n"
        " type(colorsys.__loader__).__name__)"
    )
    res = kb.execute("startup-modules", code)
    assert res["status"] == "success", res
    assert res["return_value"] == "('_CodeLoader', True, True, True, [], 'SourceFileLoader')"


def test_image_directories_are_listed_once_and_writable_ones_as_usual(kb):
    # The image's read-only directories are served from one listing each; the working
    # directory and /tmp keep Python's own finder, so new modules there are found.
    code = (
        "import importlib, os, sys\n"
        "import pandas, email.mime.text\n"
        "cache = sys.path_importer_cache\n"
        "open('mine_here.py', 'w').write('WHO = 1\\n')\n"
        "os.makedirs('/tmp/extra', exist_ok=True)\n"
        "open('/tmp/extra/mine_there.py', 'w').write('WHO = 2\\n')\n"
        "sys.path.append('/tmp/extra')\n"
        "importlib.invalidate_caches()\n"
        "import mine_here, mine_there\n"
        "(type(cache[os.path.dirname(os.path.dirname(pandas.__file__))]).__name__,\n"
        " type(cache[os.path.dirname(os.path.dirname(email.mime.text.__file__))]).__name__,\n"
        " type(cache[os.getcwd()]).__name__, type(cache['/tmp/extra']).__name__,\n"
        " mine_here.WHO + mine_there.WHO, pandas.DataFrame({'a': [1, 2]}).a.sum())"
    )
    res = kb.execute("read-only-finder", code, timeout=60)
    assert res["status"] == "success", res
    assert res["return_value"] == (
        "('ReadOnlyFileFinder', 'ReadOnlyFileFinder', 'FileFinder', 'FileFinder', 3, 3)")


def test_error_carries_traceback(kb):
    res = kb.execute("err", "def f():\n    return 1 / 0\nf()")
    assert res["status"] == "error"
    assert res["error"]["ename"] == "ZeroDivisionError"
    assert res["error"]["evalue"] == "division by zero"
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in res["error"]["traceback"]]
    assert any("----> 3 f()" in line for line in plain), plain
    assert any("return 1 / 0" in line for line in plain), plain
    assert res["outputs"][-1]["kind"] == "error"
    assert res["outputs"][-1]["text"] == "ZeroDivisionError: division by zero"
    # The session goes on.
    assert kb.execute("err", "2 + 2")["return_value"] == "4"


def test_timeout_interrupts_and_keeps_state(kb):
    kb.execute("slow", "kept = 'yes'")
    started = time.monotonic()
    res = kb.execute("slow", "import time\nprint('before', flush=True)\ntime.sleep(30)",
                     timeout=1)
    elapsed = time.monotonic() - started
    assert res["status"] == "timeout", res
    assert res["output"] == "before\n"
    assert res["kernel_restarted"] is False
    assert elapsed < 25, "the 30 s sleep must have been interrupted"
    after = kb.execute("slow", "kept")
    assert after["status"] == "success"
    assert after["return_value"] == "'yes'"


def test_timeout_of_code_ignoring_interrupts_restarts_the_kernel(kb):
    kb.execute("stubborn", "lost = 1")
    res = kb.execute("stubborn", "import signal, time\n"
                                 "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                 "time.sleep(60)", timeout=0.5)
    assert res["status"] == "timeout"
    assert res["kernel_restarted"] is True
    after = kb.execute("stubborn", "lost")
    assert after["status"] == "error"
    assert after["error"]["ename"] == "NameError"
    assert kb.execute("stubborn", "1 + 1")["return_value"] == "2"


def test_bash_timeout_stops_the_command(kb):
    res = kb.execute("bashslow", "echo start; sleep 30; echo never", language="bash",
                     timeout=1)
    assert res["status"] == "timeout"
    assert "start" in res["output"]
    assert "never" not in res["output"]
    assert kb.execute("bashslow", "echo fine", language="bash")["output"] == "fine\n"


def test_bash_output_that_is_not_utf8_or_one_long_line_is_read_to_the_end(kb):
    # A line that is not UTF-8 comes out with U+FFFD, and reading goes on after it.
    res = kb.execute("bashbytes", "printf 'bin \\xff\\xfe end\\n'\n"
                     "printf 'err \\xc3\\n' >&2\necho done", language="bash", timeout=30)
    assert res["status"] == "success", (res["status"], res["stderr"][:500])
    assert res["output"] == "bin \ufffd\ufffd end\ndone\n"
    assert res["stderr"] == "err \ufffd\n"
    # So does a line longer than asyncio's 64 KiB limit, even after a line that is not UTF-8;
    # both used to stop the reading, and the script then blocked on a full pipe.
    res = kb.execute("bashbytes", "printf '\\xff\\n'\n"
                     "head -c 300000 /dev/zero | tr '\\0' x; echo\n"
                     "head -c 300000 /dev/zero | tr '\\0' y; echo", language="bash",
                     timeout=30)
    assert res["status"] == "success", (res["status"], res["stderr"][:500])
    assert res["output"].startswith("\ufffd\n" + "x" * 9000)
    assert res["truncated"] is True
    assert res["stderr"] == ""
    assert kb.execute("bashbytes", "echo after", language="bash")["output"] == "after\n"
    # Many lines at once, read in batches, come out whole and in order, stdout and stderr apart.
    res = kb.execute("bashbytes", "seq 1 2000; seq 1 3 | sed 's/^/e/' >&2", language="bash",
                     timeout=30)
    assert res["status"] == "success", res["status"]
    assert res["output"] == "".join(f"{i}\n" for i in range(1, 2001))
    assert res["stderr"] == "e1\ne2\ne3\n"


def test_what_a_thread_prints_after_its_cell_comes_with_the_next_execution(kb):
    # A cell that starts a thread answers at once; what the thread prints later used to be
    # dropped (its parent is the finished cell). It now starts the next execution's output,
    # once, in order, stdout and stderr apart.
    started = kb.execute("late", (
        "import sys, threading, time\n"
        "def later():\n"
        "    time.sleep(0.4)\n"
        "    print('late out', flush=True)\n"
        "    print('late err', file=sys.stderr, flush=True)\n"
        "threading.Thread(target=later).start()\n"
        "'started'"))
    assert started["status"] == "success", started
    assert started["output"] == "" and started["return_value"] == "'started'"
    time.sleep(1.5)
    res = kb.execute("late", "print('own'); 6 * 7")
    assert res["status"] == "success", res
    assert res["output"] == "late out\nown\n"
    assert res["stderr"] == "late err\n"
    assert res["return_value"] == "42"
    assert [o["kind"] for o in res["outputs"]][-1] == "execute_result"
    again = kb.execute("late", "1")
    assert again["output"] == "" and again["stderr"] == "", again


def test_a_thread_printing_through_file_operations_loses_no_line(kb):
    # File operations read the kernel's broadcasts too; lines a thread prints meanwhile are
    # held for the next execution. Every line arrives exactly once and in order, whichever
    # execution takes it.
    started = kb.execute("ticker", (
        "import threading, time\n"
        "def tick():\n"
        "    for i in range(60):\n"
        "        print(f'tick {i}', flush=True)\n"
        "        time.sleep(0.02)\n"
        "ticker = threading.Thread(target=tick)\n"
        "ticker.start()"))
    assert started["status"] == "success", started
    seen = started["output"]
    deadline = time.time() + 3
    while time.time() < deadline:
        r = kb.get("/sessions/ticker/files")
        assert r.status == 200, r
    res = kb.execute("ticker", "ticker.join(); 'joined'")
    assert res["status"] == "success", res
    seen += res["output"]
    seen += kb.execute("ticker", "None")["output"]
    assert seen == "".join(f"tick {i}\n" for i in range(60))


def test_output_held_between_executions_is_capped():
    # A thread prints 100,000 characters between executions (one message, which the socket
    # holds whole); a file operation reads them. With room for 300,000 characters in a
    # result, what was held shows the hold's own cap: 64 KiB wait for the next execution,
    # whose result says it was cut.
    d = Daemon(env={"KERNELBOX_OUTPUT_CHAR_LIMIT": "300000"}).start()
    try:
        started = d.execute("flood", (
            "import threading, time\n"
            "def flood():\n"
            "    time.sleep(0.3)\n"
            "    print('y' * 100000, end='', flush=True)\n"
            "threading.Thread(target=flood).start()"))
        assert started["status"] == "success", started
        time.sleep(1.5)
        assert d.get("/sessions/flood/files").status == 200
        res = d.execute("flood", "print('mine')")
        assert res["status"] == "success", res
        assert res["output"] == "y" * 65536 + "mine\n"
        assert res["truncated"] is True
        after = d.execute("flood", "print('after')")
        assert after["output"] == "after\n" and after["truncated"] is False, after
    finally:
        finish(d, d)


def test_shell_commands_in_python_cells_run_on_pipes(kb):
    # `!cmd` runs as %%bash does: stderr apart from stdout, lines ending in "\n", no
    # terminal, input reading as empty; _exit_code holds the status.
    res = kb.execute("bang", (
        "!printf 'one\\ntwo\\n'; echo problem >&2; exit 4\n"
        "status = _exit_code\n"
        "status"))
    assert res["status"] == "success", res
    assert res["output"] == "one\ntwo\n"
    assert res["stderr"] == "problem\n"
    assert res["return_value"] == "4"
    start = time.monotonic()
    res = kb.execute("bang", "!read line || echo no input; tty || true", timeout=20)
    assert time.monotonic() - start < 10
    assert res["output"] == "no input\nnot a tty\n", res
    captured = kb.execute("bang", "lines = !echo a; echo b\nlist(lines)")
    assert captured["return_value"] == "['a', 'b']", captured


def test_a_shell_command_past_its_timeout_stops_with_its_cell(kb):
    res = kb.execute("bangtime", "!echo started; sleep 30\nafter = True", timeout=1.5)
    assert res["status"] == "timeout", res
    assert res["output"] == "started\n"
    assert res["kernel_restarted"] is False
    check = kb.execute("bangtime", "'after' in dir()")
    assert check["return_value"] == "False", check
    procs = kb.execute("bangtime", (
        "import os\n"
        "sorted(open(f'/proc/{p}/comm').read().strip() for p in os.listdir('/proc')"
        " if p.isdigit())"))
    assert "sleep" not in procs["return_value"], procs


def test_what_ipython_would_page_is_printed(kb):
    # `obj?` and %pdoc go to a notebook's pager; here they are the cell's output, in plain
    # text.
    res = kb.execute("pager", "len?")
    assert res["status"] == "success", res
    assert "Signature: len(obj, /)\n" in res["output"]
    assert "Return the number of items in a container." in res["output"]
    assert "\x1b" not in res["output"]
    res = kb.execute("pager", "def f():\n    'Adds nothing.'\n%pdoc f")
    assert "Adds nothing." in res["output"], res


def test_closing_stdout_is_ignored(kb):
    # `with sys.stdout as out:` closes it on the way out; the kernel used to hang in that
    # close until the execution's timeout.
    code = ("import sys\n"
            "with sys.stdout as out:\n"
            "    print('inside', file=out)\n"
            "sys.stderr.close()\n"
            "print('after', sys.stdout.closed)\n"
            "print('err', file=sys.stderr)")
    res = kb.execute("closer", code, timeout=20)
    assert res["status"] == "success", res["status"]
    assert res["output"] == "inside\nafter False\n"
    assert res["stderr"] == "err\n"


def test_restoring_stdout_from_dunder_stdout_keeps_later_output(kb):
    # Code that captures its output and then restores sys.stdout from sys.__stdout__ must
    # not lose what the session prints afterwards.
    code = ("import io, sys\n"
            "buf = io.StringIO()\n"
            "sys.stdout, sys.stderr = buf, buf\n"
            "print('hidden')\n"
            "sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__\n"
            "print('visible')\n"
            "print('warned', file=sys.stderr)\n"
            "buf.getvalue()")
    res = kb.execute("restorer", code)
    assert res["status"] == "success", res["status"]
    assert (res["output"], res["stderr"], res["return_value"]) == (
        "visible\n", "warned\n", "'hidden\\n'")
    later = kb.execute("restorer", "print('next cell')\nimport sys\nsys.stdout is sys.__stdout__")
    assert (later["output"], later["return_value"]) == ("next cell\n", "True")


def test_output_is_truncated_at_the_limit(kb):
    res = kb.execute("big", "print('é' * 50000)\nimport sys\nsys.stderr.write('e' * 30000)")
    assert res["status"] == "success"
    assert res["truncated"] is True
    assert len(res["output"]) == 10000
    assert res["output"].endswith(MARKER)
    assert res["output"].startswith("é" * 100)
    assert len(res["stderr"]) == 10000
    stream_texts = [o["text"] for o in res["outputs"] if o["kind"] == "stream"]
    assert all(len(t) <= 10000 for t in stream_texts)


def test_large_output_keeps_the_daemon_answering(kb):
    res = kb.execute("flood", "for i in range(200000):\n    print('line', i)", timeout=60)
    assert res["status"] == "success", res["status"]
    assert res["truncated"] is True
    assert res["output"].startswith("line 0\nline 1\n")
    assert kb.get("/health", auth=False).status == 200


def test_the_value_survives_a_full_outputs_list(kb):
    # 1200 displays fill outputs[] (1000 items); the cell's value is still the answer.
    code = ("from IPython.display import display\n"
            "for i in range(1200):\n"
            "    display(i)\n"
            "6 * 7")
    res = kb.execute("many-displays", code, timeout=60)
    assert res["status"] == "success", res["status"]
    assert res["truncated"] is True
    assert len(res["outputs"]) == 1000
    assert [o["text"] for o in res["outputs"][:3]] == ["0", "1", "2"]
    assert res["return_value"] == "42"
    assert res["execution_count"] >= 1


def test_text_utf8_cannot_hold_is_replaced_not_lost(kb):
    # Lone surrogates (a file name that is not UTF-8, bytes decoded with surrogateescape)
    # come out as U+FFFD, with the rest of the text printed beside them.
    code = ("import os, sys\n"
            "name = os.fsdecode(b'caf\\xe9.txt')\n"
            "print('before', name, '\\ud800', 'after')\n"
            "sys.stderr.write('err \\udcff\\n')\n"
            "from IPython.display import display\n"
            "display({'text/plain': 'shown \\ud83d'}, raw=True)\n"
            "name")
    res = kb.execute("surrogates", code)
    assert res["status"] == "success", res
    assert res["output"] == "before caf\ufffd.txt \ufffd after\n"
    assert res["stderr"] == "err \ufffd\n"
    assert [o["text"] for o in res["outputs"] if o["kind"] == "display_data"] == [
        "shown \ufffd"]
    assert res["return_value"] == "'caf\\udce9.txt'"
    # The kernel logged nothing about it either, and still answers.
    assert "Traceback" not in res["stderr"]
    assert kb.execute("surrogates", "1 + 1")["return_value"] == "2"


def test_concurrent_executes_on_one_session_run_in_arrival_order(kb):
    kb.execute("order", "seq = []")
    n = 8
    results = [None] * n
    threads = []

    def run(i):
        results[i] = kb.execute("order", f"import time\ntime.sleep(0.2)\nseq.append({i})\n"
                                         f"({i}, len(seq))")

    for i in range(n):
        t = threading.Thread(target=run, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(0.05)  # arrival order = start order
    for t in threads:
        t.join()
    for i, res in enumerate(results):
        assert res["status"] == "success", res
        assert res["return_value"] == f"({i}, {i + 1})"
    assert kb.execute("order", "seq")["return_value"] == str(list(range(n)))


def test_sessions_run_in_parallel(kb):
    kb.execute("par-a", "1")
    kb.execute("par-b", "1")
    out = {}

    def run(name):
        out[name] = kb.execute(name, "import time\nstart = time.time()\ntime.sleep(2)\n"
                                     "(start, time.time())")

    threads = [threading.Thread(target=run, args=(n,)) for n in ("par-a", "par-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a_start, a_end = eval(out["par-a"]["return_value"])
    b_start, b_end = eval(out["par-b"]["return_value"])
    # Both kernels were running their code at the same moment.
    assert a_start < b_end and b_start < a_end, (a_start, a_end, b_start, b_end)


def test_sessions_share_neither_variables_nor_tmp(kb):
    kb.execute("iso-a", "secret = 'a'\nopen('/tmp/mine', 'w').write('a')")
    res = kb.execute("iso-b", "secret")
    assert res["status"] == "error" and res["error"]["ename"] == "NameError"
    res = kb.execute("iso-b", "import os\nos.path.exists('/tmp/mine')")
    assert res["return_value"] == "False"
    res = kb.execute("iso-a", "open('/tmp/mine').read()")
    assert res["return_value"] == "'a'"


def test_input_fails_at_once(kb):
    started = time.monotonic()
    res = kb.execute("stdin", "input('name? ')", timeout=20)
    assert time.monotonic() - started < 15, "input() must fail at once, not wait"
    assert res["status"] == "error"
    assert res["error"]["ename"] == "StdinNotImplementedError"


def test_display_data_keeps_every_mime_type(kb):
    code = ("from IPython.display import display, HTML\n"
            "display(HTML('<b>hi</b>'))\n"
            "import matplotlib.pyplot as plt\n"
            "plt.plot([1, 2, 3])\n"
            "plt.show()")
    res = kb.execute("rich", code, timeout=60)
    assert res["status"] == "success", res
    displays = [o for o in res["outputs"] if o["kind"] == "display_data"]
    assert any("text/html" in d["data"] for d in displays)
    png = [d["data"]["image/png"] for d in displays if "image/png" in d["data"]]
    assert png, [list(d["data"]) for d in displays]
    import base64
    assert base64.b64decode(png[0]).startswith(b"\x89PNG\r\n\x1a\n")


def test_retry_uses_replacement_codes(kb):
    created = kb.post("/kernels", {"name": "retrier"})
    assert created.status == 201, created
    res = kb.post("/kernels/retrier/execute/retry",
                  {"code": "1/0", "max_attempts": 3, "replacement_codes": ["2/0", "'fixed'"]})
    assert res.status == 200, res
    body = res.json()
    assert body["status"] == "success"
    assert body["return_value"] == "'fixed'"
    assert [(a["attempt"], a["code"], a["status"]) for a in body["attempts"]] == [
        (1, "1/0", "error"), (2, "2/0", "error"), (3, "'fixed'", "success")]
    res = kb.post("/kernels/retrier/execute/retry", {"code": "1/0", "max_attempts": 2}).json()
    assert res["status"] == "max_attempts_exceeded"
    assert len(res["attempts"]) == 2
    kernel = kb.get("/kernels/retrier").json()["kernel"]
    assert kernel["attempt_count"] == 5
    for bad in ({"code": "1", "max_attempts": 0}, {"code": "1", "replacement_codes": [1]},
                {"code": "1", "max_attempts": 101}):
        assert kb.post("/kernels/retrier/execute/retry", bad).status == 422, bad


def test_restart_gives_a_fresh_kernel(kb):
    kb.execute("restart-me", "v = 1")
    kernel_id = kb.post("/sessions/restart-me").json()["kernel_id"]
    res = kb.post(f"/kernels/{kernel_id}/restart")
    assert res.status == 200, res
    assert res.json()["status"] == "running"
    assert res.json()["restarts"] == 1
    after = kb.execute("restart-me", "v")
    assert after["status"] == "error" and after["error"]["ename"] == "NameError"


def test_interrupt_stops_a_running_execute(kb):
    kb.execute("intr", "1")
    box = {}

    def run():
        box["res"] = kb.execute("intr", "import time\ntime.sleep(30)", timeout=60)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(1.0)
    resp = kb.post("/kernels/intr/interrupt")
    assert resp.status == 200, resp
    t.join(timeout=20)
    assert not t.is_alive()
    assert box["res"]["status"] == "error"
    assert box["res"]["error"]["ename"] == "KeyboardInterrupt"


def test_delete_during_execute_answers_the_waiting_client(kb):
    kb.execute("doomed", "1")
    box = {}

    def run():
        box["res"] = kb.execute("doomed", "import time\ntime.sleep(30)", timeout=60)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(1.0)
    assert kb.delete("/sessions/doomed").status == 200
    t.join(timeout=20)
    assert box["res"]["status"] == "kernel_died"
    assert box["res"]["error"]["ename"] == "SessionDeleted"
    assert kb.get("/sessions/doomed").status == 404


def test_a_kernel_that_exits_is_reported_and_replaced(kb):
    kb.execute("dies", "state = 1")
    started = time.monotonic()
    res = kb.execute("dies", "import os\nos._exit(1)", timeout=60)
    assert res["status"] == "kernel_died", res
    assert res["error"]["ename"] == "KernelDied"
    assert res["kernel_restarted"] is False
    assert time.monotonic() - started < 30, "death must be noticed before the timeout"
    after = kb.execute("dies", "state")
    assert after["kernel_restarted"] is True
    assert after["error"]["ename"] == "NameError"
    again = kb.execute("dies", "1")
    assert again["status"] == "success" and again["kernel_restarted"] is False


def test_messages_with_a_bad_signature_are_dropped(kb):
    # Code in the kernel publishes two stream messages parented to its own execute: one
    # signed with the kernel's key, one with a made-up signature. Only the first may arrive.
    code = (
        "import json, time\n"
        "k = get_ipython().kernel\n"
        "parent = k.get_parent('shell')\n"
        "k.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': 'SIGNED\\n'},"
        " parent=parent)\n"
        "header = json.dumps(k.session.msg_header('stream'), default=str).encode()\n"
        "k.iopub_socket.send_multipart([b'stream', b'<IDS|MSG>', b'0' * 64, header,"
        " json.dumps(parent['header'], default=str).encode(), b'{}',"
        " json.dumps({'name': 'stdout', 'text': 'FORGED\\n'}).encode()])\n"
        "time.sleep(0.5)\n")
    res = kb.execute("forge", code)
    assert res["status"] == "success", res
    assert "SIGNED" in res["output"]
    assert "FORGED" not in res["output"]
    assert kb.log_count("bad signature") >= 1


def test_exit_ends_the_cell_like_a_script_and_the_kernel_stays(kb):
    # IPython's exit() and quit() let the rest of the cell run and then stopped the kernel
    # 0.1 s later: its variables were lost, and a later request found it dead (exited 0).
    assert kb.execute("exits", "kept = 'still here'")["status"] == "success"
    cases = [
        ("print('before')\nexit()\nprint('after')\nlost = 1", "success", None),
        ("print('before')\nquit()\nlost = 1", "success", None),
        ("import sys\nprint('before')\nsys.exit(0)\nlost = 1", "success", None),
        ("print('before')\nexit(3)\nlost = 1", "error", "3"),
        ("print('before')\nraise SystemExit('bad input')\nlost = 1", "error", "bad input"),
    ]
    for code, status, evalue in cases:
        res = kb.execute("exits", code, timeout=20)
        assert res["status"] == status, (code, res)
        assert res["output"] == "before\n", (code, res)
        # nothing about Ctrl-D or a front end: nobody types here
        assert res["stderr"] == "", (code, res)
        assert res["kernel_restarted"] is False, (code, res)
        if evalue is None:
            assert res["error"] is None, (code, res)
        else:
            assert res["error"]["ename"] == "SystemExit", (code, res)
            assert res["error"]["evalue"] == evalue, (code, res)
    # a bare exit or quit, alone in its cell, is called as IPython calls it
    for bare in ("exit", "quit"):
        res = kb.execute("exits", bare, timeout=20)
        assert (res["status"], res["error"], res["stderr"]) == ("success", None, ""), res
    # the kernel outlives the 0.1 s after which it used to stop, with its variables, and
    # nothing after an exit ran
    time.sleep(1.0)
    res = kb.execute("exits", "print(kept)\n'lost' in globals()")
    assert res["status"] == "success", res
    assert res["output"] == "still here\n"
    assert res["return_value"] == "False"
    assert res["kernel_restarted"] is False
    info = kb.get("/sessions/exits").json()
    assert (info["status"], info["restarts"], info["dead_reason"]) == ("running", 0, None), info


def test_asyncio_run_works_in_a_cell_as_in_a_script(kb):
    # The kernel runs cells from its own event loop, where asyncio.run() used to raise
    # "cannot be called from a running event loop".
    code = ("import asyncio\n"
            "async def double(n):\n"
            "    await asyncio.sleep(0.05)\n"
            "    print('inside', n)\n"
            "    return n * 2\n"
            "asyncio.run(double(21))")
    res = kb.execute("async", code)
    assert (res["status"], res["return_value"], res["output"]) == ("success", "42", "inside 21\n"), res
    # its exception is the cell's, and the kernel's own loop still serves top-level await
    res = kb.execute("async", "async def fail():\n    raise ValueError('inner')\n"
                              "asyncio.run(fail())")
    assert res["status"] == "error" and res["error"]["ename"] == "ValueError", res
    res = kb.execute("async", "await asyncio.sleep(0.01)\nasyncio.run(double(1)), 'awaited'")
    assert res["status"] == "success" and res["return_value"] == "(2, 'awaited')", res
    # the older spelling too, which used to raise "This event loop is already running"
    res = kb.execute("async", "asyncio.get_event_loop().run_until_complete(double(4))")
    assert res["status"] == "success" and res["return_value"] == "8", res
    # an interrupt (here the timeout's) cancels it; the session keeps its state
    res = kb.execute("async", "kept = 5\nasyncio.run(asyncio.sleep(60))", timeout=1)
    assert res["status"] == "timeout" and res["kernel_restarted"] is False, res
    res = kb.execute("async", "kept, asyncio.run(double(kept))")
    assert res["return_value"] == "(5, 10)", res
