"""The kernel's start-up modules, compiled once into one file of the image.

Starting a kernel imports some 470 modules. Found and loaded the usual way, each costs a
handful of file-system calls (the directory checks of every sys.path entry, a stat of the
source, an open and reads of the cached bytecode): some 4,000 calls in all. On an overlay
file system served from user space (fuse-overlayfs, which Docker uses where overlayfs cannot
be mounted) each call costs 0.1 to 0.5 ms, which makes that second the bulk of a new
session's start.

When the image is built, the launcher runs once in record mode; `record()` then stores the
code of every module it imported, with the file each came from, in one marshal file. At
start-up `install()` reads that file in a single read and puts a finder in front of the
import system that serves exactly those modules: same file names, same packages, same code
as a normal import of the same read-only files would give, only without most of the
file-system calls. `uninstall()` removes the finder once the kernel is set up, so that every
import made by user code is an ordinary one.

The file is only used when it was written by this Python (its bytecode magic number is
checked) with the same sys.path, whose directories must all be as they were then (their
modification times: a package added to or removed from any of them, in an image built on
this one say, turns the whole file down). A module is served only while its file has the
size and modification time it had when recorded, the rule Python applies to its own
bytecode cache; otherwise it is imported the usual way. Times are compared in whole
seconds, as the bytecode cache does: an image layer keeps no finer times. Anything
unexpected in the file turns it down whole, and a kernel then starts the usual way.
"""

import importlib.machinery
import importlib.util
import marshal
import os
import sys
import types

FORMAT = b"kernelbox-startup-2\n"
SOURCE, PACKAGE, EXTENSION = "source", "package", "extension"


class _CodeLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose module code comes from the start-up file (once).

    Everything else (source text for tracebacks and inspect, data files, resource readers)
    is the ordinary SourceFileLoader's, from the real files.
    """

    def __init__(self, fullname, path, code):
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname):
        code, self._code = self._code, None
        if code is None or fullname != self.name:
            return super().get_code(fullname)
        return code


class StartupFinder:
    """Finds the recorded modules with one stat each; None for any other."""

    def __init__(self, table):
        self._table = table

    def find_spec(self, fullname, path=None, target=None):
        entry = self._table.pop(fullname, None)
        if entry is None:
            return None
        kind, origin, code, mtime, size = entry
        if path is not None:
            # A submodule is only ours while its package still searches the recorded place.
            parent = os.path.dirname(os.path.dirname(origin) if kind == PACKAGE else origin)
            if parent not in path:
                return None
        try:
            st = os.stat(origin)
        except OSError:
            return None
        if int(st.st_mtime) != mtime or st.st_size != size:
            return None  # the file changed since it was recorded
        if kind == EXTENSION:
            loader = importlib.machinery.ExtensionFileLoader(fullname, origin)
            return importlib.util.spec_from_file_location(fullname, origin, loader=loader)
        locations = [os.path.dirname(origin)] if kind == PACKAGE else None
        return importlib.util.spec_from_file_location(
            fullname, origin, loader=_CodeLoader(fullname, origin, code),
            submodule_search_locations=locations)

    def invalidate_caches(self):
        pass


def directory_times():
    """Each sys.path entry with its directory's modification time (None: no directory)."""
    times = []
    for entry in sys.path:
        try:
            times.append((entry, int(os.stat(entry or ".").st_mtime)))
        except OSError:
            times.append((entry, None))
    return times


def _valid(table):
    if not isinstance(table, dict):
        return False
    for name, entry in table.items():
        if not (isinstance(name, str) and isinstance(entry, tuple) and len(entry) == 5):
            return False
        kind, origin, code, mtime, size = entry
        if kind not in (SOURCE, PACKAGE, EXTENSION) or not isinstance(origin, str):
            return False
        if not os.path.isabs(origin) or type(mtime) is not int or type(size) is not int:
            return False
        if kind == EXTENSION and code is not None:
            return False
        if kind != EXTENSION and not isinstance(code, types.CodeType):
            return False
    return True


def install(path):
    """Put the finder for the modules recorded in path first; the finder, or None."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    header = FORMAT + importlib.util.MAGIC_NUMBER
    if not data.startswith(header):
        return None
    try:
        recorded = marshal.loads(memoryview(data)[len(header):])
    except (EOFError, ValueError, TypeError):
        return None
    if not (isinstance(recorded, tuple) and len(recorded) == 2):
        return None
    directories, table = recorded
    if not isinstance(directories, list) or directories != directory_times():
        return None
    if not _valid(table):
        return None
    finder = StartupFinder(table)
    sys.meta_path.insert(0, finder)
    return finder


def uninstall(finder):
    """Take the finder out; modules not imported by then load the usual way."""
    if finder is None:
        return
    try:
        sys.meta_path.remove(finder)
    except ValueError:
        pass
    finder._table.clear()


def record(path, directories):
    """Write the code of every module imported so far, as a normal import found it.

    directories is what directory_times() said at the point where install() is called.
    """
    table = {}
    for name, module in sorted(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        if spec is None or spec.name != name or not spec.has_location or spec.origin is None:
            continue
        loader = spec.loader
        try:
            st = os.stat(spec.origin)
        except OSError:
            continue
        if type(loader) is importlib.machinery.ExtensionFileLoader:
            table[name] = (EXTENSION, spec.origin, None, int(st.st_mtime), st.st_size)
        elif type(loader) is importlib.machinery.SourceFileLoader:
            fresh = importlib.machinery.SourceFileLoader(name, spec.origin)
            kind = PACKAGE if spec.submodule_search_locations is not None else SOURCE
            if kind == PACKAGE and os.path.basename(spec.origin) != "__init__.py":
                continue
            table[name] = (kind, spec.origin, fresh.get_code(name), int(st.st_mtime), st.st_size)
    recorded = (directories, table)
    data = FORMAT + importlib.util.MAGIC_NUMBER + marshal.dumps(recorded)
    temporary = path + ".tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
