"""Per-session settings at creation: limits within the tenant's maxima, environment
variables, the session's own startup code, and network egress when the daemon allows it."""

import socket
import threading

import kbtest
from kbtest import Daemon, container_of, finish



def test_limits_env_and_startup_code_apply_and_show():
    d = Daemon(env={"KERNELBOX_STARTUP_CODE": "order = ['daemon']",
                    "KERNELBOX_SHUTDOWN": "keep"}).start()
    body = {"limits": {"memory": "128MiB", "cpus": 0.5, "pids": 64, "tmpfs": "16MiB"},
            "env": {"GREETING": "hello", "API_TOKEN": "not-for-logs"},
            "startup_code": "import os\norder.append(os.environ['GREETING'])",
            "tags": {"team": "x"}}
    resp = d.post("/sessions/tuned", body)
    assert resp.status == 200, resp
    k = resp.json()
    assert k["limits"] == {"memory_bytes": 128 << 20, "cpus": 0.5, "pids": 64,
                           "tmpfs_bytes": 16 << 20}
    assert k["env"] == {"GREETING": "hello", "API_TOKEN": "<redacted>"}
    assert k["startup_code"] == body["startup_code"] and k["network"] == "none"
    host = container_of(k["kernel_id"])["HostConfig"]
    assert host["Memory"] == 128 << 20 and host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 64 and "size=16777216" in host["Tmpfs"]["/tmp"]
    res = d.execute("tuned", "import os\n(order, os.environ['API_TOKEN'])")
    assert res["return_value"] == "(['daemon', 'hello'], 'not-for-logs')"
    assert "not-for-logs" not in d.logs(), "secret-looking variables are never logged"
    # The settings survive a daemon restart.
    d.kill()
    d2 = Daemon(env={"KERNELBOX_STARTUP_CODE": "order = ['daemon']"}, key=d.key,
                runtime_dir=d.runtime_dir).start()
    try:
        again = d2.get("/sessions/tuned").json()
        assert again["limits"] == k["limits"] and again["env"] == k["env"]
        assert again["tags"] == {"team": "x"}
        # A restart runs both startup codes again, with the same settings.
        assert d2.post(f"/kernels/{k['kernel_id']}/restart").status == 200
        assert d2.execute("tuned", "order")["return_value"] == "['daemon', 'hello']"
        assert container_of(k["kernel_id"])["HostConfig"]["Memory"] == 128 << 20
    finally:
        finish(d2, d2)


def test_bad_settings_are_refused(kb):
    cases = [
        ({"limits": {"memory": "4GiB"}}, 422, "maximum"),
        ({"limits": {"cpus": 8}}, 422, "maximum"),
        ({"limits": {"pids": 100000}}, 422, "pids"),
        ({"limits": {"memory": "1k"}}, 422, "memory"),
        ({"limits": {"disk": 1}}, 422, "unknown field"),
        ({"env": {"1BAD": "x"}}, 422, "variable name"),
        ({"env": {"KERNELBOX_API_KEY": "x"}}, 422, "variable name"),
        ({"env": {"OK": 5}}, 422, "string"),
        ({"startup_code": 5}, 422, "startup_code"),
        ({"network": "host"}, 422, "network"),
        ({"network": "egress"}, 422, "KERNELBOX_ALLOW_EGRESS"),
        # the client's own code failing is the client's error: 422, not to retry as is
        ({"startup_code": "1/0"}, 422, "ZeroDivisionError"),
    ]
    for body, status, words in cases:
        resp = kb.post("/sessions/badset", body)
        assert resp.status == status, (body, resp)
        assert words in resp.json()["detail"], (body, resp.json())
        assert kb.get("/sessions/badset").status == 404
    # A session whose start failed is removed in the background.
    kbtest.wait_for(lambda: kb.containers() == [], 30, "the failed session's container to go")
    # A session that exists keeps its own settings, but what no new session could have is
    # refused for it too, rather than answered as if it had been taken.
    assert kb.post("/sessions/badset").status == 200
    for body, status, words in cases[:-1]:
        resp = kb.post("/sessions/badset", body)
        assert resp.status == status, (body, resp)
        assert words in resp.json()["detail"], (body, resp.json())
    resp = kb.post("/sessions/badset", {"limits": {"tmpfs": 2 ** 63}})
    assert resp.status == 422 and "maximum" in resp.json()["detail"], resp
    same = kb.post("/sessions/badset", {"limits": {"memory": "64MiB"}})
    assert same.status == 200 and same.json()["limits"]["memory_bytes"] == 512 << 20, same


