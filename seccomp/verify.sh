#!/usr/bin/env bash
# verify.sh: run the kernel image under seccomp/kernel.json with the hardening kernelboxd uses,
# and check that the workload still works while dangerous calls fail, natively and through
# the 32-bit and x32 entry points. Usage: seccomp/verify.sh [IMAGE [PROFILE]], PROFILE being
# kernel.json by default (any value of --security-opt seccomp=). Exits 1 on any surprise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=${1:-kernelbox/kernel:latest}
profile=${2:-$here/kernel.json}
label="kernelbox.seccomp-verify=$$-$RANDOM"
failures=0
tmp=

cleanup() {
    local left
    left=$(docker ps -aq --filter "label=$label" 2>/dev/null || true)
    if [ -n "$left" ]; then
        # shellcheck disable=SC2086
        docker rm -f $left >/dev/null 2>&1 || true
    fi
    if [ -n "$tmp" ]; then
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

say() { printf '%s\n' "$*"; }

# Runs one container with the kernel containers' hardening; arguments go to docker run.
run() {
    timeout --signal=TERM 300 docker run --rm --label "$label" \
        --security-opt "seccomp=$profile" --security-opt no-new-privileges \
        --cap-drop ALL --read-only --tmpfs /tmp:size=64m --network none --init \
        --user 1000:1000 "$@"
}

# expect NAME REGEX DOCKER-RUN-ARGS...: passes when the container exits 0 and its output
# matches REGEX (extended, anywhere in the output).
expect() {
    local name=$1 pattern=$2 out rc=0
    shift 2
    out=$(run "$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ] && grep -Eq -- "$pattern" <<<"$out"; then
        say "ok   $name"
    else
        say "FAIL $name (exit $rc)"
        failures=$((failures + 1))
    fi
    sed 's/^/       | /' <<<"$out"
}

command -v docker >/dev/null || { say "verify.sh: docker not found" >&2; exit 1; }
command -v gcc >/dev/null || { say "verify.sh: no gcc (it builds the 32-bit probe)" >&2; exit 1; }
docker image inspect "$image" >/dev/null 2>&1 || { say "verify.sh: no image $image" >&2; exit 1; }
[ -f "$profile" ] || [ "$profile" = unconfined ] || { say "verify.sh: no $profile" >&2; exit 1; }

tmp=$(mktemp -d /tmp/kbseccomp-verify.XXXXXX)
chmod 755 "$tmp"
gcc -std=c11 -O1 -static -no-pie -Wall -Wextra -Wshadow -Wstrict-prototypes \
    -Wmissing-prototypes -Wformat=2 -Werror -o "$tmp/compat" "$here/verify_compat.c"
chmod 755 "$tmp/compat"

say "image $image, profile $profile"
say "--- what the kernels need"

expect "python: numpy, pandas, matplotlib (Agg) and a thread" "^thread ok$" \
    --entrypoint python3 "$image" -c "import numpy, pandas, matplotlib; matplotlib.use('Agg')
import matplotlib.pyplot as plt; plt.plot([1,2]); plt.savefig('/tmp/x.png')
import threading; t=threading.Thread(target=print, args=('thread ok',)); t.start(); t.join()"

# ipykernel imports debugpy, which warns about frozen modules unless told not to check.
expect "python: import ipykernel.kernelapp" "^imported$" -e PYDEVD_DISABLE_FILE_VALIDATION=1 \
    --entrypoint python3 "$image" -c "import ipykernel.kernelapp; print('imported')"

# The next two run the commands of the seccomp brief word for word.
expect "bash and coreutils" '^2$' \
    --entrypoint bash "$image" -c 'ls / | wc -l; echo $(( 1+1 )); sleep 0.1; cat /etc/os-release | head -1'

expect "python: subprocess" "^b'sub\\\\n'$" \
    --entrypoint python3 "$image" -c "import subprocess; print(subprocess.run(['echo','sub'],capture_output=True).stdout)"

# OpenBLAS starts one worker per CPU it may use; /proc/self/task counts them.
expect "numpy: 500x500 dot on OpenBLAS threads" "^dot ok" \
    --entrypoint python3 "$image" -c "import os, numpy as np
a = np.random.rand(500, 500); b = a @ a
assert np.allclose(b[0, 0], (a[0] * a[:, 0]).sum())
cpus = len(os.sched_getaffinity(0)); tasks = len(os.listdir('/proc/self/task'))
print('dot ok' if tasks >= min(cpus, 2) else 'dot without threads',
      tasks, 'threads,', cpus, 'cpus')"

expect "ipykernel: a real kernel over ipc:// runs code" "^kernel says 6 True$" \
    -e PYDEVD_DISABLE_FILE_VALIDATION=1 --entrypoint python3 "$image" -c "
import jupyter_client
km = jupyter_client.KernelManager(transport='ipc', ip='/tmp/kb-ipc')
km.start_kernel()
kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=90)
msg = kc.execute('import numpy, threading; '
                 'print(\"kernel says\", numpy.arange(4).sum(), threading.active_count() > 1)')
out = []
while True:
    m = kc.get_iopub_msg(timeout=60)
    if m['parent_header'].get('msg_id') != msg:
        continue
    if m['msg_type'] == 'stream':
        out.append(m['content']['text'])
    if m['msg_type'] == 'status' and m['content']['execution_state'] == 'idle':
        break
kc.stop_channels(); km.shutdown_kernel(now=True)
del kc, km
print(''.join(out), end='')"

say "--- what must fail (native x86_64, through libc's syscall())"

expect "denied syscalls fail with the expected errno" "^all denied$" \
    --entrypoint python3 "$image" -c "
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
buf = ctypes.create_string_buffer(256)
addr = ctypes.addressof(buf)
strings = [ctypes.c_char_p(s) for s in (b'none', b'/tmp', b'tmpfs')]
ptr = [ctypes.cast(s, ctypes.c_void_p).value for s in strings]
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17
checks = [
    ('io_uring_setup', 425, (1, addr), errno.EPERM),
    ('ptrace(PTRACE_TRACEME)', 101, (0, 0, 0, 0), errno.EPERM),
    ('bpf(BPF_MAP_CREATE)', 321, (0, addr, 72), errno.EPERM),
    ('userfaultfd', 323, (0,), errno.EPERM),
    ('perf_event_open', 298, (addr, 0, -1, -1, 0), errno.EPERM),
    ('keyctl(KEYCTL_GET_KEYRING_ID)', 250, (0, -3, 1), errno.EPERM),
    ('unshare(CLONE_NEWUSER)', 272, (CLONE_NEWUSER,), errno.EPERM),
    ('clone(CLONE_NEWUSER)', 56, (CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), errno.EPERM),
    ('setns', 308, (0, 0), errno.EPERM),
    ('mount(tmpfs)', 165, (ptr[0], ptr[1], ptr[2], 0, 0), errno.EPERM),
    ('process_vm_readv', 310, (1, addr, 1, addr, 1, 0), errno.EPERM),
    ('memfd_secret', 447, (0,), errno.EPERM),
    ('personality(ADDR_NO_RANDOMIZE)', 135, (0x40000,), errno.EPERM),
    ('socket(AF_VSOCK)', 41, (40, 1, 0), errno.EAFNOSUPPORT),
    ('socket(AF_ALG)', 41, (38, 5, 0), errno.EAFNOSUPPORT),
    ('socket(AF_PACKET)', 41, (17, 3, 0), errno.EAFNOSUPPORT),
    ('socket(AF_INET | 1 << 32)', 41, ((1 << 32) | 2, 1, 0), errno.EAFNOSUPPORT),
    ('socketpair(AF_INET)', 53, (2, 1, 0, addr), errno.EAFNOSUPPORT),
    ('clone3', 435, (addr, 88), errno.ENOSYS),
    ('cachestat (451, newer than any named)', 451, (0, 0, 0, 0), errno.ENOSYS),
    ('syscall 470 (unknown to libseccomp)', 470, (), errno.ENOSYS),
]
bad = 0
for name, nr, args, want in checks:
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    if nr == 56 and r == 0:
        os._exit(0)
    if nr == 56 and r > 0:
        os.waitpid(r, 0)
    ok = r == -1 and e == want
    bad += not ok
    got = 'errno %s' % errno.errorcode.get(e, e) if r == -1 else 'returned %d' % r
    print('%s %s: %s' % ('ok  ' if ok else 'FAIL', name, got))
for family, kind, proto in ((socket.AF_UNIX, socket.SOCK_STREAM, 0),
                            (socket.AF_INET, socket.SOCK_STREAM, 0),
                            (socket.AF_INET6, socket.SOCK_DGRAM, 0),
                            (socket.AF_NETLINK, socket.SOCK_RAW, 0)):
    try:
        socket.socket(family, kind, proto).close()
        print('ok   socket(%s) allowed' % family.name)
    except OSError as exc:
        bad += 1
        print('FAIL socket(%s): %s' % (family.name, exc))
a, b = socket.socketpair()
print('ok   socketpair(AF_UNIX) allowed')
print('all denied' if bad == 0 else '%d surprises' % bad)
raise SystemExit(1 if bad else 0)"

say "--- what must fail (32-bit int \$0x80 and x32 entry points)"

expect "32-bit and x32 calls never get through" "i386 int \\\$0x80 getpid" \
    -v "$tmp:/probe:ro" --entrypoint /probe/compat "$image"

# The containers were all started with --rm; make sure none is left.
left=$(docker ps -aq --filter "label=$label")
if [ -n "$left" ]; then
    say "FAIL containers left behind: $left"
    failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
    say "verify.sh: $failures check(s) failed"
    exit 1
fi
say "verify.sh: all checks passed"
