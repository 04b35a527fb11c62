"""No secret leaks: after a mix of good and failing requests (401, 404, 405, 413, 422, a kernel
error, a kernel death, a restart), no API key, no key hash, no byte of the daemon's secret and
no kernel HMAC key shows in the daemon's debug logs, in any HTTP error, in a kernel's
environment, in `docker inspect` or in a kernel container's own log.

The kernel keys are taken from the kernels themselves (code in a kernel can read its own key;
that is by design, see docs/security.md): each kernel hands it back XORed with a one-time mask,
so the key never crosses the API in clear and the test can still search for it. Beyond the
known values, any 64-hex-digit string is suspect (every key, hash and secret here has that
form): none may appear anywhere but in the engine's own ids in `docker inspect`.
"""

import ast
import base64
import json
import os
import re
import subprocess
import time

import kbtest
from kbtest import HEX64, Daemon, as_key, sha, wait_for

KEY_A = "alpha-" + os.urandom(20).hex()
KEY_B = "beta-" + os.urandom(20).hex()




def kernel_key(client, session):
    """The HMAC key of the session's current kernel, read inside it and sent back masked."""
    mask = os.urandom(64)
    res = client.execute(session, "bytes(a ^ b for a, b in zip(get_ipython().kernel.session.key,"
                                  f" bytes.fromhex({mask.hex()!r}))).hex()")
    assert res["status"] == "success", res
    masked = bytes.fromhex(res["return_value"].strip("'"))
    key = bytes(a ^ b for a, b in zip(masked, mask)).decode("ascii")
    assert re.fullmatch(r"[0-9a-f]{64}", key), "a kernel key is 64 hex digits"
    return key


def assert_hides(where, text, secrets, any_hex64=True):
    for secret in secrets:
        assert secret not in text, f"a secret shows in {where}"
        assert secret.upper() not in text, f"a secret shows (upper case) in {where}"
    if any_hex64:
        found = HEX64.findall(text)
        assert not found, f"64-hex strings in {where}: {found[:3]}"


