"""kernelbox_startup: the kernel image's one-file store of its start-up modules.

Each case records modules in one fresh interpreter and loads them in another, the way the
image build and a session's kernel do.
"""

import os
import subprocess
import sys
import textwrap
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_DIR = os.path.join(HERE, "..", "..", "kernel-image")


def run_python(code, cwd):
    """Run code in a fresh interpreter that finds kernelbox_startup; its stdout."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.path.abspath(IMAGE_DIR)}
    # The working directory is on sys.path (''): one of its own, which nothing writes to.
    done = subprocess.run([sys.executable, "-s", "-c", textwrap.dedent(code)], cwd=cwd / "cwd",
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def tree(tmp_path):
    """A package with a submodule and a plain module, in a directory of their own."""
    lib = tmp_path / "lib"
    (lib / "pkgx").mkdir(parents=True)
    (lib / "pkgx" / "__init__.py").write_text("WHO = 'package'\n")
    (lib / "pkgx" / "sub.py").write_text(
        "def fail():\n    raise ValueError('from sub')  # the recorded line\n\nWHO = 'sub'\n")
    (lib / "topx.py").write_text("WHO = 'top'\n")
    (tmp_path / "cwd").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path


def age(*paths):
    """Date paths ten seconds back: times are compared in whole seconds, and a change made
    by a test just after recording must not fall in the recorded second."""
    when = time.time() - 10
    for path in paths:
        os.utime(path, (when, when))


def record(tree, extra=""):
    lib = tree / "lib"
    age(*lib.rglob("*"), lib)
    run_python(f"""
        import sys
        sys.path.insert(0, {str(tree / 'lib')!r})
        import kernelbox_startup
        directories = kernelbox_startup.directory_times()
        import pkgx.sub, topx, _ssl
        {extra}
        kernelbox_startup.record({str(tree / 'out' / 'startup.bin')!r}, directories)
    """, tree)
    return tree / "out" / "startup.bin"


def test_recorded_modules_load_from_the_file_with_their_real_names_and_places(tree):
    bundle = record(tree)
    out = run_python(f"""
        import importlib.machinery, inspect, os, sys, traceback
        sys.path.insert(0, {str(tree / 'lib')!r})
        import kernelbox_startup
        finder = kernelbox_startup.install({str(bundle)!r})
        assert sys.meta_path[0] is finder
        import pkgx.sub, topx, _ssl
        lib = {str(tree / 'lib')!r}
        assert topx.WHO == "top", topx.WHO
        assert pkgx.WHO == "package" and pkgx.sub.WHO == "sub"
        assert type(topx.__loader__).__name__ == "_CodeLoader"
        assert type(pkgx.sub.__loader__).__name__ == "_CodeLoader"
        assert topx.__file__ == os.path.join(lib, "topx.py")
        assert pkgx.__path__ == [os.path.join(lib, "pkgx")]
        assert pkgx.__spec__.submodule_search_locations == [os.path.join(lib, "pkgx")]
        assert pkgx.sub.__spec__.parent == "pkgx"
        assert topx.__cached__.endswith(".pyc")
        assert type(_ssl.__loader__) is importlib.machinery.ExtensionFileLoader
        assert "raise ValueError" in inspect.getsource(pkgx.sub.fail)
        try:
            pkgx.sub.fail()
        except ValueError:
            assert "# the recorded line" in traceback.format_exc()
        kernelbox_startup.uninstall(finder)
        assert finder not in sys.meta_path
        print("ok")
    """, tree)
    assert out == "ok\n"


def test_a_file_changed_since_the_record_is_imported_from_the_file(tree):
    bundle = record(tree)
    # Rewritten in place (the directory itself does not change): same name, other content.
    topx = tree / "lib" / "topx.py"
    topx.write_text("WHO = 'changed, and longer'\n")
    out = run_python(f"""
        import sys
        sys.path.insert(0, {str(tree / 'lib')!r})
        import kernelbox_startup
        assert kernelbox_startup.install({str(bundle)!r}) is not None
        import topx, pkgx.sub
        print(topx.WHO, type(topx.__loader__).__name__, type(pkgx.sub.__loader__).__name__)
    """, tree)
    assert out == "changed, and longer SourceFileLoader _CodeLoader\n"


def test_modules_outside_the_record_and_moved_packages_load_the_usual_way(tree):
    (tree / "lib" / "other.py").write_text("WHO = 'other'\n")
    elsewhere = tree / "elsewhere" / "pkgx"
    elsewhere.mkdir(parents=True)
    (elsewhere / "sub.py").write_text("WHO = 'elsewhere'\n")
    bundle = record(tree)
    out = run_python(f"""
        import sys
        sys.path.insert(0, {str(tree / 'lib')!r})
        import kernelbox_startup
        finder = kernelbox_startup.install({str(bundle)!r})
        assert finder is not None
        import other
        assert type(other.__loader__).__name__ == "SourceFileLoader"
        import pkgx
        assert type(pkgx.__loader__).__name__ == "_CodeLoader"
        # The package now searches another place: its recorded submodule is not served.
        pkgx.__path__[:] = [{str(elsewhere)!r}]
        import pkgx.sub
        assert pkgx.sub.WHO == "elsewhere", pkgx.sub.WHO
        assert type(pkgx.sub.__loader__).__name__ == "SourceFileLoader"
        print("ok")
    """, tree)
    assert out == "ok\n"


def test_each_module_is_served_once(tree):
    bundle = record(tree)
    out = run_python(f"""
        import sys
        sys.path.insert(0, {str(tree / 'lib')!r})
        import kernelbox_startup
        kernelbox_startup.install({str(bundle)!r})
        import topx
        del sys.modules["topx"]
        import topx
        print(type(topx.__loader__).__name__)
    """, tree)
    assert out == "SourceFileLoader\n"


def test_aliases_and_modules_without_a_file_are_not_recorded(tree):
    bundle = record(tree, extra="import os.path, sys as alias; sys.modules['alias_of_topx'] = topx")
    out = run_python(f"""
        import marshal, importlib.util, kernelbox_startup
        data = open({str(bundle)!r}, "rb").read()
        header = kernelbox_startup.FORMAT + importlib.util.MAGIC_NUMBER
        directories, table = marshal.loads(data[len(header):])
        print(sorted(n for n in ("alias_of_topx", "os.path", "sys", "topx", "pkgx", "pkgx.sub",
                                 "_ssl") if n in table))
        print(table["pkgx"][0], table["pkgx.sub"][0], table["_ssl"][0], table["_ssl"][2])
    """, tree)
    assert out == "['_ssl', 'pkgx', 'pkgx.sub', 'topx']\npackage source extension None\n"


@pytest.mark.parametrize("damage", [
    "missing", "empty", "other-format", "other-python", "truncated", "garbage",
    "not-a-pair", "not-a-dict", "bad-entry", "relative-origin", "extension-with-code",
    "source-without-code", "bad-time", "other-sys-path", "package-added", "package-removed",
])
def test_a_damaged_foreign_or_outdated_file_is_turned_down_whole(tree, damage):
    (tree / "lib" / "gone.py").write_text("WHO = 'gone'\n")
    bundle = record(tree)
    if damage == "package-added":
        (tree / "lib" / "newcomer.py").write_text("WHO = 'new'\n")
    elif damage == "package-removed":
        (tree / "lib" / "gone.py").unlink()
    out = run_python(f"""
        import importlib.util, marshal, os, sys
        sys.path.insert(0, {str(tree / 'lib')!r})
        if {damage!r} == "other-sys-path":
            sys.path.insert(0, {str(tree)!r})
        import kernelbox_startup as ks
        path = {str(bundle)!r}
        data = open(path, "rb").read()
        header = ks.FORMAT + importlib.util.MAGIC_NUMBER
        directories, table = marshal.loads(data[len(header):])
        code = table["topx"][2]
        body = {{
            "not-a-pair": [directories, table],
            "not-a-dict": (directories, [1, 2]),
            "bad-entry": (directories, {{"topx": ("source", "/x/topx.py", code, 1)}}),
            "relative-origin": (directories, {{"topx": ("source", "topx.py", code, 1, 2)}}),
            "extension-with-code":
                (directories, {{"_ssl": ("extension", "/x/_ssl.so", code, 1, 2)}}),
            "source-without-code":
                (directories, {{"topx": ("source", "/x/topx.py", None, 1, 2)}}),
            "bad-time": (directories, {{"topx": ("source", "/x/topx.py", code, 1.5, 2)}}),
        }}
        damage = {damage!r}
        if damage == "missing":
            os.unlink(path)
        elif damage == "empty":
            data = b""
        elif damage == "other-format":
            data = b"kernelbox-startup-0\\n" + data[len(ks.FORMAT):]
        elif damage == "other-python":
            data = ks.FORMAT + b"\\x00\\x00\\r\\n" + data[len(header):]
        elif damage == "truncated":
            data = data[:len(data) // 2]
        elif damage == "garbage":
            data = header + bytes(range(256)) * 4
        elif damage in body:
            data = header + marshal.dumps(body[damage])
        if damage != "missing":
            open(path, "wb").write(data)
        before = list(sys.meta_path)
        print(ks.install(path), sys.meta_path == before)
    """, tree)
    assert out == "None True\n"
