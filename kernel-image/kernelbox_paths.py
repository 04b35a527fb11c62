"""Imports from the image's read-only directories without file-system calls per import.

For every import, Python's path finder checks the modification time of each directory it
searches (to notice files added since it listed it) and asks the file system whether each
candidate it found in the listing is a file or a directory. A session's kernel runs on the
image mounted read-only, so none of that can change while the kernel lives, and on a
storage driver that runs in user space (fuse-overlayfs) each of those calls is a round trip
to another process: a first `import pandas` made some 1,500 of them.

install() puts a path hook before Python's own file finder. For a directory on the
read-only root file system it gives a finder that lists the directory once, with each
entry's type, and answers from that listing, with the precedence of Python's own finder:
a regular package, then a module file by the order of the loaders' suffixes, then a
namespace package. Every other directory (the working directory, /tmp, a bind mount,
anything added to sys.path at run time) keeps Python's finder. importlib.invalidate_caches()
drops the listings, as it does for Python's finder.
"""

import os
import stat
import sys
import threading
from importlib import _bootstrap_external, machinery

_listings = {}  # directory -> (files, dirs, linked dirs)
_lock = threading.Lock()


def _scan(path):
    """The names of path's regular files and directories (links followed), and of its links
    (which may lead off the read-only image, so what they reach is asked for each time)."""
    files, dirs, links = set(), set(), set()
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    if entry.is_symlink():
                        links.add(entry.name)
                    if entry.is_dir():
                        dirs.add(entry.name)
                    elif entry.is_file():
                        files.add(entry.name)
                except OSError:
                    continue
    except OSError:
        pass
    return frozenset(files), frozenset(dirs), frozenset(links)


def _listing(path):
    listing = _listings.get(path)
    if listing is None:
        listing = _scan(path)
        with _lock:
            listing = _listings.setdefault(path, listing)
    return listing


def _forget():
    with _lock:
        _listings.clear()


def _is_file(directory, name, names):
    """name is a regular file in directory: from its listing names, or, with None (what a
    link reaches may be writable, or gone), from the file system."""
    if names is None:
        return os.path.isfile(os.path.join(directory, name))
    return name in names


class ReadOnlyFileFinder(machinery.FileFinder):
    """A FileFinder for a directory whose contents cannot change: its listing is read once."""

    def invalidate_caches(self):
        _forget()
        super().invalidate_caches()

    def find_spec(self, fullname, target=None):
        files, dirs, links = _listing(self.path)
        tail = fullname.rpartition(".")[2]
        namespace = None
        linked = tail in links
        if linked or tail in dirs:
            base = os.path.join(self.path, tail)
            inner = None if linked else _listing(base)[0]
            for suffix, loader in self._loaders:
                init = "__init__" + suffix
                if _is_file(base, init, inner):
                    return self._get_spec(loader, fullname, os.path.join(base, init), [base],
                                          target)
            if not linked or os.path.isdir(base):
                namespace = base
        for suffix, loader in self._loaders:
            name = tail + suffix
            if _is_file(self.path, name, None if name in links else files):
                return self._get_spec(loader, fullname, os.path.join(self.path, name), None,
                                      target)
        if namespace is not None:
            spec = machinery.ModuleSpec(fullname, None)
            spec.submodule_search_locations = [namespace]
            return spec
        return None


_root = None  # (device, read-only) of "/", read once


def on_read_only_root(path):
    """True when path is a directory of the root file system and that is mounted read-only."""
    global _root
    try:
        if _root is None:
            _root = (os.stat("/").st_dev, bool(os.statvfs("/").f_flag & os.ST_RDONLY))
        st = os.stat(path)
    except OSError:
        return False
    return _root[1] and st.st_dev == _root[0] and stat.S_ISDIR(st.st_mode)


def install(trusted=on_read_only_root):
    """Serve imports from directories trusted(path) accepts with ReadOnlyFileFinder.

    Returns the hook (for uninstall), or None when this Python's finder lacks what the
    subclass builds on (imports then work as usual)."""
    supported = getattr(_bootstrap_external, "_get_supported_file_loaders", None)
    if supported is None or not hasattr(machinery.FileFinder, "_get_spec"):
        return None
    details = supported()
    if not hasattr(ReadOnlyFileFinder("/", *details), "_loaders"):
        return None

    def kernelbox_read_only_hook(path):
        if not path or not os.path.isabs(path) or not trusted(path):
            raise ImportError("not a directory of the read-only image")
        return ReadOnlyFileFinder(path, *details)

    # Before Python's file finder hook, which takes any directory.
    position = len(sys.path_hooks)
    for i, hook in enumerate(sys.path_hooks):
        if getattr(hook, "__name__", "") == "path_hook_for_FileFinder":
            position = i
            break
    sys.path_hooks.insert(position, kernelbox_read_only_hook)
    sys.path_importer_cache.clear()
    _forget()
    return kernelbox_read_only_hook


def uninstall(hook):
    if hook is None:
        return
    try:
        sys.path_hooks.remove(hook)
    except ValueError:
        pass
    sys.path_importer_cache.clear()
    _forget()
