"""The HTTP surface: authentication, every 4xx, listings, deletion, configuration errors and an
unreachable Docker Engine."""

import json
import os
import shutil
import socket
import subprocess

import kbtest


def test_health_needs_no_key(kb):
    resp = kb.get("/health", auth=False)
    assert resp.status == 200
    body = resp.json()
    assert body["status"] == "ok" and body["service"] == "kernelbox" and body["version"]
    assert resp.headers.get("X-Request-Id")


def test_everything_else_needs_the_key(kb):
    for method, path in [("GET", "/"), ("GET", "/sessions"), ("POST", "/sessions/x"),
                         ("POST", "/sessions/x/execute"), ("GET", "/kernels"),
                         ("DELETE", "/kernels"), ("GET", "/openapi.json")]:
        resp = kb.request(method, path, auth=False)
        assert resp.status == 401, (method, path, resp)
        assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert "detail" in resp.json()
        resp = kb.request(method, path, headers={"Authorization": "Bearer wrong-key-000000"})
        assert resp.status == 401, (method, path, resp)
    assert kbtest.containers(f"kernelbox.daemon={kb.instance}") == []


def test_root_and_openapi(kb):
    root = kb.get("/").json()
    assert root["service"] == "kernelbox"
    assert {"health", "openapi", "sessions", "kernels"} <= set(root["links"])
    spec = kb.get("/openapi.json")
    assert spec.status == 200
    doc = spec.json()
    assert doc["openapi"].startswith("3.")
    yaml_doc = kb.get("/openapi.yaml")
    assert yaml_doc.status == 200 and b"openapi:" in yaml_doc.body


