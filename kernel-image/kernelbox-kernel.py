"""Start one IPython kernel for kernelboxd inside a session container.

The daemon writes a connection file into the session directory. This launcher reads it,
removes it at once so no file holding the key stays behind, and starts ipykernel on the
ipc:// sockets named there, without ever writing the connection back to disk.
"""

import json
import os
import sys

EXIT_BAD_CONNECTION = 78
STREAM_FLUSH_CHARS = 256 * 1024


def load_connection(path):
    """Read and delete the connection file; exit with a clear message if it is unusable."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"kernelbox-kernel: cannot read connection file {path}: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_CONNECTION)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    needed = ("key", "ip", "transport", "signature_scheme", "shell_port", "iopub_port",
              "stdin_port", "control_port", "hb_port")
    missing = [name for name in needed if name not in info]
    if missing or info["transport"] != "ipc" or info["signature_scheme"] != "hmac-sha256":
        print(f"kernelbox-kernel: connection file lacks {missing or 'ipc/hmac-sha256'}",
              file=sys.stderr)
        sys.exit(EXIT_BAD_CONNECTION)
    return info


def seed_matplotlib_cache():
    """Copy the font cache built into the image so the first plot does not rebuild it."""
    source = "/usr/local/share/kernelbox/matplotlib"
    target = os.environ.get("MPLCONFIGDIR")
    if not target or not os.path.isdir(source):
        return
    try:
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(source):
            if name.endswith(".json"):
                with open(os.path.join(source, name), "rb") as src, \
                        open(os.path.join(target, name), "wb") as dst:
                    dst.write(src.read())
    except OSError:
        pass


def bound_stream_messages(limit=STREAM_FLUSH_CHARS):
    """Flush stdout/stderr once their buffer holds limit characters.

    ipykernel only flushes on a timer, so a tight print loop could otherwise put tens of
    megabytes into one message. Flushing early keeps every message small and slows a runaway
    printer down to the pace at which its output can be published.
    """
    from ipykernel import iostream

    original = iostream.OutStream.write

    def write(self, string):
        written = original(self, string)
        try:
            if self._buffer.tell() >= limit:
                self.flush()
        except Exception:  # never let the guard break printing
            pass
        return written

    iostream.OutStream.write = write


def skip_unneeded_modules():
    """Keep the debugger and the completion engine out of the kernel.

    ipykernel and IPython import them only if they can (ImportError is expected and handled).
    A kernel driven through kernelbox never uses either, and they cost about half of the
    kernel's start-up time.
    """
    for name in ("debugpy", "jedi"):
        sys.modules[name] = None


def main():
    if len(sys.argv) != 2:
        print("usage: kernelbox-kernel CONNECTION_FILE", file=sys.stderr)
        sys.exit(2)
    # Sockets the kernel binds must be reachable by the daemon's group, nothing more.
    os.umask(0o007)
    info = load_connection(sys.argv[1])
    seed_matplotlib_cache()

    skip_unneeded_modules()
    # kernelbox_files (the files API) lives beside this launcher.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from traitlets.config import Config
    from ipykernel.kernelapp import IPKernelApp

    class KernelApp(IPKernelApp):
        """An IPKernelApp that never reads or writes a connection file."""

        def init_connection_file(self):
            pass

        def write_connection_file(self):
            pass

        def cleanup_connection_file(self):
            self.cleanup_ipc_files()

    bound_stream_messages()
    config = Config()
    config.Session.key = info["key"].encode("ascii")
    config.Session.signature_scheme = "hmac-sha256"
    config.Session.username = "kernel"
    app_config = config.IPKernelApp
    app_config.transport = "ipc"
    app_config.ip = info["ip"]
    app_config.connection_file = "/nonexistent/kernelbox.json"
    for port in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        setattr(app_config, port, int(info[port]))
    config.HistoryManager.enabled = False
    del info
    KernelApp.launch_instance(argv=[], config=config)


if __name__ == "__main__":
    main()