def test_no_secret_in_logs_errors_environment_or_inspect():
    keys_path = f"/run/kbt-keys-{os.urandom(4).hex()}.txt"
    with open(keys_path, "w", encoding="ascii") as f:
        f.write(f"alpha {sha(KEY_A)}\nbeta {sha(KEY_B)}\n")
    os.chmod(keys_path, 0o600)
    d = Daemon(env={"KERNELBOX_API_KEYS_FILE": keys_path, "KERNELBOX_API_KEY": None,
                    "KERNELBOX_LOG_LEVEL": "debug", "KERNELBOX_POOL_SIZE": "1"},
               key=KEY_A).start()
    a, b = as_key(d, KEY_A), as_key(d, KEY_B)
    stopped = False
    try:
        with open(os.path.join(d.runtime_dir, "secret"), "rb") as f:
            daemon_secret = f.read()
        assert len(daemon_secret) == 32
        kernel_keys = set()
        errors = []  # every error response: (what, status, headers, body)

        def call(who, method, path, expected, **kw):
            resp = who.request(method, path, **kw)
            assert resp.status == expected, (method, path, resp)
            errors.append((f"{method} {path} -> {resp.status}", resp))
            return resp

        # Sessions and kernels: a normal one, a kernel error, a death and a restart.
        assert a.execute("work", "x = 1")["status"] == "success"
        kernel_keys.add(kernel_key(a, "work"))
        err = a.post("/sessions/work/execute", {"code": "1 / 0"})
        assert err.status == 200 and err.json()["status"] == "error"
        assert err.json()["error"]["ename"] == "ZeroDivisionError"
        errors.append(("kernel error", err))
        # The daemon sends stop_on_error: an execute right after an error can be answered
        # "ExecutionAborted" by ipykernel; wait for its abort window to close.
        time.sleep(0.3)
        died = a.post("/sessions/work/execute", {"code": "import os\nos._exit(3)"})
        assert died.status == 200 and died.json()["status"] == "kernel_died", died
        errors.append(("kernel death", died))
        kernel_keys.add(kernel_key(a, "work"))          # the restarted kernel: a new key
        kid = a.get("/sessions/work").json()["kernel_id"]
        assert a.post(f"/kernels/{kid}/restart").status == 200
        kernel_keys.add(kernel_key(a, "work"))
        assert b.execute("other", "y = 2")["status"] == "success"
        kernel_keys.add(kernel_key(b, "other"))
        assert len(kernel_keys) == 4, "every kernel start has its own key"

        # A client's own secret passed in a session's env reaches the kernel, but the API
        # shows it redacted and the daemon never logs it.
        env_secret = "tok-" + os.urandom(20).hex()
        made = a.post("/sessions/withenv", {"env": {"SERVICE_TOKEN": env_secret,
                                                    "PLAIN_SETTING": "visible"}})
        assert made.status == 200, made
        for shown in (made, a.get("/sessions/withenv")):
            assert shown.json()["env"] == {"SERVICE_TOKEN": "<redacted>",
                                           "PLAIN_SETTING": "visible"}, shown
            assert env_secret not in shown.body.decode()
        seen = a.execute("withenv", f"import os\nos.environ.get('SERVICE_TOKEN') == {env_secret!r}")
        assert seen["return_value"] == "True", seen

        # Failing requests, with keys and key-like strings sent where they do not belong.
        wrong64 = os.urandom(32).hex()
        for headers in ({}, {"Authorization": f"Bearer {wrong64}"},
                        {"Authorization": f"Bearer {sha(KEY_A)}"},
                        {"Authorization": f"Bearer {KEY_A}x"},
                        {"Authorization": f"Bearer {KEY_A[:-1]}"},
                        {"Authorization": "Basic " + base64.b64encode(
                            f"alpha:{KEY_A}".encode()).decode()},
                        {"Authorization": f"Token {KEY_A}"}):
            call(a, "GET", "/sessions", 401, auth=False, headers=headers)
            call(a, "POST", "/sessions/work/execute", 401, auth=False, headers=headers,
                 body={"code": "x"})
        call(a, "GET", "/sessions/nope", 404)
        call(b, "GET", f"/kernels/{kid}", 404)
        call(b, "POST", f"/kernels/{kid}/execute", 404, body={"code": "x"})
        call(a, "GET", "/no/such/path", 404)
        call(a, "PUT", "/sessions", 405)
        call(a, "POST", "/sessions/work/execute", 400, raw=b"{not json")
        call(a, "POST", "/sessions/work/execute", 422, raw=b'{"code": 5}')
        call(a, "POST", "/sessions/work/execute", 422,
             raw=json.dumps({"code": "1", "language": KEY_B}).encode())
        call(a, "POST", "/sessions/-bad/execute", 422, body={"code": "1"})
        call(a, "POST", "/kernels", 422, body={"name": "no spaces"})
        call(a, "POST", "/sessions/work/execute", 413,
             raw=json.dumps({"code": "x" * (1024 * 1024 + 10)}).encode())

        secrets = [KEY_A, KEY_B, sha(KEY_A), sha(KEY_B), daemon_secret.hex(), *kernel_keys]
        # The KEY_B sent as a language above and the 64-hex wrong key may only come back if
        # the server echoes input; it must not.
        for what, resp in errors:
            text = resp.body.decode(errors="replace") + "\n" + json.dumps(resp.headers)
            assert_hides(f"the response to {what}", text, secrets + [wrong64, env_secret])

        # The kernels' environment, as the kernel's code sees it.
        for who, session in ((a, "work"), (b, "other")):
            res = who.execute(session, "import os\n(dict(os.environ), "
                                       "open('/proc/1/environ', 'rb').read().decode())")
            assert res["status"] == "success", res
            environ, init_environ = ast.literal_eval(res["return_value"])
            names = list(environ) + [kv.split("=", 1)[0] for kv in init_environ.split("\0")]
            assert not [n for n in names if n.startswith("KERNELBOX")], names
            assert not [n for n in names if re.search("KEY|SECRET|TOKEN|HMAC", n, re.I)], names
            assert_hides(f"the environment of {session}", res["return_value"], secrets)

        # docker inspect and docker logs of every kernel container, the warm one included.
        wait_for(lambda: len(d.containers()) == 4, 30, "the warm kernel to be replaced")
        containers = d.containers()
        for cid in containers:
            text = kbtest.docker("inspect", cid)
            info = json.loads(text)[0]
            engine_ids = {info["Id"]} | set(HEX64.findall(info["Image"])) \
                | set(HEX64.findall(json.dumps(info.get("GraphDriver"))))
            assert_hides(f"docker inspect {cid[:12]}", text, secrets, any_hex64=False)
            left = set(HEX64.findall(text)) - engine_ids
            assert not left, f"docker inspect {cid[:12]} holds unexplained 64-hex strings: {left}"
            assert not [e for e in info["Config"]["Env"] or [] if e.startswith("KERNELBOX")]
            out = subprocess.run(["docker", "logs", cid], capture_output=True, text=True,
                                 timeout=60)
            logs = out.stdout + out.stderr
            assert_hides(f"docker logs {cid[:12]}", logs, secrets)

        # On the host: nothing key-bearing in the runtime directory but the secret itself. A
        # connection file lives only until its kernel has read it (a warm kernel may be
        # starting right now); then the folder holds the five sockets and is closed.
        def connection_files():
            found = []
            for name in d.session_folders():
                path = os.path.join(d.runtime_dir, name, "kernel.json")
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    continue
                assert (st.st_mode & 0o777, st.st_gid) == (0o440, 1000), oct(st.st_mode)
                found.append(path)
            return found

        def settled():
            sockets = [f"k-{i}" for i in range(1, 6)]
            return not connection_files() and all(
                sorted(os.listdir(os.path.join(d.runtime_dir, f))) == sockets
                and os.stat(os.path.join(d.runtime_dir, f)).st_mode & 0o777 == 0o550
                for f in d.session_folders())

        wait_for(settled, 30, "every kernel to have read its connection file")
        assert oct(os.stat(d.runtime_dir).st_mode & 0o777) == "0o711"
        assert oct(os.stat(os.path.join(d.runtime_dir, "secret")).st_mode & 0o777) == "0o600"
        for name in d.session_dirs():
            path = os.path.join(d.runtime_dir, name)
            if os.path.isdir(path):
                assert sorted(os.listdir(path)) == [f"k-{i}" for i in range(1, 6)], name
                assert oct(os.stat(path).st_mode & 0o777) == "0o550", name
            else:
                with open(path, encoding="utf-8") as f:
                    assert_hides(f"metadata file {name}", f.read(), secrets)

        assert a.delete("/kernels").status == 200 and b.delete("/kernels").status == 200
        assert d.stop() == 0
        stopped = True
        logs = d.logs() + "\n" + d.stdout.decode(errors="replace")
        # The logs did record these requests and events, at debug level.
        for needle in ("-> 401", "-> 404", "-> 405", "-> 413", "-> 422", "kernel.died",
                       "kernel.restart", '"level":"debug"'):
            assert needle in logs, needle
        assert_hides("kernelboxd's logs", logs, secrets + [wrong64, env_secret])
        assert daemon_secret not in d.stderr and daemon_secret not in d.stdout
        d.assert_clean()
    finally:
        if not stopped:
            for who in (a, b):
                who.delete("/kernels")
            d.stop()
        d.remove_runtime_dir()
        os.unlink(keys_path)
