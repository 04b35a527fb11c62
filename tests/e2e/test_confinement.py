"""kernelboxd confines itself: a seccomp allow-list on every thread, no new privileges, and
running a program is fatal. KERNELBOX_SELF_SECCOMP=0 turns it off, loudly."""

from kbtest import Daemon


def test_every_thread_is_confined_while_serving(kb):
    kb.execute("confined", "1 + 1")
    kb.assert_confined()
    threads = kb.thread_status("Seccomp")
    # the loop, four Docker workers (the default) and the engine-event watcher; the kernels'
    # channels are spoken from the loop, so no library adds a thread of its own
    assert len(threads) == 6, threads
    assert "confined by its own seccomp allow-list" in kb.logs()


def test_turning_it_off_is_loud():
    d = Daemon(env={"KERNELBOX_SELF_SECCOMP": "0"}).start()
    try:
        assert set(d.thread_status("Seccomp").values()) == {"0"}
        assert "WITHOUT its own seccomp filter" in d.logs()
        assert d.execute("free", "1 + 1")["return_value"] == "2"
    finally:
        assert d.delete("/kernels").status == 200
        assert d.stop() == 0
        d.assert_clean()
        d.remove_runtime_dir()
