"""The docker-compose deployment: kernelboxd in its own unprivileged container starts kernel
containers through the host's engine, answers /health and runs code; `down` removes them."""

import json
import os
import secrets
import shutil
import subprocess
import time
import http.client

import pytest

import kbtest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE_FILE = os.path.join(ROOT, "compose", "docker-compose.yml")


def compose(env, *args, timeout=900):
    out = subprocess.run(["docker-compose", "-f", COMPOSE_FILE, *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"docker-compose {' '.join(args)}: {out.stderr[-3000:]}"
    return out.stdout


def request(port, key, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = json.dumps(body).encode() if body is not None else None
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose missing")
def test_compose_deployment_serves_health_and_executes():
    port = kbtest.free_port()
    key = "compose-" + secrets.token_hex(16)
    runtime_dir = f"/run/kbt-compose-{secrets.token_hex(3)}"
    instance = kbtest.instance_of(runtime_dir)
    kbtest.INSTANCES.add(instance)
    env = dict(os.environ, KERNELBOX_PORT=str(port), KERNELBOX_API_KEY=key,
               KERNELBOX_RUNTIME_DIR=runtime_dir, KERNELBOX_IMAGE=kbtest.IMAGE,
               KERNELBOX_SHUTDOWN="remove", KERNELBOX_POOL_SIZE="1",
               COMPOSE_PROJECT_NAME=f"kbtest{secrets.token_hex(3)}")
    compose(env, "build", "-q")
    compose(env, "up", "-d")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = request(port, None, "GET", "/health")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, compose(env, "logs")
            time.sleep(0.2)
        assert json.loads(body)["status"] == "ok"

        # The daemon's own container is confined as the compose file says.
        cid = compose(env, "ps", "-q", "kernelboxd").strip()
        info = json.loads(kbtest.docker("inspect", cid))[0]["HostConfig"]
        assert info["ReadonlyRootfs"] is True
        assert info["CapDrop"] == ["ALL"] and not info.get("CapAdd")
        assert "no-new-privileges:true" in info["SecurityOpt"]

        status, body = request(port, key, "POST", "/sessions/compose/execute",
                               {"code": "import os\n(os.getuid(), 6 * 7)"})
        assert status == 200, body
        result = json.loads(body)
        assert result["status"] == "success", result
        uid, answer = eval(result["return_value"])
        assert answer == 42 and uid != 0
        # The session's kernel and the warm one that replaced it in the pool.
        kbtest.wait_for(lambda: len(kbtest.containers(f"kernelbox.daemon={instance}")) == 2,
                        30, "the pool to refill")
        status, _ = request(port, None, "GET", "/sessions")
        assert status == 401
    finally:
        compose(env, "down", "--timeout", "60")
    # The daemon removed its kernels on SIGTERM; nothing is left on the host.
    assert kbtest.containers(f"kernelbox.daemon={instance}") == []
    assert [f for f in os.listdir(runtime_dir) if f not in ("secret", "lock")] == []
    shutil.rmtree(runtime_dir)
