"""Tenants: keys from a file, sessions scoped to their tenant, quotas, the global cap, CORS and
the HTTP edge (connection limits and slow clients)."""

import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import kbtest
from kbtest import Daemon, as_key, finish, sha, wait_for


def keys_file(lines, mode=0o600):
    path = f"/run/kbt-keys-{os.urandom(4).hex()}.txt"
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, mode)
    return path





KEY_A = "tenant-a-" + os.urandom(12).hex()
KEY_B = "tenant-b-" + os.urandom(12).hex()


def two_tenant_daemon(extra=(), env=None):
    path = keys_file(["# two tenants", f"alpha {sha(KEY_A)}", "", f"beta  {sha(KEY_B)}  # b",
                      *extra])
    d = Daemon(env={"KERNELBOX_API_KEYS_FILE": path, "KERNELBOX_API_KEY": None, **(env or {})},
               key=KEY_A).start()
    return d, as_key(d, KEY_A), as_key(d, KEY_B), path


def test_tenants_never_see_each_other():
    d, a, b, path = two_tenant_daemon()
    try:
        ra = a.execute("demo", "who = 'alpha'\nopen('/tmp/mark', 'w').write('a')")
        rb = b.execute("demo", "who = 'beta'")
        assert ra["status"] == rb["status"] == "success"
        assert a.execute("demo", "who")["return_value"] == "'alpha'"
        assert b.execute("demo", "who")["return_value"] == "'beta'"
        assert b.execute("demo", "import os\nos.path.exists('/tmp/mark')")["return_value"] == "False"
        ka = a.get("/sessions/demo").json()
        kb_ = b.get("/sessions/demo").json()
        assert ka["kernel_id"] != kb_["kernel_id"]
        assert len(d.containers()) == 2
        labels = {kbtest.docker("inspect", "-f", "{{index .Config.Labels \"kernelbox.tenant\"}}",
                                c).strip() for c in d.containers()}
        assert labels == {"alpha", "beta"}
        # Every endpoint answers 404 for the other tenant's kernel.
        kid = ka["kernel_id"]
        for method, path_, body in [("GET", f"/kernels/{kid}", None),
                                    ("DELETE", f"/kernels/{kid}", None),
                                    ("POST", f"/kernels/{kid}/execute", {"code": "who"}),
                                    ("POST", f"/kernels/{kid}/execute/retry", {"code": "who"}),
                                    ("POST", f"/kernels/{kid}/restart", None),
                                    ("POST", f"/kernels/{kid}/interrupt", None)]:
            resp = b.request(method, path_, body=body)
            assert resp.status == 404, (method, path_, resp)
        assert [s["kernel_id"] for s in b.get("/sessions").json()["sessions"]] == [kb_["kernel_id"]]
        assert [k["kernel_id"] for k in b.get("/kernels").json()["kernels"]] == [kb_["kernel_id"]]
        # DELETE /kernels removes only the caller's.
        assert b.delete("/kernels").json()["destroyed"] == [kb_["kernel_id"]]
        assert a.execute("demo", "who")["return_value"] == "'alpha'"
    finally:
        finish(d, a, b)
        os.unlink(path)


