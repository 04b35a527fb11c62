"""File access for kernelboxd's files API, run inside the kernel through user_expressions.

Every path is resolved below the working directory one component at a time with O_NOFOLLOW,
so neither ".." nor a symlink (one planted by code in the kernel included) can lead outside.
Each call returns an object whose repr is one line of JSON, which is what kernelboxd reads
back from the execute reply. Data travels as base64 in chunks the daemon asks for.
"""

import base64
import errno
import json
import os
import stat

ROOT = "/home/sandbox"
CHUNK_MAX = 8 * 1024 * 1024
LIST_MAX = 10000  # entries in one listing; the daemon holds the same bound


class Reply:
    """A value whose text/plain form is JSON."""

    def __init__(self, **fields):
        self.fields = fields

    def __repr__(self):
        return json.dumps(self.fields, separators=(",", ":"))

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self))


def _error(code, message):
    return Reply(ok=False, error=code, message=message)


def _split(path):
    parts = [p for p in path.split("/") if p != ""]
    for part in parts:
        if part in (".", "..") or "\0" in part:
            raise ValueError("invalid path component")
    return parts


def _refuse_link(dir_fd, name, exc):
    """Name the reason when opening name failed: a symlink, or something else."""
    try:
        if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "symlink") from exc
    except FileNotFoundError:
        pass
    raise exc


def _open_dir(parts, create=False):
    """Open the directory parts[...] below ROOT, refusing symlinks; returns a descriptor."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd = os.open(ROOT, flags)
    try:
        for part in parts:
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nfd = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                _refuse_link(fd, part, exc)
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


class NotRegularFile(Exception):
    """The path names a FIFO, a socket or a device: only regular files are read or written."""


def _open_file(dir_fd, name, flags, mode=0o644):
    """Open a regular file below dir_fd, refusing symlinks. O_NONBLOCK: opening a FIFO with
    nobody at its other end must fail or return at once, not wait for a peer forever."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO without a reader, a socket
            raise NotRegularFile() from exc
        _refuse_link(dir_fd, name, exc)
    try:
        kind = os.fstat(fd).st_mode
        if stat.S_ISDIR(kind):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(kind):
            raise NotRegularFile()
    except BaseException:
        os.close(fd)
        raise
    return fd


def _guard(fn):
    def run(*args):
        try:
            return fn(*args)
        except NotRegularFile:
            return _error("not_file", "not a regular file")
        except ValueError as exc:
            return _error("invalid", str(exc))
        except OSError as exc:
            code = {errno.ENOENT: "not_found", errno.ELOOP: "symlink", errno.ENOTDIR: "not_dir",
                    errno.ENOSPC: "no_space", errno.EDQUOT: "no_space", errno.EISDIR: "is_dir",
                    errno.EEXIST: "exists", errno.ENOTEMPTY: "not_empty",
                    errno.EACCES: "denied", errno.EPERM: "denied"}.get(exc.errno, "io")
            return _error(code, os.strerror(exc.errno or errno.EIO))

    return run


def _kind(mode):
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


@_guard
def write(path, offset, data, final):
    """Write a base64 chunk at offset (0 truncates a fresh file), creating folders."""
    parts = _split(path)
    if not parts:
        raise ValueError("a file path is required")
    dfd = _open_dir(parts[:-1], create=True)
    try:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if offset == 0 else 0)
        fd = _open_file(dfd, parts[-1], flags)
        try:
            view = memoryview(base64.b64decode(data))
            at = offset
            try:
                while view:
                    # A full tmpfs writes what fits, then refuses the rest with ENOSPC.
                    n = os.pwrite(fd, view, at)
                    view = view[n:]
                    at += n
            except OSError:
                # The upload failed as a whole: leave no half-written file behind.
                os.unlink(parts[-1], dir_fd=dfd)
                raise
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
    finally:
        os.close(dfd)
    return Reply(ok=True, size=size, final=bool(final))


@_guard
def read(path, offset, length):
    """Read up to length bytes at offset; base64 in "data", the file's size in "size"."""
    parts = _split(path)
    if not parts:
        raise ValueError("a file path is required")
    dfd = _open_dir(parts[:-1])
    try:
        fd = _open_file(dfd, parts[-1], os.O_RDONLY)
        try:
            st = os.fstat(fd)
            raw = os.pread(fd, min(int(length), CHUNK_MAX), int(offset))
        finally:
            os.close(fd)
    finally:
        os.close(dfd)
    return Reply(ok=True, size=st.st_size, data=base64.b64encode(raw).decode("ascii"))


@_guard
def listdir(path):
    """Entries of a directory: name, size, type, modified (seconds since the epoch)."""
    fd = _open_dir(_split(path))
    try:
        names = sorted(os.listdir(fd))
        entries = []
        for name in names[:LIST_MAX]:
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while it was listed
            entries.append({"name": name, "size": st.st_size, "type": _kind(st.st_mode),
                            "modified": st.st_mtime})
    finally:
        os.close(fd)
    return Reply(ok=True, entries=entries, truncated=len(names) > LIST_MAX)


def _remove_tree(dfd, name):
    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dfd)
        return
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
    try:
        for entry in os.listdir(fd):
            _remove_tree(fd, entry)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dfd)


@_guard
def remove(path):
    """Remove a file, a symlink (not its target) or a directory tree."""
    parts = _split(path)
    if not parts:
        raise ValueError("refusing to remove the working directory")
    dfd = _open_dir(parts[:-1])
    try:
        _remove_tree(dfd, parts[-1])
    finally:
        os.close(dfd)
    return Reply(ok=True)
