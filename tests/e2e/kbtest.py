"""Helpers for kernelbox's end-to-end tests: start the real kernelboxd against the real Docker
Engine, talk to it over HTTP, and check that nothing is left behind."""

import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time

BUILD = os.environ.get("KERNELBOX_BUILD", os.path.join(os.path.dirname(__file__), "..", "..",
                                                       "build"))
DAEMON = os.path.abspath(os.path.join(BUILD, "kernelboxd"))
IMAGE = os.environ.get("KERNELBOX_IMAGE", "kernelbox/kernel:latest")

# Sanitizer builds (make asan-test): these options reach every daemon a test starts, and a
# report on a daemon's stderr fails the test (Daemon.stop(), Daemon.kill(), and conftest's
# check after every test).
SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
SANITIZER_REPORT = re.compile(r"==\d+==ERROR: (AddressSanitizer|LeakSanitizer)"
                              r"|==\d+==LeakSanitizer has encountered a fatal error"
                              r"|: runtime error: ")
DAEMONS = []  # every Daemon started in this run


def _sanitized(build):
    try:
        with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
            return "KERNELBOX_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


# A sanitizer build keeps freed memory in quarantine and its allocator ignores malloc_trim(),
# so there a daemon's RSS measures the sanitizer: tests skip their RSS bounds (LeakSanitizer
# checks for leaks instead).
SANITIZED = _sanitized(BUILD)


# The instance label of every daemon this test run started (kernelboxd derives it from the
# runtime directory); the run ends by checking that none of them left a container.
INSTANCES = set()


