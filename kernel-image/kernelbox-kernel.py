"""Start one IPython kernel for kernelboxd inside a session container.

The daemon writes a connection file into the session directory. This launcher reads it,
removes it at once so no file holding the key stays behind, and starts ipykernel on the
ipc:// sockets named there, without ever writing the connection back to disk.
"""

import functools
import gc
import importlib
import importlib.util
import json
import os
import sys
import threading
import types

EXIT_BAD_CONNECTION = 78
STREAM_FLUSH_CHARS = 256 * 1024
SCRIPT_LINE_PIECE = 64 * 1024  # longest line %%bash output is read in at once
IOPUB_WAIT_S = 2.0  # longest a reply waits for the iopub thread to send what came before
COMMAND_READ = 64 * 1024  # bytes a shell command's output is read in at once
COMMAND_STOP_S = 0.5  # how long an interrupted shell command gets before it is killed
COMMAND_TAIL_S = 0.1  # how long output is still read once the command's shell has exited
# Written by --record-startup when the image is built; not on sys.path, so that writing it
# leaves the directories the record depends on as they were.
STARTUP_MODULES = "/usr/local/share/kernelbox/startup-modules.bin"


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


def keep_output_streams_open():
    """Ignore code closing the kernel's stdout and stderr.

    Code that closes sys.stdout (a `with sys.stdout as out:` block, a library closing the
    stream it was handed) made ipykernel wait, in OutStream.close(), for its thread that
    watches the process's file descriptor 1, which never ends: the cell ran into its timeout.
    Every later cell needs these streams anyway, so closing them does nothing.
    """
    from ipykernel import iostream

    def close(self):
        pass

    iostream.OutStream.close = close


def exit_ends_the_cell():
    """exit(), quit() and sys.exit() end the cell as they end a script; the kernel stays.

    In IPython `exit()` and `quit()` only ask the front end to close: the rest of the cell
    still ran, and ipykernel stopped its own event loop 0.1 s later, so the session's kernel
    died (exit status 0) with all its variables, the death reported on some later request.
    Here they raise SystemExit like Python's own exit() in a script, with the same optional
    code, whether called or written bare. A SystemExit whose code is 0 or None (`exit()`,
    `sys.exit(0)`) ends the cell as a success, with no traceback; any other code is an error
    (ename SystemExit, evalue the code or message) as before, without IPython's advice to
    use Ctrl-D on stderr.
    """
    import warnings

    from IPython.core.autocall import ZMQExitAutocall
    from IPython.core.interactiveshell import InteractiveShell

    def clean(error):
        return isinstance(error, SystemExit) and error.code in (None, 0)

    def __call__(self, code=None):
        raise SystemExit(code)

    original_showtraceback = InteractiveShell.showtraceback
    original_run_cell_async = InteractiveShell.run_cell_async

    @functools.wraps(original_showtraceback)
    def showtraceback(self, exc_tuple=None, *args, **kwargs):
        if clean((exc_tuple or sys.exc_info())[1]):
            return None
        return original_showtraceback(self, exc_tuple, *args, **kwargs)

    @functools.wraps(original_run_cell_async)
    async def run_cell_async(self, *args, **kwargs):
        result = await original_run_cell_async(self, *args, **kwargs)
        if result.error_before_exec is None and clean(result.error_in_exec):
            result.error_in_exec = None
            self.last_execution_succeeded = True
        return result

    ZMQExitAutocall.__call__ = __call__
    InteractiveShell.showtraceback = showtraceback
    InteractiveShell.run_cell_async = run_cell_async
    warnings.filterwarnings("ignore", message="To exit: use 'exit', 'quit', or Ctrl-D.")


def asyncio_run_in_cells():
    """asyncio.run() works in a cell as it does in a script.

    ipykernel runs the cell from its own event loop, so asyncio.run(), the usual entry point
    of asynchronous code, raised "cannot be called from a running event loop". A call from
    the kernel's main thread now runs the coroutine to its end in a loop of its own, as in a
    script (an interrupt cancels it, its exception is the cell's); the loop that was running
    there (the kernel's, or one the cell's code runs) waits meanwhile, as it does for any
    call that blocks, and is the current loop again afterwards. In other threads asyncio.run()
    is unchanged.

    The older spelling, asyncio.get_event_loop().run_until_complete(coroutine), gets the
    running loop and raised "This event loop is already running": given a coroutine, it is
    run the same way. Given a task or future (bound to the running loop), it still raises.
    """
    import asyncio
    from asyncio import base_events, events

    original_run = asyncio.run

    @functools.wraps(original_run)
    def run(main, *, debug=None):
        outer = events._get_running_loop()
        if outer is None or threading.current_thread() is not threading.main_thread():
            return original_run(main, debug=debug)
        events._set_running_loop(None)
        try:
            return original_run(main, debug=debug)
        finally:
            events._set_running_loop(outer)
            events.set_event_loop(outer)

    original_run_until_complete = base_events.BaseEventLoop.run_until_complete

    @functools.wraps(original_run_until_complete)
    def run_until_complete(self, future):
        if (asyncio.iscoroutine(future) and self.is_running()
                and events._get_running_loop() is self
                and threading.current_thread() is threading.main_thread()):
            return run(future)
        return original_run_until_complete(self, future)

    asyncio.run = run
    base_events.BaseEventLoop.run_until_complete = run_until_complete


