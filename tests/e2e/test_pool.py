"""The warm pool: kernels started ahead of demand, hardened exactly like a session's, handed
to new sessions at once, replaced when taken or lost, and kept through a daemon restart."""

import time

import kbtest
from kbtest import Daemon, container_of, finish, wait_for


def pool(d):
    return d.get("/ready", auth=False).json()["pool"]


def wait_pool_ready(d, n, timeout=60):
    wait_for(lambda: pool(d)["ready"] == n, timeout, f"{n} warm kernels")



def test_pooled_kernels_serve_new_sessions_and_are_replaced():
    d = Daemon(env={"KERNELBOX_POOL_SIZE": "2",
                    "KERNELBOX_STARTUP_CODE": "warm_marker = 'ran'"}).start()
    try:
        wait_pool_ready(d, 2)
        assert len(d.containers()) == 2
        assert d.get("/sessions").json()["sessions"] == [], "warm kernels are nobody's"
        res = d.execute("first", "warm_marker")
        assert res["status"] == "success" and res["return_value"] == "'ran'", res
        assert res["kernel_restarted"] is False
        kernel = d.get("/sessions/first").json()
        assert kernel["session_name"] == "first"
        # The pool refills behind the taken kernel.
        wait_pool_ready(d, 2)
        assert len(d.containers()) == 3
        # A pooled kernel is hardened exactly like one started for its session.
        info = container_of(kernel["kernel_id"])
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
        assert host["NetworkMode"] == "none" and host["PidsLimit"] == 256 and host["Init"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert any(o.startswith("seccomp=") for o in host["SecurityOpt"])
        # Its labels were set before it had a session; its name says which one it serves.
        wait_for(lambda: container_of(kernel["kernel_id"])["Name"].endswith("-first"), 10,
                 "the container to be renamed after its session")
        # DELETE /kernels removes sessions, not the warm kernels.
        assert d.delete("/kernels").status == 200
        assert len(d.containers()) == 2
    finally:
        finish(d, d)


def test_a_warm_kernel_that_dies_is_replaced():
    d = Daemon(env={"KERNELBOX_POOL_SIZE": "1"}).start()
    try:
        wait_pool_ready(d, 1)
        victim = d.containers()[0]
        kbtest.docker("kill", victim)
        wait_for(lambda: victim not in d.containers(), 20, "the dead warm kernel to go")
        wait_pool_ready(d, 1)
        assert len(d.containers()) == 1
        assert d.execute("after", "1 + 1")["return_value"] == "2"
    finally:
        finish(d, d)


def test_sessions_and_warm_kernels_survive_a_daemon_restart():
    d = Daemon(env={"KERNELBOX_POOL_SIZE": "1", "KERNELBOX_SHUTDOWN": "keep"}).start()
    wait_pool_ready(d, 1)
    d.execute("kept", "v = 'from the pool'")
    wait_pool_ready(d, 1)
    before = set(d.containers())
    d.kill()
    d2 = Daemon(env={"KERNELBOX_POOL_SIZE": "1"}, key=d.key, runtime_dir=d.runtime_dir).start()
    try:
        assert d2.execute("kept", "v")["return_value"] == "'from the pool'"
        wait_pool_ready(d2, 1)
        assert set(d2.containers()) == before, "the warm kernel was taken over, not replaced"
        assert [s["session_name"] for s in d2.get("/sessions").json()["sessions"]] == ["kept"]
    finally:
        finish(d2, d2)


def test_pool_never_delays_a_session_when_empty():
    d = Daemon(env={"KERNELBOX_POOL_SIZE": "1"}).start()
    try:
        wait_pool_ready(d, 1)
        started = time.monotonic()
        results = [d.execute(f"burst{i}", f"{i} * 2") for i in range(3)]
        assert [r["return_value"] for r in results] == ["0", "2", "4"]
        assert time.monotonic() - started < 60
    finally:
        finish(d, d)
