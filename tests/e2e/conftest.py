"""Fixtures: one kernelboxd per test module, and a check after every test that it left no
container, session directory or key file behind."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import kbtest  # noqa: E402

def pytest_sessionstart(session):
    if not os.path.exists(kbtest.DAEMON):
        raise pytest.UsageError(f"{kbtest.DAEMON} is missing: run `make` first")


def pytest_sessionfinish(session, exitstatus):
    """No daemon the suite started may have left a container on the engine."""
    left = sorted(c for instance in kbtest.INSTANCES
                  for c in kbtest.containers(f"kernelbox.daemon={instance}"))
    if left:
        print(f"\nkernelbox containers left behind by the suite: {left}", file=sys.stderr)
        session.exitstatus = 1
        # The run fails; the machine is still left as it was found.
        kbtest.docker("rm", "-f", *left, check=False)


@pytest.fixture(scope="module")
def daemon():
    d = kbtest.Daemon().start()
    yield d
    try:
        code = d.stop()  # raises on a sanitizer report, such as a leak found at exit
        assert code == 0, f"kernelboxd exited {code}: {d.logs()[-2000:]}"
        d.assert_clean()
    finally:
        d.remove_runtime_dir()


@pytest.fixture(autouse=True)
def no_sanitizer_reports():
    """After every test: no daemon it started, nor one still serving, may have printed an
    AddressSanitizer, LeakSanitizer or UBSan report (a sanitizer build, make asan-test)."""
    before = len(kbtest.DAEMONS)
    yield
    for i, d in enumerate(kbtest.DAEMONS):
        if i >= before or d.proc.poll() is None:  # started by this test, or still serving
            d.check_sanitizers()


@pytest.fixture
def kb(daemon):
    """The module's daemon; after the test, every kernel is deleted and nothing may remain."""
    yield daemon
    daemon.check_sanitizers()  # first: a daemon that died of one answers nothing more
    kbtest.wipe_and_check(daemon)