def test_tenant_maxima_from_the_keys_file():
    import hashlib
    import os
    key = "tenant-big-" + os.urandom(12).hex()
    small_key = "tenant-small-" + os.urandom(12).hex()
    path = f"/run/kbt-keys-{os.urandom(4).hex()}.txt"
    with open(path, "w", encoding="ascii") as f:
        f.write(f"big {hashlib.sha256(key.encode()).hexdigest()}\n"
                "big quota memory=1GiB cpus=2\n"
                f"small {hashlib.sha256(small_key.encode()).hexdigest()}\n"
                "small quota memory=96MiB cpus=0.25 pids=32 tmpfs=8MiB\n")
    os.chmod(path, 0o600)
    # A warm pool made with the daemon's defaults, which the small tenant may not have.
    d = Daemon(env={"KERNELBOX_API_KEYS_FILE": path, "KERNELBOX_API_KEY": None,
                    "KERNELBOX_POOL_SIZE": "1"}, key=key).start()
    small = Daemon.__new__(Daemon)
    small.__dict__.update(d.__dict__)
    small.key = small_key
    try:
        resp = d.post("/sessions/roomy", {"limits": {"memory": "1GiB", "cpus": 2}})
        assert resp.status == 200, resp
        assert resp.json()["limits"]["memory_bytes"] == 1 << 30
        assert d.post("/sessions/greedy", {"limits": {"memory": "2GiB"}}).status == 422
        # A tenant whose maxima lie under the defaults gets its maxima, never a warm kernel
        # made with more.
        kbtest.wait_for(lambda: len(d.containers()) == 2, 60, "the warm kernel")
        resp = small.post("/sessions/tight")
        assert resp.status == 200, resp
        assert resp.json()["limits"] == {"memory_bytes": 96 << 20, "cpus": 0.25, "pids": 32,
                                         "tmpfs_bytes": 8 << 20}, resp.json()
        tight = resp.json()
        host = container_of(tight["kernel_id"])["HostConfig"]
        assert host["Memory"] == 96 << 20 and host["NanoCpus"] == 250_000_000
        assert host["PidsLimit"] == 32 and "size=8388608" in host["Tmpfs"]["/tmp"]
        assert small.execute("tight", "1 + 1")["return_value"] == "2"
        assert small.delete("/kernels").status == 200
    finally:
        finish(d, d)
        os.unlink(path)


def _listener(host):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, 0))
    srv.listen(8)

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.sendall(b"hello from the host\n")
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv


GATEWAY = ("import socket, struct\n"
           "def gateway():\n"
           "    for line in open('/proc/net/route').read().splitlines()[1:]:\n"
           "        f = line.split()\n"
           "        if f[1] == '00000000':\n"
           "            return socket.inet_ntoa(struct.pack('<L', int(f[2], 16)))\n"
           "def probe(host, port):\n"
           "    try:\n"
           "        s = socket.create_connection((host, port), timeout=3)\n"
           "        return s.recv(100).decode()\n"
           "    except OSError as e:\n"
           "        return type(e).__name__\n")


def test_egress_reaches_out_but_not_the_host_loopback_or_other_sessions():
    d = Daemon(env={"KERNELBOX_ALLOW_EGRESS": "1"}).start()
    public = _listener("0.0.0.0")
    loopback = _listener("127.0.0.1")
    try:
        k = d.post("/sessions/out", {"network": "egress"}).json()
        assert k["network"] == "egress"
        d.post("/sessions/out2", {"network": "egress"})
        assert container_of(k["kernel_id"])["HostConfig"]["NetworkMode"].startswith(
            "kernelbox-egress-")
        d.execute("out", GATEWAY)
        d.execute("out2", "import socket, threading\nsrv = socket.socket()\n"
                          "srv.bind(('0.0.0.0', 7777))\nsrv.listen(1)\n"
                          "threading.Thread(target=srv.accept, daemon=True).start()")
        ip2 = d.execute("out2", "import socket\nsocket.gethostbyname(socket.gethostname())")
        ip2 = ip2["return_value"].strip("'")
        pub_port, lo_port = public.getsockname()[1], loopback.getsockname()[1]
        res = d.execute("out", f"(probe(gateway(), {pub_port}), probe(gateway(), {lo_port}), "
                               f"probe('{ip2}', 7777), probe('127.0.0.1', {lo_port}))")
        reached, loop_svc, sibling, own_lo = eval(res["return_value"])
        assert reached == "hello from the host\n", "egress works"
        assert loop_svc != "hello from the host\n", "host loopback services stay out of reach"
        assert own_lo != "hello from the host\n"
        assert sibling in ("TimeoutError", "ConnectionRefusedError", "OSError"), \
            f"another session must be unreachable: {sibling!r}"
        # ...although its listener works: from its own container it answers.
        d.execute("out2", GATEWAY)
        assert d.execute("out2", f"probe('{ip2}', 7777)")["return_value"] == "''"
        res = d.execute("out", "import os\nos.path.exists('/var/run/docker.sock')")
        assert res["return_value"] == "False"
        # A session without egress still has no network at all.
        res = d.execute("closed", "import os\nsorted(os.listdir('/sys/class/net'))")
        assert res["return_value"] == "['lo']"
    finally:
        public.close()
        loopback.close()
        finish(d, d)