def test_request_id_is_echoed_when_valid(kb):
    resp = kb.get("/health", auth=False, headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    resp = kb.get("/health", auth=False, headers={"X-Request-Id": "bad id\x7f"})
    assert resp.headers["X-Request-Id"] != "bad id\x7f"


def exchange(kb, data, seconds=10):
    """Send raw bytes on a connection of their own; everything the daemon answered before
    it closed the connection (or seconds passed: then None)."""
    sock = socket.create_connection(("127.0.0.1", kb.port), timeout=seconds)
    try:
        sock.sendall(data)
        out = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return out
            out += chunk
    finally:
        sock.close()


def test_a_request_whose_length_is_in_doubt_is_refused_and_its_connection_closed(kb):
    # A proxy in front that read the body's length otherwise would smuggle a request past
    # itself, or hand one client's answer to another on a shared connection.
    body = b'{"code": "smuggled = 1"}'
    auth = f"Authorization: Bearer {kb.key}\r\n".encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    start = b"POST /sessions/framing/execute HTTP/1.1\r\nHost: kernelbox\r\n" + auth
    follow = b"GET /health HTTP/1.1\r\nHost: kernelbox\r\n\r\n"
    cases = {
        b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body:
            "more than one Content-Length header",
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked:
            "both Content-Length and Transfer-Encoding",
        b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked:
            "only a single \"chunked\"",
        b"Content-Length : %d\r\n\r\n" % len(body) + body: "a space before the colon",
    }
    for headers, detail in cases.items():
        out = exchange(kb, start + headers + follow)
        assert out is not None, (headers, "the connection stayed open")
        assert out.count(b"HTTP/1.1 ") == 1, (headers, out)
        assert out.startswith(b"HTTP/1.1 400 "), (headers, out)
        assert detail in json.loads(out.split(b"\r\n\r\n", 1)[1])["detail"], (headers, out)
    # HTTP/1.1 without Host is malformed too
    out = exchange(kb, b"GET /health HTTP/1.1\r\n\r\n")
    assert out is not None and out.startswith(b"HTTP/1.1 400 "), out
    # none of them ran: the session was never even made
    assert kb.get("/sessions/framing").status == 404
    # one length, or chunked alone, is as before, and the connection stays open for the
    # next request
    for headers in (b"Content-Length: %d\r\n\r\n" % len(body) + body,
                    b"Transfer-Encoding: chunked\r\n\r\n" + chunked):
        out = exchange(kb, start.replace(b"Host:", b"Connection: close\r\nHost:") + headers)
        assert out is not None and out.startswith(b"HTTP/1.1 200 "), out
        out = exchange(kb, start + headers + follow.replace(b"\r\n\r\n",
                                                            b"\r\nConnection: close\r\n\r\n"))
        assert out is not None and out.count(b"HTTP/1.1 200 ") == 2, (headers, out)
    assert kb.execute("framing", "smuggled")["return_value"] == "1"


def test_bad_input_answers_4xx(kb):
    cases = [
        ("POST", "/sessions/x/execute", b"{not json", 400),
        ("POST", "/sessions/x/execute", b"\xff\xfe{}", 400),
        ("POST", "/sessions/x/execute", b"[" * 100 + b"]" * 100, 400),
        ("POST", "/sessions/x/execute", b"[]", 422),
        ("POST", "/sessions/x/execute", b"{}", 422),
        ("POST", "/sessions/x/execute", b'{"code": 5}', 422),
        ("POST", "/sessions/x/execute", b'{"code": "1", "language": "ruby"}', 422),
        ("POST", "/sessions/x/execute", b'{"code": "1", "timeout": 0.05}', 422),
        ("POST", "/sessions/x/execute", b'{"code": "1", "timeout": "soon"}', 422),
        ("POST", "/sessions/x/execute", b'{"code": "1", "colour": "red"}', 422),
        ("POST", "/sessions/-bad/execute", b'{"code": "1"}', 422),
        ("POST", "/sessions/" + "a" * 65, b"", 422),
        ("POST", "/sessions/x", b'{"tags": {"a": 1}}', 422),
        ("POST", "/kernels", b'{"name": "no spaces"}', 422),
        ("POST", "/kernels/x/execute/retry", b'{"code": "1"}', 404),
        ("GET", "/sessions/nope", None, 404),
        ("DELETE", "/sessions/nope", None, 404),
        ("GET", "/kernels/nope", None, 404),
        ("POST", "/kernels/nope/execute", b'{"code": "1"}', 404),
        ("POST", "/kernels/nope/restart", None, 404),
        ("GET", "/no/such/path", None, 404),
        ("PUT", "/sessions", None, 405),
        ("DELETE", "/health", None, 405),
        ("DELETE", "/sessions/x/files", None, 405),
        ("PUT", "/sessions/x/files/", b"data", 405),
    ]
    for method, path, raw, expected in cases:
        resp = kb.request(method, path, raw=raw)
        assert resp.status == expected, (method, path, raw, resp)
        assert isinstance(resp.json()["detail"], str), resp
    resp = kb.request("PUT", "/sessions")
    assert resp.headers.get("Allow") == "GET"
    # OPTIONS that is not a CORS preflight is not served; Allow names what the path serves
    for path, allow in (("/health", "GET"), ("/sessions/x", "GET, POST, DELETE"),
                        ("/sessions/x/execute", "POST"),
                        ("/sessions/x/files/a.txt", "GET, PUT, DELETE"),
                        ("/sessions/x/files", "GET"), ("/sessions/x/files/", "GET")):
        resp = kb.request("OPTIONS", path)
        assert (resp.status, resp.headers.get("Allow")) == (405, allow), (path, resp)
    assert kb.request("OPTIONS", "/no/such/path").status == 404
    # None of this created anything.
    assert kb.get("/sessions").json()["sessions"] == []


def test_body_over_the_cap_is_413(kb):
    resp = kb.request("POST", "/sessions/x/execute",
                      raw=json.dumps({"code": "x" * (1024 * 1024 + 10)}).encode())
    assert resp.status == 413, resp
    assert kb.get("/sessions").json()["sessions"] == []


def test_name_taken_is_409(kb):
    assert kb.post("/kernels", {"name": "taken"}).status == 201
    resp = kb.post("/kernels", {"name": "taken"})
    assert resp.status == 409, resp
    resp = kb.post("/kernels", {"session_name": "taken"})
    assert resp.status == 409, resp


def test_kernel_object_and_listings(kb):
    created = kb.post("/sessions/listed", {"tags": {"team": "a"}})
    assert created.status == 200
    k = created.json()
    for field in ("kernel_id", "name", "session_name", "status", "created_at", "last_used_at",
                  "age_seconds", "attempt_count", "tags", "connection_file", "image", "limits"):
        assert field in k, field
    assert k["connection_file"] is None
    assert k["session_name"] == "listed" and k["tags"] == {"team": "a"}
    assert k["status"] == "running"
    assert k["limits"]["memory_bytes"] == 512 * 1024 * 1024
    again = kb.post("/sessions/listed").json()
    assert again["kernel_id"] == k["kernel_id"], "get-or-create must not create twice"
    sessions = kb.get("/sessions").json()["sessions"]
    assert [s["kernel_id"] for s in sessions] == [k["kernel_id"]]
    kernels = kb.get("/kernels").json()["kernels"]
    assert [x["kernel_id"] for x in kernels] == [k["kernel_id"]]
    for ident in (k["kernel_id"], "listed"):
        got = kb.get(f"/kernels/{ident}").json()
        assert got["alive"] is True and got["kernel"]["kernel_id"] == k["kernel_id"]


def test_delete_leaves_no_container_and_no_directory(kb):
    kb.execute("gone", "open('/tmp/x', 'w').write('x')")
    assert len(kb.containers()) == 1
    assert len(kb.session_folders()) == 1
    resp = kb.delete("/sessions/gone")
    assert resp.status == 200 and resp.json() == {"destroyed": True}
    assert kb.containers() == []
    assert kb.session_dirs() == []
    assert kb.get("/sessions/gone").status == 404
    # The name is free again and starts from nothing.
    assert kb.execute("gone", "import os\nos.path.exists('/tmp/x')")["return_value"] == "False"


def test_delete_all_kernels(kb):
    ids = {kb.post("/kernels", {"name": f"many{i}"}).json()["kernel_id"] for i in range(3)}
    resp = kb.delete("/kernels")
    assert resp.status == 200
    assert set(resp.json()["destroyed"]) == ids
    assert kb.containers() == []


def test_engine_unreachable_is_503():
    d = kbtest.Daemon(env={"KERNELBOX_DOCKER_SOCKET": "/nonexistent/docker.sock"}).start()
    try:
        assert d.get("/health", auth=False).status == 200
        resp = d.post("/sessions/x")
        assert resp.status == 503, resp
        assert "Docker Engine unreachable" in resp.json()["detail"]
        resp = d.post("/sessions/x/execute", {"code": "1"})
        assert resp.status == 503, resp
        assert d.get("/sessions").json()["sessions"] == []
    finally:
        assert d.stop() == 0
        d.remove_runtime_dir()


def _start_failure(env):
    full = {"PATH": os.environ["PATH"], "KERNELBOX_API_KEY": "k" * 32,
            "KERNELBOX_RUNTIME_DIR": "/run/kbt-config"}
    full.update(env)
    return subprocess.run([kbtest.DAEMON], env=full, capture_output=True, text=True, timeout=30)


def test_invalid_configuration_stops_startup_naming_the_variable():
    for name, value in [("KERNELBOX_MEMORY_LIMIT", "lots"), ("KERNELBOX_CPUS", "0"),
                        ("KERNELBOX_LISTEN", "8080"), ("KERNELBOX_EXECUTION_TIMEOUT", "-1"),
                        ("KERNELBOX_OUTPUT_CHAR_LIMIT", "ten"), ("KERNELBOX_MAX_RETRIES", "0"),
                        ("KERNELBOX_PIDS_LIMIT", "2"), ("KERNELBOX_TMPFS_SIZE", "1b"),
                        ("KERNELBOX_MAX_BODY", "9999999999999"), ("KERNELBOX_API_KEY", "short"),
                        ("KERNELBOX_RUNTIME_DIR", "relative/path"),
                        ("KERNELBOX_IMAGE", "bad image name")]:
        out = _start_failure({name: value})
        assert out.returncode == 2, (name, value, out)
        assert name in out.stderr, (name, out.stderr)
    out = _start_failure({"KERNELBOX_IMAGE": "kernelbox/no-such-image:1"})
    assert out.returncode == 1 and "not found" in out.stderr, out
    if os.path.isdir("/run/kbt-config"):
        assert [f for f in os.listdir("/run/kbt-config") if f not in ("secret", "lock")] == []
        shutil.rmtree("/run/kbt-config")


def test_generated_key_is_printed_once_and_never_logged():
    d = kbtest.Daemon(env={"KERNELBOX_API_KEY": None}).start()
    try:
        banner = d.stdout.decode()
        key = next(line.strip() for line in banner.splitlines()
                   if len(line.strip()) == 48 and line.strip().isalnum())
        assert banner.count(key) == 2, "the key and one curl example"
        d.key = key
        assert d.get("/sessions").status == 200
        d.key = "wrong-wrong-wrong-wrong"
        assert d.get("/sessions").status == 401
    finally:
        assert d.stop() == 0
        d.remove_runtime_dir()
    assert key not in d.logs()


def test_one_daemon_per_runtime_directory(kb):
    out = subprocess.run([kbtest.DAEMON], env={"PATH": os.environ["PATH"],
                                                "KERNELBOX_API_KEY": "k" * 32,
                                                "KERNELBOX_LISTEN": f"127.0.0.1:{kbtest.free_port()}",
                                                "KERNELBOX_RUNTIME_DIR": kb.runtime_dir},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "another kernelboxd already uses" in out.stderr, out.stderr
    assert kb.get("/health", auth=False).status == 200