def lenient_script_output(piece=SCRIPT_LINE_PIECE):
    """Let %%bash (IPython's script magics) read any output to its end.

    The magic reads the script's stdout and stderr a line at a time and decodes each line as
    strict UTF-8. A line that was not UTF-8 (binary output, a file name in another encoding),
    or longer than asyncio's 64 KiB line limit, ended that reading task with an exception: the
    rest of the output was lost and, once the pipe filled, the script blocked until the
    execution timed out. Lines are now read from the stream's data by this wrapper: a line
    longer than piece bytes comes in pieces (cut between characters), and each decodes with
    U+FFFD for what is not UTF-8. The bytes are unchanged, so a --bg script's streams read as
    before, except that an over-long line no longer raises. The magic's own reader gets all
    the whole lines at hand at once (it flushes after each), and with --out VAR the whole
    output in one piece, so that VAR holds all of it rather than its last line.
    """
    from IPython.core.magics import script

    real = script.asyncio

    class Line(bytes):
        def decode(self, encoding="utf-8", errors="replace"):
            return bytes.decode(self, encoding, errors)

    class Stream:
        def __init__(self, stream):
            self._stream = stream
            self._buf = b""
            self._pos = 0
            self._many = None  # whether readline() gives all the whole lines at hand
            self._whole = False  # whether it gives the whole output at once (--out)

        def _take(self, end):
            line = self._buf[self._pos:end]
            self._pos = end
            return Line(line)

        async def readline(self):
            # The magic's own reader writes and flushes what it reads, one kernel message per
            # flush: give it every whole line at hand (0.4 ms a line before, 20,000 lines of
            # seq took 8 s). Its --out form stores each line it reads in the variable, each
            # replacing the one before: give it the whole output at once, so the variable
            # holds all of it. One line to anyone else.
            if self._many is None:  # a stream has one reader for its life
                caller = sys._getframe(1)
                magic = caller.f_code.co_name == "_handle_stream"
                self._whole = magic and bool(caller.f_locals.get("stream_arg"))
                self._many = magic and not self._whole
            if self._whole:
                rest = self._buf[self._pos:] + await self._stream.read()
                self._buf, self._pos = rest, 0
                return self._take(len(rest))
            while True:
                newline = self._buf.find(b"\n", self._pos, self._pos + piece)
                if newline >= 0:
                    if self._many:
                        newline = self._buf.rfind(b"\n", newline, self._pos + piece)
                    return self._take(newline + 1)
                if len(self._buf) - self._pos > piece:  # a byte past the cut to look at
                    cut = self._pos + piece
                    while cut > self._pos + piece - 4 and (self._buf[cut] & 0xC0) == 0x80:
                        cut -= 1  # not inside a UTF-8 character
                    if (self._buf[cut] & 0xC0) == 0x80:
                        cut = self._pos + piece
                    return self._take(cut)
                data = await self._stream.read(piece)
                if not data:
                    return self._take(len(self._buf))
                self._buf = self._buf[self._pos:] + data
                self._pos = 0

        async def read(self, n=-1):
            if self._pos == len(self._buf):
                return await self._stream.read(n)
            if n < 0:
                return bytes(self._take(len(self._buf))) + await self._stream.read()
            return bytes(self._take(min(len(self._buf), self._pos + n)))

        def __getattr__(self, name):
            return getattr(self._stream, name)

    class AsyncioForScripts:
        async def create_subprocess_exec(self, *args, **kwargs):
            process = await real.create_subprocess_exec(*args, **kwargs)
            for name in ("stdout", "stderr"):
                if getattr(process, name, None) is not None:
                    setattr(process, name, Stream(getattr(process, name)))
            return process

        def __getattr__(self, name):
            return getattr(real, name)

    script.asyncio = AsyncioForScripts()


