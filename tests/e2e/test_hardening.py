"""The container of a session, read back from `docker inspect`, and probed from inside."""

import json
import os

import kbtest

SECCOMP_JSON = os.path.join(os.path.dirname(__file__), "..", "..", "seccomp", "kernel.json")


def inspect(kb, name):
    ids = kbtest.containers(f"kernelbox.session={name}")
    ids = [i for i in ids if i in kb.containers()]
    assert len(ids) == 1, ids
    return json.loads(kbtest.docker("inspect", ids[0]))[0]


def test_every_hardening_field_shows_in_docker_inspect(kb):
    kb.execute("hard", "1")
    info = inspect(kb, "hard")
    host, cfg = info["HostConfig"], info["Config"]

    assert host["ReadonlyRootfs"] is True
    assert cfg["User"] not in ("", "0", "root") and not cfg["User"].startswith("0:")
    assert host["CapDrop"] == ["ALL"]
    assert not host.get("CapAdd")
    assert host["Privileged"] is False
    assert "no-new-privileges:true" in host["SecurityOpt"]
    seccomp = [o for o in host["SecurityOpt"] if o.startswith("seccomp=")]
    assert len(seccomp) == 1
    profile = json.loads(seccomp[0][len("seccomp="):])
    with open(SECCOMP_JSON, encoding="utf-8") as f:
        assert profile == json.load(f), "the profile must be the one generated in seccomp/"
    assert profile["architectures"] == ["SCMP_ARCH_X86_64"]
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    allowed = {n for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"
               for n in rule["names"]}
    for denied in ("io_uring_setup", "ptrace", "bpf", "userfaultfd", "perf_event_open",
                   "keyctl", "add_key", "request_key", "mount", "umount2", "unshare", "setns",
                   "kexec_load", "clone3"):
        assert denied not in allowed, denied
    tmp = host["Tmpfs"]["/tmp"]
    assert "nosuid" in tmp and "nodev" in tmp and "size=268435456" in tmp
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 256
    assert host["Init"] is True
    assert host["PidMode"] in ("", "private")
    assert host["IpcMode"] in ("private", "none")
    assert host["UTSMode"] == "" and host["UsernsMode"] == ""
    mounts = info["Mounts"]
    assert len(mounts) == 1, mounts
    assert mounts[0]["Type"] == "bind"
    assert mounts[0]["Source"] == os.path.join(kb.runtime_dir, kb.session_folders()[0])
    assert mounts[0]["Destination"] == "/kernelbox"
    assert all("docker.sock" not in (m.get("Source") or "") for m in mounts)
    assert cfg["Labels"]["kernelbox.managed"] == "true"
    assert cfg["Labels"]["kernelbox.session"] == "hard"


def test_code_inside_is_confined(kb):
    probe = r"""
import os, socket, errno
out = {"uid": os.getuid(), "gid": os.getgid()}
for path in ("/usr/kb-probe", "/etc/kb-probe", "/kb-probe"):
    try:
        open(path, "w").write("x")
        out[path] = "written"
    except OSError as e:
        out[path] = errno.errorcode[e.errno]
try:
    s = socket.create_connection(("1.1.1.1", 53), timeout=2)
    out["net"] = "connected"
except OSError as e:
    out["net"] = type(e).__name__
try:
    socket.getaddrinfo("deb.debian.org", 80)
    out["dns"] = "resolved"
except OSError as e:
    out["dns"] = type(e).__name__
out["ifaces"] = sorted(os.listdir("/sys/class/net"))
out["docker_sock"] = any(os.path.exists(p) for p in ("/var/run/docker.sock",
                                                     "/run/docker.sock"))
out["kernelbox_dir"] = sorted(os.listdir("/kernelbox"))
try:
    open("/kernelbox/fill", "w").write("x")
    out["dir_write"] = "written"
except OSError as e:
    out["dir_write"] = errno.errorcode[e.errno]
out
"""
    res = kb.execute("probe", probe)
    assert res["status"] == "success", res
    out = eval(res["return_value"])  # the repr of a dict of plain values
    assert out["uid"] != 0 and out["gid"] != 0
    for path in ("/usr/kb-probe", "/etc/kb-probe", "/kb-probe"):
        assert out[path] in ("EROFS", "EACCES"), (path, out[path])
    assert out["net"] != "connected"
    assert out["dns"] != "resolved"
    assert out["ifaces"] == ["lo"]
    assert out["docker_sock"] is False
    # Only the kernel's sockets, no key file, and the kernel cannot add files there.
    assert out["kernelbox_dir"] == ["k-1", "k-2", "k-3", "k-4", "k-5"]
    assert out["dir_write"] == "EACCES"


def test_no_key_on_disk_in_the_environment_or_in_logs(kb):
    kb.execute("secret", "1")
    info = inspect(kb, "secret")
    env = "\n".join(info["Config"]["Env"] or [])
    assert "key" not in env.lower()
    session_dir = os.path.join(kb.runtime_dir, kb.session_folders()[0])
    assert sorted(os.listdir(session_dir)) == ["k-1", "k-2", "k-3", "k-4", "k-5"]
    import re
    res = kb.execute("secret", "import os\ndict(os.environ)")
    environ = eval(res["return_value"])
    assert not [k for k in environ if "KEY" in k.upper() or "HMAC" in k.upper()], environ
    assert not [v for v in environ.values() if re.fullmatch(r"[0-9a-f]{64}", v)], environ
    # The kernel's key is the only 64-hex-digit secret; none may show in the daemon's logs.
    assert not re.search(r"\b[0-9a-f]{64}\b", kb.logs())
    assert kb.key not in kb.logs()
