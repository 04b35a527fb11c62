"""Fixtures: one kernelboxd per test module, and a check after every test that it left no
container, session directory or key file behind."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import kbtest  # noqa: E402

_PREEXISTING = None


def pytest_sessionstart(session):
    global _PREEXISTING
    if not os.path.exists(kbtest.DAEMON):
        raise pytest.UsageError(f"{kbtest.DAEMON} is missing: run `make` first")
    _PREEXISTING = set(kbtest.containers("kernelbox.managed=true"))


def pytest_sessionfinish(session, exitstatus):
    """The whole suite must leave no kernelbox container on the engine."""
    left = set(kbtest.containers("kernelbox.managed=true")) - (_PREEXISTING or set())
    if left:
        print(f"\nkernelbox containers left behind by the suite: {sorted(left)}",
              file=sys.stderr)
        session.exitstatus = 1


@pytest.fixture(scope="module")
def daemon():
    d = kbtest.Daemon().start()
    yield d
    code = d.stop()
    try:
        assert code == 0, f"kernelboxd exited {code}: {d.logs()[-2000:]}"
        d.assert_clean()
    finally:
        d.remove_runtime_dir()


@pytest.fixture
def kb(daemon):
    """The module's daemon; after the test, every kernel is deleted and nothing may remain."""
    yield daemon
    kbtest.wipe_and_check(daemon)