def run_command(cmd, out, err, shell="/bin/sh"):
    """Run cmd with shell -c, its stdout and stderr on pipes, and return its exit status
    (minus the signal's number when a signal ended it).

    What the command writes is handed to out and err as it comes, decoded as UTF-8 with
    U+FFFD for what is not; it reads no input (stdin is /dev/null). An interrupt (a
    KeyboardInterrupt here) stops the command's whole process group, with SIGINT and then,
    after COMMAND_STOP_S, SIGKILL, and is raised again so that the cell stops too. Once the
    shell has exited, what its leftover children write is read for COMMAND_TAIL_S at most,
    and then the group gets SIGHUP, as it would when a terminal closes.
    """
    import codecs
    import selectors
    import signal
    import subprocess
    import time

    proc = subprocess.Popen([shell, "-c", cmd], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    sel = selectors.DefaultSelector()
    for pipe, write in ((proc.stdout, out), (proc.stderr, err)):
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        sel.register(pipe, selectors.EVENT_READ, (write, decoder))

    def pump(timeout):
        """Read what is ready within timeout; False once nothing is open or ready."""
        events = sel.select(timeout)
        for key, _ in events:
            write, decoder = key.data
            data = os.read(key.fd, COMMAND_READ)
            if data:
                text = decoder.decode(data)
            else:
                text = decoder.decode(b"", final=True)
                sel.unregister(key.fileobj)
            if text:
                write(text)
        return bool(events) and bool(sel.get_map())

    def signal_group(signum):
        try:
            os.killpg(proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    stop = signal.SIGHUP  # what the group gets at the end, as when a terminal closes
    try:
        while sel.get_map() and proc.poll() is None:
            pump(0.2)
        end = time.monotonic() + COMMAND_TAIL_S
        while sel.get_map() and time.monotonic() < end:
            if not pump(max(0.0, end - time.monotonic())):
                break
        return proc.wait()
    except KeyboardInterrupt:
        stop = signal.SIGKILL
        signal_group(signal.SIGINT)
        end = time.monotonic() + COMMAND_STOP_S
        while sel.get_map() and proc.poll() is None and time.monotonic() < end:
            pump(0.05)
        raise
    finally:
        signal_group(stop)
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
        sel.close()
        proc.wait()


def piped_shell_commands():
    """Run `!cmd` in a Python cell as %%bash runs a script: on pipes, not a terminal.

    IPython runs it on a pseudo-terminal (pexpect), so its stderr arrived in the cell's
    stdout, lines ended in "\\r\\n", programs coloured and paged their output for a screen
    and a program waiting for input waited until the execution timed out. Now stdout and
    stderr stay apart, lines end as the program wrote them, and input reads as empty. The
    exit status is still `_exit_code`, and an interrupt stops the command and the cell.
    """
    from ipykernel.zmqshell import ZMQInteractiveShell

    def system(self, cmd):
        if cmd.rstrip().endswith("&"):
            raise OSError("Background processes not supported.")
        cmd = self.var_expand(cmd, depth=1)

        def out(text):
            sys.stdout.write(text)
            sys.stdout.flush()

        def err(text):
            sys.stdout.flush()
            sys.stderr.write(text)
            sys.stderr.flush()

        shell = os.environ.get("SHELL") or "/bin/sh"
        self.user_ns["_exit_code"] = run_command(cmd, out, err, shell)

    ZMQInteractiveShell.system_piped = system
    ZMQInteractiveShell.system = system


def pager_prints():
    """Print what IPython would show in a pager (`obj?`, `obj??`, %pdoc, %psource, ...).

    ipykernel sends it as a "page" payload of the execute reply, for a notebook's pager:
    kernelboxd's results have no pager, so `len?` showed nothing. It is now the cell's
    output, from the line the pager would have started at, as plain text: the colour codes
    meant for a terminal are left out.
    """
    import re

    from ipykernel.zmqshell import ZMQInteractiveShell

    colour = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

    def show_in_pager(self, data, start=0, screen_lines=0, pager_cmd=None):
        text = data.get("text/plain", "") if isinstance(data, dict) else str(data)
        text = colour.sub("", text)
        if start:
            text = "\n".join(text.split("\n")[start:])
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()

    original = ZMQInteractiveShell.init_hooks

    def init_hooks(self):
        original(self)
        self.set_hook("show_in_pager", show_in_pager, 0)

    ZMQInteractiveShell.init_hooks = init_hooks


def streamline_execute_broadcasts():
    """Broadcast only what kernelboxd reads of an execution, and its "idle" before the reply.

    For every execute_request ipykernel publishes on iopub a "busy" status and an
    execute_input echo of the code before any output. kernelboxd is this kernel's only
    client: it reads an execution's output, its "idle" status (the end of that output) and
    its reply (which carries the execution count), never those two, yet each would cost it a
    signature check and a parse, and cost the kernel a message. Every other request keeps its
    "busy" status (the start-up handshake looks for the broadcasts of kernel_info).

    ipykernel sends the reply on shell and only then publishes "idle" through its iopub
    thread, so the daemon is woken for the reply and woken again for the "idle". Here an
    execution's "idle" is published first, and its reply is sent once the iopub thread has
    handed everything before it to the socket: the daemon, woken by the reply, finds the
    whole output and the "idle" already there and finishes in one turn.
    """
    from ipykernel.kernelbase import Kernel

    original_status = Kernel._publish_status
    original_execute = Kernel.execute_request
    Kernel._kernelbox_idle_sent = None  # msg_id of the request whose idle went out early

    def _publish_execute_input(self, code, parent, execution_count):
        pass

    def _publish_status(self, status, channel, parent=None):
        if status in ("busy", "idle"):
            try:
                header = (parent if parent is not None else self.get_parent(channel))["header"]
                if status == "busy" and header["msg_type"] == "execute_request":
                    return None
                if status == "idle" and header["msg_id"] == self._kernelbox_idle_sent:
                    self._kernelbox_idle_sent = None
                    return None
            except Exception:  # an unexpected shape: publish as ipykernel would
                pass
        return original_status(self, status, channel, parent)

    async def execute_request(self, stream, ident, parent):
        session = self.session
        send = session.send

        def send_reply_after_idle(target, msg_or_type, *args, **kwargs):
            if target is stream and msg_or_type == "execute_reply":
                session.__dict__.pop("send", None)
                try:
                    original_status(self, "idle", "shell", parent)
                    self._kernelbox_idle_sent = parent["header"]["msg_id"]
                    iopub_written(self)
                except Exception:  # the reply goes out regardless, idle then comes later
                    self._kernelbox_idle_sent = None
            return send(target, msg_or_type, *args, **kwargs)

        session.send = send_reply_after_idle
        try:
            return await original_execute(self, stream, ident, parent)
        finally:
            if session.__dict__.get("send") is send_reply_after_idle:
                del session.send

    Kernel._publish_execute_input = _publish_execute_input
    Kernel._publish_status = _publish_status
    Kernel.execute_request = execute_request


def iopub_written(kernel, timeout=IOPUB_WAIT_S):
    """Wait until the iopub thread has sent what was published before this call."""
    thread = kernel.iopub_thread
    if thread is None or not thread.thread.is_alive():
        return
    if threading.current_thread() is thread.thread:
        return
    done = threading.Event()
    thread.schedule(done.set)
    done.wait(timeout)


def skip_unneeded_modules():
    """Keep the debugger and the completion engine out of the kernel.

    ipykernel and IPython import them only if they can (ImportError is expected and handled).
    A kernel driven through kernelbox never uses either, and they cost about half of the
    kernel's start-up time.
    """
    for name in ("debugpy", "jedi"):
        sys.modules[name] = None


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its names is used, then loads the real one."""

    def __getattr__(self, name):
        if name.startswith("__"):  # the import system probing: not a use
            raise AttributeError(name)
        return getattr(_load_deferred(self.__name__), name)


def _load_deferred(name):
    if isinstance(sys.modules.get(name), _Deferred):
        del sys.modules[name]
    return importlib.import_module(name)


def defer_terminal_embed():
    """Keep IPython's terminal front end out of the kernel until someone asks for it.

    `import IPython` imports IPython.terminal.embed, and with it prompt_toolkit and the
    terminal shell, only to offer IPython.embed(): a fifth of the kernel's start-up, for a
    function a kernel never calls. The stand-in loads the real module on first use.
    """
    name = "IPython.terminal.embed"
    stub = _Deferred(name)

    def embed(**kwargs):
        return _load_deferred(name).embed(**kwargs)

    stub.embed = embed
    sys.modules[name] = stub


def defer_client_library():
    """Import only the kernel-side parts of jupyter_client.

    The package's __init__ imports its whole client side (kernel managers, provisioners,
    blocking and asyncio clients) for convenience names the kernel never uses. The package
    module is created here without running its __init__: the names ipykernel takes from it
    at import time are set at once, and the first use of any other name runs the real
    __init__, so `import jupyter_client` in user code still sees the full package.
    """
    spec = importlib.util.find_spec("jupyter_client")
    if spec is None or spec.loader is None or "jupyter_client" in sys.modules:
        return
    package = importlib.util.module_from_spec(spec)

    def load_everything(name):
        # Only the first call finds the hook in place; it removes it and runs __init__.
        if package.__dict__.pop("__getattr__", None) is not None:
            spec.loader.exec_module(package)
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module 'jupyter_client' has no attribute {name!r}") from None

    package.__getattr__ = load_everything
    sys.modules["jupyter_client"] = package
    try:
        # Submodules are imported by name: `from jupyter_client import x` would ask the
        # package for x first and so run the real __init__.
        _version = importlib.import_module("jupyter_client._version")
        write_connection_file = importlib.import_module(
            "jupyter_client.connect").write_connection_file
    except Exception:  # an unexpected layout: fall back to the ordinary import
        del sys.modules["jupyter_client"]
        for name in [n for n in sys.modules if n.startswith("jupyter_client.")]:
            del sys.modules[name]
        return
    for name in ("__version__", "protocol_version", "protocol_version_info", "version_info"):
        setattr(package, name, getattr(_version, name))
    package.write_connection_file = write_connection_file


def recording_connection():
    """A throwaway connection for record mode, in a private directory of its own."""
    import secrets
    import tempfile

    directory = tempfile.mkdtemp(prefix="kernelbox-record-")
    path = os.path.join(directory, "kernel.json")
    info = {"key": secrets.token_hex(32), "ip": os.path.join(directory, "kernel"),
            "transport": "ipc", "signature_scheme": "hmac-sha256"}
    for number, port in enumerate(("shell_port", "iopub_port", "stdin_port", "control_port",
                                   "hb_port"), start=1):
        info[port] = number
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    return path


def main():
    record_to = None
    if len(sys.argv) == 3 and sys.argv[1] == "--record-startup":
        # Image build: start a kernel as a session would, then store its modules and stop.
        record_to = sys.argv[2]
        sys.argv[1:] = [recording_connection()]
    # kernelbox_files (the files API) and kernelbox_startup live beside this launcher.
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    import kernelbox_startup

    if sys.argv[1:] == ["--check-startup"]:
        # Image build: would a session's kernel use the recorded modules?
        sys.exit(0 if kernelbox_startup.install(STARTUP_MODULES) is not None else 1)
    if len(sys.argv) != 2:
        print("usage: kernelbox-kernel CONNECTION_FILE", file=sys.stderr)
        sys.exit(2)
    startup = directories = None
    if record_to:
        directories = kernelbox_startup.directory_times()
    else:
        startup = kernelbox_startup.install(STARTUP_MODULES)
        # What the record does not hold (a user's imports) is found without a file-system
        # call per import in the image's read-only directories.
        import kernelbox_paths

        kernelbox_paths.install()
    # Sockets the kernel binds must be reachable by the daemon's group, nothing more.
    os.umask(0o007)
    info = load_connection(sys.argv[1])
    seed_matplotlib_cache()

    # Start-up allocates hundreds of thousands of objects that all live on; collecting while
    # they are made only costs time. Collection resumes once the kernel is set up.
    gc.disable()
    skip_unneeded_modules()
    defer_terminal_embed()
    defer_client_library()
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

        def initialize(self, argv=None):
            super().initialize(argv)
            kernelbox_startup.uninstall(startup)
            if record_to:
                kernelbox_startup.record(record_to, directories)
                os._exit(0)
            # `sys.stdout = sys.__stdout__`, the usual way to undo a redirect, must give the
            # kernel's own streams back: the process's stdout carries no cell's parent, and
            # every later print of the session went nowhere.
            if getattr(sys.stdout, "session", None) is not None:
                sys.__stdout__ = sys.stdout
            if getattr(sys.stderr, "session", None) is not None:
                sys.__stderr__ = sys.stderr
            # What start-up made stays for the kernel's life: keep it out of every later
            # collection, then collect as usual.
            gc.freeze()
            gc.enable()

    bound_stream_messages()
    keep_output_streams_open()
    exit_ends_the_cell()
    asyncio_run_in_cells()
    lenient_script_output()
    piped_shell_commands()
    pager_prints()
    streamline_execute_broadcasts()
    config = Config()
    config.Session.key = info["key"].encode("ascii")
    config.Session.signature_scheme = "hmac-sha256"
    config.Session.username = "kernel"
    # Lone surrogates in output become U+FFFD instead of invalid UTF-8 or a lost message.
    config.Session.packer = "kernelbox_messages.utf8_json_packer"
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