def instance_of(runtime_dir):
    return hashlib.sha256(runtime_dir.encode()).hexdigest()[:12]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker(*args, check=True):
    """Run the docker CLI and return its stdout."""
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def containers(label):
    """Ids of every container (running or not) carrying label."""
    return docker("ps", "-aq", "--no-trunc", "--filter", f"label={label}").split()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Daemon:
    """One kernelboxd on a free port with its own runtime directory and key."""

    def __init__(self, env=None, key=None, args=(), runtime_dir=None):
        self.port = free_port()
        self.key = key or "test-" + secrets.token_hex(16)
        self.runtime_dir = runtime_dir or f"/run/kbt-{secrets.token_hex(4)}"
        self.instance = instance_of(self.runtime_dir)
        INSTANCES.add(self.instance)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KERNELBOX_LISTEN": f"127.0.0.1:{self.port}",
            "KERNELBOX_RUNTIME_DIR": self.runtime_dir,
            "KERNELBOX_IMAGE": IMAGE,
            "KERNELBOX_API_KEY": self.key,
            "KERNELBOX_LOG_LEVEL": "debug",
            # A test daemon cleans up after itself; tests of the default (keep) say so.
            "KERNELBOX_SHUTDOWN": "remove",
            # Without warm kernels every container a test sees is a session's; test_pool.py
            # covers the pool.
            "KERNELBOX_POOL_SIZE": "0",
            # Quotas are tested in test_tenants.py; elsewhere they must not get in the way.
            "KERNELBOX_TENANT_RATE": "100000",
            "KERNELBOX_TENANT_BURST": "100000",
            "KERNELBOX_TENANT_MAX_SESSIONS": "1000",
            "KERNELBOX_TENANT_MAX_EXECUTIONS": "1000",
        }
        for name in SANITIZER_ENV:
            if name in os.environ:
                self.env[name] = os.environ[name]
        if env:
            self.env.update(env)
        for name in [k for k, v in self.env.items() if v is None]:
            del self.env[name]
        self.args = list(args)
        self.proc = None
        self.stdout = b""
        self.stderr = b""
        self._readers = []

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, wait=True):
        self.proc = subprocess.Popen([DAEMON, *self.args], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        DAEMONS.append(self)
        self._readers = [
            threading.Thread(target=self._drain, args=("stdout",), daemon=True),
            threading.Thread(target=self._drain, args=("stderr",), daemon=True),
        ]
        for t in self._readers:
            t.start()
        if wait:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"kernelboxd exited {self.proc.returncode}: "
                                         f"{self.stderr.decode(errors='replace')}")
                try:
                    if self.get("/health", auth=False).status == 200:
                        if self.env.get("KERNELBOX_SELF_SECCOMP", "1") != "0":
                            self.assert_confined()
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            raise AssertionError("kernelboxd did not answer /health within 20 s")
        return self

    def _drain(self, name):
        stream = getattr(self.proc, name)
        for chunk in iter(lambda: stream.read1(65536), b""):
            setattr(self, name, getattr(self, name) + chunk)

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("kernelboxd did not stop within the deadline")
        for t in self._readers:
            t.join(timeout=5)
        self.check_sanitizers()
        return self.proc.returncode

    def kill(self):
        """SIGKILL, as a crash would."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        for t in self._readers:
            t.join(timeout=5)
        self.check_sanitizers()

    def sanitizer_report(self):
        """The first AddressSanitizer, LeakSanitizer or UBSan report on stderr, or ""."""
        text = self.logs()
        found = SANITIZER_REPORT.search(text)
        if found is None:
            return ""
        # From the line before the report's first line: a fatal error's cause is printed there.
        start = text.rfind("\n", 0, max(text.rfind("\n", 0, found.start()), 0)) + 1
        return text[start:start + 8000]

    def check_sanitizers(self):
        """Raise AssertionError when the daemon's stderr holds a sanitizer report."""
        report = self.sanitizer_report()
        if report:
            raise AssertionError(f"kernelboxd reported a sanitizer error:\n{report}")

    def thread_status(self, field):
        """field of /proc/<pid>/task/<tid>/status for every thread of the daemon."""
        values = {}
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            with open(f"/proc/{self.proc.pid}/task/{tid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        values[tid] = line.split(":", 1)[1].strip()
        return values

    def assert_confined(self):
        """Every thread of the daemon runs under its seccomp filter, without new privileges.
        Every test daemon is checked this way, so the whole suite runs confined."""
        seccomp = self.thread_status("Seccomp")
        assert seccomp and set(seccomp.values()) == {"2"}, seccomp
        assert set(self.thread_status("NoNewPrivs").values()) == {"1"}

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def logs(self):
        return self.stderr.decode(errors="replace")

    def log_count(self, text, at_least=1, timeout=10):
        """How many times text is in the log, once it is there at least at_least times or
        timeout seconds have passed. The log reaches this process through a pipe and a reader
        thread, so a line the daemon wrote before it answered a request can land here just
        after the answer."""
        deadline = time.monotonic() + timeout
        while self.logs().count(text) < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.logs().count(text)

    # -- HTTP ----------------------------------------------------------------------------

    def request(self, method, path, body=None, auth=True, headers=None, timeout=180,
                raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if auth:
            hdrs.setdefault("Authorization", f"Bearer {self.key}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def execute(self, session, code, language=None, timeout=None, expect=200):
        body = {"code": code}
        if language:
            body["language"] = language
        if timeout is not None:
            body["timeout"] = timeout
        resp = self.post(f"/sessions/{session}/execute", body)
        assert resp.status == expect, resp
        return resp.json()

    # -- what is left behind -------------------------------------------------------------

    def containers(self):
        return containers(f"kernelbox.daemon={self.instance}")

    def session_dirs(self):
        """Session folders and metadata files (everything but the daemon's secret)."""
        if not os.path.isdir(self.runtime_dir):
            return []
        return sorted(f for f in os.listdir(self.runtime_dir) if f not in ("secret", "lock"))

    def session_folders(self):
        """Only the per-session socket folders."""
        return [f for f in self.session_dirs()
                if os.path.isdir(os.path.join(self.runtime_dir, f))]

    def assert_clean(self):
        """No container or network of this daemon and no session directory remain."""
        left = self.containers()
        assert left == [], f"containers left behind: {left}"
        nets = docker("network", "ls", "-q", "--filter",
                      f"label=kernelbox.daemon={self.instance}").split()
        assert nets == [], f"networks left behind: {nets}"
        assert self.session_dirs() == [], f"session directories left: {self.session_dirs()}"

    def remove_runtime_dir(self):
        if os.path.isdir(self.runtime_dir):
            assert self.session_dirs() == [], self.session_dirs()
            shutil.rmtree(self.runtime_dir)


def wipe_and_check(daemon):
    """Delete every kernel through the API, then assert nothing is left on the host."""
    resp = daemon.delete("/kernels")
    assert resp.status == 200, resp
    daemon.assert_clean()


class DockerProxy:
    """A Unix socket that forwards to the Docker Engine's, and can stop answering on demand:
    an engine outage for one daemon without touching the real engine."""

    def __init__(self, upstream="/var/run/docker.sock"):
        self.upstream = upstream
        self.path = f"/run/kbt-proxy-{secrets.token_hex(4)}.sock"
        self._listener = None
        self._conns = []
        self._lock = threading.Lock()

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(64)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        """The engine goes away: the socket disappears and open streams break."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if os.path.exists(self.path):
            os.unlink(self.path)
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()


# A 64-digit hex string standing alone: what a key hash or an HMAC key looks like.
HEX64 = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")


def sha(text):
    """The SHA-256 of text as hex: what a keys file holds for a key."""
    return hashlib.sha256(text.encode()).hexdigest()


def as_key(d, key):
    """The same daemon, spoken to with another key."""
    other = Daemon.__new__(Daemon)
    other.__dict__.update(d.__dict__)
    other.key = key
    return other


def finish(d, *clients):
    """Delete every kernel through each of clients, stop d, check nothing is left, and remove
    its runtime directory."""
    for c in clients:
        assert c.delete("/kernels").status == 200
    assert d.stop() == 0, d.logs()[-2000:]
    d.assert_clean()
    d.remove_runtime_dir()


def container_of(kernel_id):
    """docker inspect of the one container of kernel_id."""
    ids = containers(f"kernelbox.kernel_id={kernel_id}")
    assert len(ids) == 1, ids
    return json.loads(docker("inspect", ids[0]))[0]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
