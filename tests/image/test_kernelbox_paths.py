"""kernelbox_paths: imports from the image's read-only directories answered from one listing.

The finder must answer exactly as Python's own file finder does for the same directory, and
differ only in not looking at the directory again.
"""

import os
import py_compile
import subprocess
import sys
import textwrap
from importlib import _bootstrap_external, machinery

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "kernel-image"))
sys.path.insert(0, IMAGE_DIR)

import kernelbox_paths  # noqa: E402  (lives in the kernel image's folder)

NAMES = ["regular", "regular.sub", "plain", "spaces", "spaces.inner", "both", "dirandfile",
         "legacy", "linked", "linkedpkg", "dangling", "fakepy", "data", "missing", "emptydir", "__init__",
         "nested", "nested.deeper", "nested.deeper.leaf", "nested.ghost"]


@pytest.fixture
def lib(tmp_path):
    """A directory with every kind of thing the path finder tells apart."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "regular").mkdir()
    (lib / "regular" / "__init__.py").write_text("WHO = 'regular'\n")
    (lib / "regular" / "sub.py").write_text("WHO = 'sub'\n")
    (lib / "plain.py").write_text("WHO = 'plain'\n")
    (lib / "spaces").mkdir()  # a namespace package: no __init__
    (lib / "spaces" / "inner.py").write_text("WHO = 'inner'\n")
    (lib / "both").mkdir()  # a package and a module of one name: the package wins
    (lib / "both" / "__init__.py").write_text("WHO = 'both package'\n")
    (lib / "both.py").write_text("WHO = 'both module'\n")
    (lib / "dirandfile").mkdir()  # a folder without __init__ and a module: the module wins
    (lib / "dirandfile.py").write_text("WHO = 'dirandfile module'\n")
    source = tmp_path / "legacy_src.py"
    source.write_text("WHO = 'legacy'\n")
    py_compile.compile(str(source), cfile=str(lib / "legacy.pyc"), doraise=True)
    (tmp_path / "elsewhere.py").write_text("WHO = 'linked'\n")
    (lib / "linked.py").symlink_to(tmp_path / "elsewhere.py")
    (lib / "dangling.py").symlink_to(tmp_path / "nothing-here.py")
    (tmp_path / "realpkg").mkdir()
    (tmp_path / "realpkg" / "__init__.py").write_text("WHO = 'linkedpkg'\n")
    (lib / "linkedpkg").symlink_to(tmp_path / "realpkg")
    (lib / "fakepy.py").mkdir()  # a folder named like a module is not one
    (lib / "data.txt").write_text("not a module\n")
    (lib / "emptydir").mkdir()
    (lib / "nested" / "deeper").mkdir(parents=True)
    (lib / "nested" / "__init__.py").write_text("")
    (lib / "nested" / "deeper" / "__init__.py").write_text("")
    (lib / "nested" / "deeper" / "leaf.py").write_text("WHO = 'leaf'\n")
    return lib


def finder_for(cls, path):
    return cls(str(path), *_bootstrap_external._get_supported_file_loaders())


def describe(spec):
    if spec is None:
        return None
    return (spec.name, spec.origin, type(spec.loader).__name__ if spec.loader else None,
            list(spec.submodule_search_locations)
            if spec.submodule_search_locations is not None else None)


def test_answers_as_pythons_own_finder(lib):
    kernelbox_paths._forget()
    for name in NAMES:
        parts = name.split(".")
        where = lib.joinpath(*parts[:-1])
        ours = finder_for(kernelbox_paths.ReadOnlyFileFinder, where).find_spec(name)
        theirs = finder_for(machinery.FileFinder, where).find_spec(name)
        assert describe(ours) == describe(theirs), name
    # The cases above are not all "not found": the comparison would pass on a finder that
    # finds nothing.
    found = {name for name in NAMES
             if finder_for(kernelbox_paths.ReadOnlyFileFinder,
                           lib.joinpath(*name.split(".")[:-1])).find_spec(name) is not None}
    assert {"regular", "plain", "spaces", "both", "legacy", "linked", "linkedpkg", "dirandfile",
            "nested.deeper.leaf", "emptydir"} <= found
    assert not found & {"missing", "fakepy", "data", "dangling", "nested.ghost"}


def test_the_listing_is_read_once_and_dropped_by_invalidate_caches(lib):
    kernelbox_paths._forget()
    finder = finder_for(kernelbox_paths.ReadOnlyFileFinder, lib)
    assert finder.find_spec("late") is None
    (lib / "late.py").write_text("WHO = 'late'\n")
    # The listing is trusted: a file added afterwards is not looked for...
    assert finder.find_spec("late") is None
    # ...until the caches are invalidated, as importlib.invalidate_caches() does.
    finder.invalidate_caches()
    assert finder.find_spec("late").origin == str(lib / "late.py")


def test_a_linked_directory_is_not_trusted(lib, tmp_path):
    # The listing of a directory reached through a link is not kept: it may be writable.
    kernelbox_paths._forget()
    (tmp_path / "target").mkdir()
    (lib / "viapkg").symlink_to(tmp_path / "target")
    finder = finder_for(kernelbox_paths.ReadOnlyFileFinder, lib)
    assert finder.find_spec("viapkg").loader is None  # a namespace package for now
    (tmp_path / "target" / "__init__.py").write_text("")
    spec = finder.find_spec("viapkg")
    assert spec.origin == str(lib / "viapkg" / "__init__.py")
    # Nor is a linked module file: when what it reaches goes, so does the module.
    assert finder.find_spec("linked") is not None
    (tmp_path / "elsewhere.py").unlink()
    assert finder.find_spec("linked") is None
    # And a linked folder that goes is no namespace package either.
    (tmp_path / "target" / "__init__.py").unlink()
    (tmp_path / "target").rmdir()
    assert finder.find_spec("viapkg") is None


def run_python(code, cwd):
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": IMAGE_DIR}
    done = subprocess.run([sys.executable, "-s", "-c", textwrap.dedent(code)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_install_serves_trusted_directories_only(lib, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "elsewhere_mod.py").write_text("WHO = 'other'\n")
    out = run_python(f"""
        import importlib, sys
        import kernelbox_paths
        hook = kernelbox_paths.install(trusted=lambda path: path == {str(lib)!r})
        assert hook is not None
        sys.path[:0] = [{str(lib)!r}, {str(other)!r}]
        import plain, regular.sub, spaces.inner, elsewhere_mod
        print(plain.WHO, regular.sub.WHO, spaces.inner.WHO, elsewhere_mod.WHO)
        cache = sys.path_importer_cache
        print(type(cache[{str(lib)!r}]).__name__, type(cache[{str(other)!r}]).__name__)
        # Python's own finder still notices a module added to a directory it serves.
        open({str(other / 'fresh.py')!r}, 'w').write("WHO = 'fresh'\\n")
        importlib.invalidate_caches()
        import fresh
        print(fresh.WHO)
        kernelbox_paths.uninstall(hook)
        assert hook not in sys.path_hooks
        import both  # not imported before: the path finder looks again
        print(type(sys.path_importer_cache[{str(lib)!r}]).__name__)
        """, tmp_path)
    assert out.split("\n") == ["plain sub inner other", "ReadOnlyFileFinder FileFinder",
                               "fresh", "FileFinder", ""]


def test_on_read_only_root_refuses_a_writable_root(tmp_path):
    # This machine's root is writable: nothing on it may be trusted.
    if os.statvfs("/").f_flag & os.ST_RDONLY:
        pytest.skip("the root file system is read-only here")
    assert kernelbox_paths.on_read_only_root(str(tmp_path)) is False
    assert kernelbox_paths.on_read_only_root("/usr/lib") is False
    assert kernelbox_paths.on_read_only_root(str(tmp_path / "missing")) is False
