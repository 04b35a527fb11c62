"""What agents need beyond a plain execute: live streaming, rich outputs, files in and out of
a session, and input() failing at once."""

import base64
import http.client
import json
import os
import socket
import time

import kbtest


def stream(kb, session, code, timeout=None, read_all=True):
    """POST an execute with Accept: text/event-stream; return (status, headers, events) where
    each event is (arrival time, id, event, data)."""
    conn = http.client.HTTPConnection("127.0.0.1", kb.port, timeout=120)
    body = {"code": code}
    if timeout is not None:
        body["timeout"] = timeout
    conn.request("POST", f"/sessions/{session}/execute", body=json.dumps(body),
                 headers={"Authorization": f"Bearer {kb.key}", "Accept": "text/event-stream"})
    resp = conn.getresponse()
    events, current = [], {}
    if resp.status != 200 or not read_all:
        return resp.status, dict(resp.getheaders()), resp, conn
    while True:
        line = resp.fp.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line == "":
            if "event" in current:
                events.append((time.monotonic(), int(current["id"]), current["event"],
                               json.loads(current["data"])))
            current = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(": ")
        current[key] = value
    conn.close()
    return resp.status, dict(resp.getheaders()), events, None


def test_events_arrive_while_the_code_runs(kb):
    status, headers, events, _ = stream(
        kb, "live", "import time\nprint('first', flush=True)\ntime.sleep(2)\nprint('last')\n"
                    "from IPython.display import display, HTML\ndisplay(HTML('<i>x</i>'))\n"
                    "41 + 1")
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    kinds = [e[2] for e in events]
    assert kinds == ["stream", "stream", "display_data", "execute_result", "done"], kinds
    ids = [e[1] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events[0][3] == {"name": "stdout", "text": "first\n"}
    assert events[1][0] - events[0][0] > 1.5, "the first event came before the code finished"
    assert "text/html" in events[2][3]["data"]
    done = events[-1][3]
    assert done["status"] == "success" and done["return_value"] == "42"
    assert "outputs" not in done and done["output"] == "first\nlast\n"


def test_stream_errors_and_caps(kb):
    status, _, events, _ = stream(kb, "capped", "print('x' * 50000)\n1/0")
    kinds = [e[2] for e in events]
    assert kinds[-2:] == ["error", "done"], kinds
    streamed = "".join(e[3]["text"] for e in events if e[2] == "stream")
    assert len(streamed) <= 10000, "the stream obeys the same cap as the JSON result"
    assert events[-1][3]["truncated"] is True
    # Errors before the execution starts are plain HTTP errors.
    resp = kb.request("POST", "/sessions/capped/execute", raw=b'{"code": 1}',
                      headers={"Accept": "text/event-stream"})
    assert resp.status == 422


def test_a_client_that_leaves_interrupts_the_execution(kb):
    kb.execute("leaver", "count = 0")
    status, headers, resp, conn = stream(
        kb, "leaver", "import time\nfor i in range(600):\n    count = i\n"
                      "    print(i, flush=True)\n    time.sleep(0.2)", read_all=False)
    assert status == 200
    resp.fp.readline()
    time.sleep(1)
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    time.sleep(3)
    first = kb.execute("leaver", "count")
    time.sleep(1)
    second = kb.execute("leaver", "count")
    assert first["status"] == "success"
    assert first["return_value"] == second["return_value"], "the loop was stopped"
    assert int(first["return_value"]) < 100
    kb.log_count("client had gone")
    gone = [line for line in kb.logs().splitlines() if "client had gone" in line]
    assert len(gone) == 1 and headers["X-Request-Id"] in gone[0], "logged under its request id"


def raw_execute(kb, session, code, request_id):
    """Send an execute on a socket of its own; the socket is returned unread."""
    body = json.dumps({"code": code}).encode()
    sock = socket.create_connection(("127.0.0.1", kb.port))
    sock.sendall(f"POST /sessions/{session}/execute HTTP/1.1\r\nHost: kernelbox\r\n"
                 f"Authorization: Bearer {kb.key}\r\nX-Request-Id: {request_id}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                 .encode() + body)
    return sock


def test_a_client_that_leaves_a_plain_execute_stops_it_and_what_it_queued(kb):
    # A client that gives up (its own timeout, a crash) used to leave its code running for
    # nobody until the execution's timeout, and its retry waited in the queue behind it.
    kb.execute("quitter", "count = 0")
    running = raw_execute(kb, "quitter", "import time\nfor i in range(300):\n    count = i\n"
                                         "    time.sleep(0.1)", "quitter-running")
    time.sleep(0.5)
    queued = raw_execute(kb, "quitter", "queued_ran = True", "quitter-queued")
    time.sleep(0.3)
    queued.close()
    running.close()
    start = time.monotonic()
    first = kb.execute("quitter", "count")
    waited = time.monotonic() - start
    assert first["status"] == "success", first
    assert waited < 15, f"the next execute waited {waited:.1f} s for code nobody awaited"
    time.sleep(0.5)
    second = kb.execute("quitter", "count, 'queued_ran' in globals()")
    assert second["return_value"] == f"({first['return_value']}, False)", \
        "the loop went on, or the queued code ran"
    assert int(first["return_value"]) < 100
    kb.log_count("-> 499", at_least=2)
    lines = kb.logs().splitlines()
    for rid in ("quitter-running", "quitter-queued"):
        assert any(rid in line and "-> 499" in line for line in lines), rid
    assert any("quitter-running" in line and "client had gone" in line for line in lines)


def test_a_silent_stream_whose_client_leaves_is_stopped_within_seconds(kb):
    # A stream learnt of a departed client only when it next wrote: for silent code, at the
    # next keep-alive, 10 s later.
    kb.execute("quiet-leaver", "count = 0")
    status, _, resp, conn = stream(
        kb, "quiet-leaver", "import time\nfor i in range(600):\n    count = i\n"
                            "    time.sleep(0.1)", read_all=False)
    assert status == 200
    time.sleep(0.5)
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    start = time.monotonic()
    first = kb.execute("quiet-leaver", "count")
    waited = time.monotonic() - start
    assert first["status"] == "success", first
    assert waited < 6, f"the next execute waited {waited:.1f} s"
    assert int(first["return_value"]) < 60


def test_input_fails_at_once_and_says_so(kb):
    res = kb.execute("asks", "name = input('who? ')")
    assert res["status"] == "error"
    assert res["error"]["ename"] == "StdinNotImplementedError"
    assert "input" in res["error"]["evalue"].lower()


def test_matplotlib_makes_a_png_on_a_read_only_root(kb):
    res = kb.execute("plots", "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()",
                     timeout=60)
    png = [o["data"]["image/png"] for o in res["outputs"]
           if o["kind"] == "display_data" and "image/png" in o["data"]]
    assert png and base64.b64decode(png[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_update_display_and_clear_output_pass_through(kb):
    code = ("from IPython.display import display, clear_output\n"
            "h = display('one', display_id=True)\nh.update('two')\nclear_output(wait=True)")
    res = kb.execute("displays", code)
    kinds = [o["kind"] for o in res["outputs"]]
    assert kinds == ["display_data", "update_display_data", "clear_output"], kinds
    assert res["outputs"][0]["display_id"] == res["outputs"][1]["display_id"]
    assert res["outputs"][2]["data"] == {"wait": True}


def test_files_round_trip_through_pandas(kb):
    csv = b"city,temp\nOslo,3\nLima,19\n"
    resp = kb.request("PUT", "/sessions/files/files/in/cities.csv", raw=csv)
    assert resp.status == 200 and resp.json() == {"path": "in/cities.csv", "size": len(csv)}
    res = kb.execute("files", "import pandas as pd, matplotlib\nmatplotlib.use('Agg')\n"
                              "import matplotlib.pyplot as plt\n"
                              "df = pd.read_csv('in/cities.csv')\n"
                              "df['temp_f'] = df.temp * 9 / 5 + 32\n"
                              "df.to_csv('out.csv', index=False)\n"
                              "plt.bar(df.city, df.temp)\nplt.savefig('chart.png')\n"
                              "open('chart.png', 'rb').read()[:4]", timeout=60)
    assert res["status"] == "success", res
    listing = kb.get("/sessions/files/files").json()
    names = {e["name"]: e for e in listing["entries"]}
    assert names["in"]["type"] == "directory" and names["out.csv"]["type"] == "file"
    assert set(names["out.csv"]) == {"name", "size", "type", "modified"}
    assert listing["truncated"] is False
    out = kb.get("/sessions/files/files/out.csv")
    assert out.status == 200 and out.headers["Content-Type"] == "text/csv"
    assert out.body == b"city,temp,temp_f\nOslo,3,37.4\nLima,19,66.2\n"
    png = kb.get("/sessions/files/files/chart.png")
    assert png.headers["Content-Type"] == "image/png"
    code = "import hashlib\nhashlib.sha256(open('chart.png','rb').read()).hexdigest()"
    assert kb.execute("files", code)["return_value"].strip("'") == \
        __import__("hashlib").sha256(png.body).hexdigest(), "byte for byte"
    assert kb.get("/sessions/files/files/in/").json()["entries"][0]["name"] == "cities.csv"
    assert kb.delete("/sessions/files/files/in").status == 200
    assert kb.get("/sessions/files/files/in/cities.csv").status == 404


def test_a_huge_directory_lists_its_first_ten_thousand(kb):
    kb.execute("crowd", "import os\nos.mkdir('many')\n"
                        "for i in range(10050): open(f'many/{i:05d}', 'w').close()")
    listing = kb.get("/sessions/crowd/files/many/").json()
    assert listing["truncated"] is True and len(listing["entries"]) == 10000
    assert listing["entries"][0]["name"] == "00000"
    assert listing["entries"][-1]["name"] == "09999", "the first ten thousand by name"


def test_large_files_go_in_chunks(kb):
    blob = os.urandom(9 * 1024 * 1024 + 123)
    assert kb.request("PUT", "/sessions/big/files/blob.bin", raw=blob).status == 200
    res = kb.execute("big", "import hashlib\nhashlib.sha256(open('blob.bin','rb').read())"
                            ".hexdigest()")
    assert res["return_value"].strip("'") == __import__("hashlib").sha256(blob).hexdigest()
    back = kb.get("/sessions/big/files/blob.bin")
    assert back.status == 200 and back.body == blob


def test_paths_that_leave_the_working_directory_are_refused(kb):
    kb.execute("escape", "import os\nos.symlink('/etc', 'etc_link')\n"
                         "os.symlink('/etc/passwd', 'passwd_link')\nos.mkdir('sub')")
    for path in ["etc_link/passwd", "passwd_link", "etc_link/"]:
        resp = kb.get(f"/sessions/escape/files/{path}")
        assert resp.status == 422, (path, resp)
        assert "symlink" in resp.json()["detail"]
    resp = kb.request("PUT", "/sessions/escape/files/etc_link/evil", raw=b"x")
    assert resp.status == 422, resp
    for raw_path in ["/sessions/escape/files/../../etc/passwd",
                     "/sessions/escape/files/sub/../../x", "/sessions/escape/files/./x",
                     "/sessions/escape/files//etc/passwd"]:
        conn = http.client.HTTPConnection("127.0.0.1", kb.port, timeout=30)
        conn.putrequest("GET", raw_path, skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {kb.key}")
        conn.endheaders()
        status = conn.getresponse().status
        conn.close()
        assert status in (404, 422), (raw_path, status)
    # Deleting a symlink removes the link, not its target.
    assert kb.delete("/sessions/escape/files/passwd_link").status == 200
    assert kb.execute("escape", "import os\nos.path.exists('/etc/passwd')")["return_value"] == \
        "True"


def test_forged_file_helper_answers_are_checked(kb):
    # The session's code owns the kernel, so it can make the file helper answer anything:
    # the daemon keeps only fields it knows, of the types it expects, and says when an
    # answer is unusable.
    kb.execute("forger", """
import json, kernelbox_files
class Raw:
    def __init__(self, fields): self.text = json.dumps(fields)
    def __repr__(self): return self.text
kernelbox_files.listdir = lambda path: Raw({"ok": True, "truncated": "yes", "entries": [
    1, None, {"name": None, "size": "big", "type": 7, "modified": 1e300},
    {"name": "a", "modified": -5}, {"name": "b", "modified": "noon"}]})
kernelbox_files.remove = lambda path: Raw({"ok": False, "error": "weird", "message": None})
kernelbox_files.read = lambda path, offset, length: Raw({"ok": True, "size": 3,
                                                        "data": "not base64!"})
""")
    listing = kb.get("/sessions/forger/files/").json()
    assert listing["entries"] == [{"modified": "9999-12-31T23:59:59.000000+00:00"},
                                  {"name": "a", "modified": "1970-01-01T00:00:00.000000+00:00"},
                                  {"name": "b"}], listing
    assert listing["truncated"] is False
    resp = kb.delete("/sessions/forger/files/x")
    assert resp.status == 422 and resp.json()["detail"] == "file operation failed: weird", resp
    resp = kb.get("/sessions/forger/files/x")
    assert resp.status == 500 and "not base64" in resp.json()["detail"], resp
    assert kb.execute("forger", "40 + 2")["return_value"] == "42"
    assert kb.get("/health").status == 200


def test_upload_caps_and_a_full_tmpfs():
    d = kbtest.Daemon(env={"KERNELBOX_MAX_UPLOAD": "2MiB", "KERNELBOX_TMPFS_SIZE": "3MiB"})
    d.start()
    try:
        resp = d.request("PUT", "/sessions/full/files/a.bin", raw=os.urandom(2 * 1024 * 1024 + 1))
        assert resp.status == 413, resp
        assert d.request("PUT", "/sessions/full/files/b.bin",
                         raw=os.urandom(2 * 1024 * 1024)).status == 200
        resp = d.request("PUT", "/sessions/full/files/c.bin", raw=os.urandom(2 * 1024 * 1024))
        assert resp.status == 507, resp
        assert "full" in resp.json()["detail"]
        assert d.get("/sessions/full/files/c.bin").status == 404, "no half-written file"
        res = d.execute("full", "import os\nos.remove('b.bin')\n"
                                "open('big.bin', 'wb').write(os.urandom(2500000))")
        assert res["status"] == "success", res
        resp = d.get("/sessions/full/files/big.bin")
        assert resp.status == 422 and "KERNELBOX_MAX_UPLOAD" in resp.json()["detail"], resp
        assert d.get("/sessions/none/files").status == 404, "reading does not create a session"
    finally:
        assert d.delete("/kernels").status == 200
        assert d.stop() == 0
        d.assert_clean()
        d.remove_runtime_dir()


def test_a_fifo_in_the_working_directory_is_refused_at_once():
    # Reading a FIFO waited for a writer that never came: the request got 504 after 60 s,
    # and the kernel stayed stuck in it, so the session's next execute ran into its timeout.
    d = kbtest.Daemon()
    d.start()
    try:
        assert d.execute("fifo", "import os\nos.mkfifo('pipe')\nkept = 1")["status"] == "success"
        for method, raw in (("GET", None), ("PUT", b"data")):
            start = time.monotonic()
            resp = d.request(method, "/sessions/fifo/files/pipe", raw=raw, timeout=30)
            assert resp.status == 422, resp
            assert "not a regular file" in resp.json()["detail"], resp
            assert time.monotonic() - start < 10
        res = d.execute("fifo", "kept", timeout=5)
        assert (res["status"], res["return_value"]) == ("success", "1"), res
    finally:
        assert d.delete("/kernels").status == 200
        assert d.stop() == 0
        d.assert_clean()
        d.remove_runtime_dir()


def test_a_file_operation_past_its_time_is_interrupted_then_the_kernel_restarted():
    d = kbtest.Daemon(env={"KERNELBOX_FILE_TIMEOUT": "2", "KERNELBOX_INTERRUPT_GRACE": "1"})
    d.start()
    try:
        # A step that hangs but can be interrupted: 504 once it is, and the kernel is free at
        # once afterwards, with its state.
        d.execute("slow", "import time, kernelbox_files\nkept = 1\n"
                          "kernelbox_files.listdir = lambda path: time.sleep(3600)")
        start = time.monotonic()
        resp = d.get("/sessions/slow/files/")
        took = time.monotonic() - start
        assert resp.status == 504, resp
        assert "KERNELBOX_FILE_TIMEOUT (2 s)" in resp.json()["detail"], resp
        assert 1.5 < took < 10, took
        start = time.monotonic()
        res = d.execute("slow", "kept", timeout=5)
        assert (res["status"], res["return_value"], res["kernel_restarted"]) == \
            ("success", "1", False), res
        assert time.monotonic() - start < 3
        # One that ignores the interrupt: the kernel is replaced, as for code past its timeout.
        d.execute("slow", "import signal\ndef stuck(path):\n"
                          "    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                          "    time.sleep(3600)\n"
                          "kernelbox_files.listdir = stuck")
        resp = d.get("/sessions/slow/files/")
        assert resp.status == 504, resp
        res = d.execute("slow", "'kept' in globals()", timeout=30)
        assert (res["status"], res["return_value"], res["kernel_restarted"]) == \
            ("success", "False", True), res
        assert d.log_count("files.killed") == 1
    finally:
        assert d.delete("/kernels").status == 200
        assert d.stop() == 0
        d.assert_clean()
        d.remove_runtime_dir()