def test_hash_key_prints_the_line_form():
    out = subprocess.run([kbtest.DAEMON, "hash-key"], input="a-key-of-some-length\n",
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert out.stdout.strip() == sha("a-key-of-some-length")
    out = subprocess.run([kbtest.DAEMON, "hash-key"], input="short\n", capture_output=True,
                         text=True, timeout=10)
    assert out.returncode != 0


def _startup_error(lines, mode=0o600):
    path = keys_file(lines, mode)
    try:
        env = {"PATH": os.environ["PATH"], "KERNELBOX_API_KEYS_FILE": path,
               "KERNELBOX_RUNTIME_DIR": "/run/kbt-keys-startup"}
        return subprocess.run([kbtest.DAEMON], env=env, capture_output=True, text=True,
                              timeout=30)
    finally:
        os.unlink(path)
        subprocess.run(["rm", "-rf", "/run/kbt-keys-startup"])


def test_bad_keys_files_stop_startup():
    good = f"alpha {sha(KEY_A)}"
    cases = [
        ([good, "beta not-a-hash"], "line 2"),
        ([good, f"beta {sha(KEY_A)}"], "already listed"),
        ([good, f"bad/name {sha(KEY_B)}"], "line 2"),
        ([good, "alpha quota sessions=1", "alpha quota sessions=2"], "second quota line"),
        ([good, "alpha quota colour=red"], "unknown"),
        ([good, f"beta {sha(KEY_B)} extra"], "line 2"),
    ]
    for lines, expected in cases:
        out = _startup_error(lines)
        assert out.returncode != 0, lines
        assert "KERNELBOX_API_KEYS_FILE" in out.stderr and expected in out.stderr, out.stderr
    out = _startup_error([good], mode=0o640)
    assert out.returncode != 0 and "readable by group or others" in out.stderr, out.stderr


def test_sighup_reloads_the_keys():
    d, a, b, path = two_tenant_daemon()
    key_c = "tenant-c-" + os.urandom(12).hex()
    c = as_key(d, key_c)
    try:
        assert c.get("/sessions").status == 401
        with open(path, "w", encoding="ascii") as f:
            f.write(f"alpha {sha(KEY_A)}\ngamma {sha(key_c)}\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: c.get("/sessions").status == 200, 10, "the new key to work")
        assert b.get("/sessions").status == 401, "beta's key was removed"
        with open(path, "w", encoding="ascii") as f:
            f.write("this line is broken\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "keeping the keys in force" in d.logs(), 10, "the reload error")
        assert c.get("/sessions").status == 200, "a broken file keeps the old keys"
    finally:
        with open(path, "w", encoding="ascii") as f:
            f.write(f"alpha {sha(KEY_A)}\n")
        finish(d, a)
        os.unlink(path)


def test_quotas_answer_429_naming_the_quota():
    d, a, b, path = two_tenant_daemon(
        extra=["alpha quota sessions=1 executions=1", "beta quota rate=1 burst=3"])
    try:
        assert a.execute("one", "1")["status"] == "success"
        resp = a.post("/sessions/two")
        assert resp.status == 429, resp
        assert "sessions" in resp.json()["detail"] and int(resp.headers["Retry-After"]) >= 1
        # One execution at a time for alpha: a second one while the first runs is refused.
        box = {}
        t = threading.Thread(target=lambda: box.update(
            r=a.execute("one", "import time\ntime.sleep(2)\n'done'")))
        t.start()
        time.sleep(0.7)
        resp = a.post("/sessions/one/execute", {"code": "1"})
        assert resp.status == 429 and "executions" in resp.json()["detail"], resp
        t.join()
        assert box["r"]["return_value"] == "'done'"
        assert a.execute("one", "2")["return_value"] == "2", "the slot is free again"
        # beta: three requests at once, then one per second.
        statuses = [b.get("/sessions").status for _ in range(4)]
        assert statuses[:3] == [200, 200, 200] and statuses[3] == 429, statuses
        resp = b.get("/sessions")
        assert "request rate" in resp.json()["detail"]
        assert int(resp.headers["Retry-After"]) >= 1
        time.sleep(1.2)
        assert b.get("/sessions").status == 200
        # Health and readiness probes are never limited.
        assert all(b.get("/health", auth=False).status == 200 for _ in range(5))
    finally:
        time.sleep(1.5)
        finish(d, a, b)
        os.unlink(path)


def test_global_cap_answers_503():
    d, a, b, path = two_tenant_daemon(env={"KERNELBOX_MAX_SESSIONS": "1"})
    try:
        assert a.execute("only", "1")["status"] == "success"
        resp = b.post("/sessions/more")
        assert resp.status == 503, resp
        assert "capacity" in resp.json()["detail"] and resp.headers.get("Retry-After")
    finally:
        finish(d, a, b)
        os.unlink(path)


def test_cors_only_for_listed_origins():
    d = Daemon(env={"KERNELBOX_CORS_ORIGINS": "https://app.example,http://localhost:3000"})
    d.start()
    try:
        pre = d.request("OPTIONS", "/sessions/x/execute", auth=False, headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert pre.status == 204, pre
        assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "POST" in pre.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in pre.headers
        bad = d.request("OPTIONS", "/sessions/x/execute", auth=False, headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert bad.status == 403 and "Access-Control-Allow-Origin" not in bad.headers
        real = d.get("/sessions", headers={"Origin": "http://localhost:3000"})
        assert real.status == 200
        assert real.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert real.headers.get("Vary") == "Origin"
        other = d.get("/sessions", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        finish(d)
    plain = Daemon().start()
    try:
        resp = plain.get("/sessions", headers={"Origin": "https://app.example"})
        assert "Access-Control-Allow-Origin" not in resp.headers
        pre = plain.request("OPTIONS", "/sessions", auth=False, headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "GET"})
        assert pre.status == 403
    finally:
        finish(plain)
    out = subprocess.run([kbtest.DAEMON], env={"PATH": os.environ["PATH"],
                                                "KERNELBOX_CORS_ORIGINS": "*"},
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 2 and "KERNELBOX_CORS_ORIGINS" in out.stderr


def test_slow_clients_and_connection_limits():
    d = Daemon(env={"KERNELBOX_CONNECTION_TIMEOUT": "2",
                    "KERNELBOX_MAX_CONNECTIONS_PER_IP": "4"}).start()
    try:
        # Headers that never end.
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(b"GET /sessions HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(10)
        started = time.monotonic()
        try:
            data = s.recv(4096)
        except socket.timeout:
            data = None
        assert data is not None and not data.startswith(b"HTTP/1.1 200"), data
        assert time.monotonic() - started < 8, "the server closed the stalled connection"
        s.close()
        # A body dribbled one byte a second.
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(b"POST /sessions/x/execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                  + d.key.encode() + b"\r\nContent-Length: 100\r\n\r\n")
        closed_after = None
        started = time.monotonic()
        try:
            for _ in range(20):
                s.sendall(b"{")
                time.sleep(0.5)
        except OSError:
            closed_after = time.monotonic() - started
        s.close()
        assert closed_after is not None and closed_after < 8, closed_after
        # At most four connections from one address.
        held = [socket.create_connection(("127.0.0.1", d.port)) for _ in range(4)]
        extra = socket.create_connection(("127.0.0.1", d.port))
        extra.settimeout(5)
        extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = extra.recv(4096)
        except OSError:
            data = b""
        assert not data.startswith(b"HTTP/1.1 200"), data
        for c in held + [extra]:
            c.close()

        def healthy():
            # The daemon may not have seen the four closes yet: a refused connection is
            # "not yet", not a failure.
            try:
                return d.get("/health", auth=False).status == 200
            except OSError:
                return False

        wait_for(healthy, 10, "service again")
    finally:
        finish(d)


def test_unknown_runtime_stops_startup():
    out = subprocess.run([kbtest.DAEMON], env={"PATH": os.environ["PATH"],
                                                "KERNELBOX_API_KEY": "k" * 32,
                                                "KERNELBOX_RUNTIME": "no-such-runtime",
                                                "KERNELBOX_RUNTIME_DIR": "/run/kbt-runtime"},
                         capture_output=True, text=True, timeout=30)
    subprocess.run(["rm", "-rf", "/run/kbt-runtime"])
    assert out.returncode == 1 and "KERNELBOX_RUNTIME" in out.stderr, out.stderr


def engine_runtimes():
    out = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"],
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else {}


def run_under(runtime):
    """A session's kernel started under runtime: it answers, and the engine says so."""
    d = Daemon(env={"KERNELBOX_RUNTIME": runtime, "KERNELBOX_POOL_SIZE": "0"}).start()
    try:
        res = d.execute("rt", "import os\nos.getuid(), 6 * 7")
        assert res["status"] == "success" and res["return_value"] == "(1000, 42)", res
        [cid] = d.containers()
        assert kbtest.docker("inspect", "--format", "{{.HostConfig.Runtime}}", cid).strip() \
            == runtime
    finally:
        finish(d)


def test_a_runtime_the_engine_knows_is_used():
    # runc is always there: proves the setting reaches the engine, not only its refusal.
    run_under("runc")


@pytest.mark.skipif("runsc" not in engine_runtimes(),
                    reason="gVisor's runsc is not installed in this Docker Engine; install it "
                           "and register it as a runtime to run kernels under gVisor")
def test_kernels_run_under_gvisor_when_it_is_installed():
    run_under("runsc")
