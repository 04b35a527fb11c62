/* The daemon's own seccomp allow-list. It holds what a running kernelboxd does: serve HTTP,
 * talk to the Docker socket and the kernels' ipc sockets, manage files in the runtime
 * directory, and run its threads. Anything else fails with EPERM; running a program, tracing
 * or changing mounts and namespaces kills the process outright. */
#include "sandbox.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

static const char *const allowed[] = {
    /* descriptors and memory */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "lseek", "fcntl",
    "dup", "dup2", "dup3", "pipe2", "mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
    /* threads, signals, time */
    "futex", "set_robust_list", "get_robust_list", "rseq", "rt_sigaction", "rt_sigprocmask",
    "rt_sigreturn", "sigaltstack", "restart_syscall", "sched_yield", "sched_getaffinity",
    "sched_getscheduler", "sched_setscheduler", "sched_getparam", "clock_gettime",
    "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "exit", "exit_group",
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getrandom",
    "sysinfo", "uname", "prlimit64", "getrlimit", "membarrier",
    /* the event loop */
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "poll", "ppoll", "select",
    "pselect6", "eventfd2",
    /* sockets: HTTP clients, the Docker socket, the kernels' ipc sockets */
    "socketpair", "connect", "accept", "accept4", "getsockname", "getpeername", "setsockopt",
    "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
    "shutdown",
    /* the runtime directory */
    "openat", "newfstatat", "fstat", "statx", "faccessat", "faccessat2", "readlinkat",
    "getdents64", "getcwd", "unlinkat", "mkdirat", "fchmod", "fchmodat", "fchown", "fchownat",
    "renameat", "renameat2", "fsync", "fdatasync", "ftruncate", "unlink", "mkdir", "rmdir",
    "chmod", "chown", "rename", "stat", "lstat", "access", "readlink",
};

/* Never needed once running, and the first moves of an intruder: stop the process. */
static const char *const fatal[] = {
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount",
    "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "io_uring_setup",
    "userfaultfd", "perf_event_open", "keyctl", "add_key", "request_key",
};

/* A condition on the first argument, every field named (SCMP_A0 leaves some implicit). */
static struct scmp_arg_cmp arg0(enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
    struct scmp_arg_cmp arg = {.arg = 0, .op = op, .datum_a = a, .datum_b = b};

    return arg;
}

static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned int nargs,
               const struct scmp_arg_cmp *args, char *err, size_t errlen)
{
    int nr = seccomp_syscall_resolve_name(name), rc;

    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a syscall of this architecture: nothing to allow */
    rc = seccomp_rule_add_array(ctx, action, nr, nargs, args);
    if (rc < 0)
        snprintf(err, errlen, "seccomp rule for %s: %s", name, strerror(-rc));
    return rc;
}

int sandbox_enter(char *err, size_t errlen)
{
    scmp_filter_ctx ctx;
    int rc = 0;

    ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a seccomp filter");
        return -ENOMEM;
    }
    /* Every thread at once, and no way back to privileges through exec. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0 ||
        seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) < 0) {
        snprintf(err, errlen, "cannot set the seccomp filter's attributes");
        rc = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && rc == 0; i++)
        rc = add(ctx, SCMP_ACT_ALLOW, allowed[i], 0, NULL, err, errlen);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]) && rc == 0; i++) {
#ifdef SANDBOX_SANITIZER
        if (strcmp(fatal[i], "ptrace") == 0)
            continue; /* allowed below */
#endif
        rc = add(ctx, SCMP_ACT_KILL_PROCESS, fatal[i], 0, NULL, err, errlen);
    }
#ifdef SANDBOX_SANITIZER
    /* LeakSanitizer stops the world with a tracer thread at exit, which lists
     * /proc/<pid>/task with the old open and getdents; its reports read /proc/self/maps.
     * A sanitizer build keeps ptrace and plain clone, and so only ever runs in tests. */
    {
        static const char *const extra[] = {"ptrace", "clone", "wait4", "open", "getdents"};

        for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]) && rc == 0; i++)
            rc = add(ctx, SCMP_ACT_ALLOW, extra[i], 0, NULL, err, errlen);
    }
#endif
    if (rc < 0)
        goto out;
    {
        /* Sockets of three families only: no packet, netlink or vsock sockets. */
        static const int families[] = {AF_UNIX, AF_INET, AF_INET6};

        for (size_t i = 0; i < sizeof(families) / sizeof(families[0]) && rc == 0; i++) {
            struct scmp_arg_cmp arg = arg0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0);

            rc = add(ctx, SCMP_ACT_ALLOW, "socket", 1, &arg, err, errlen);
        }
    }
#ifndef SANDBOX_SANITIZER
    if (rc == 0) {
        /* New threads, never new processes. */
        struct scmp_arg_cmp arg = arg0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);

        rc = add(ctx, SCMP_ACT_ALLOW, "clone", 1, &arg, err, errlen);
    }
#endif
    if (rc == 0) {
        /* glibc falls back to clone when clone3 is missing; its flags could not be checked. */
        rc = add(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err, errlen);
    }
    if (rc == 0) {
        /* abort() and raise() signal the daemon's own threads, nobody else's. */
        struct scmp_arg_cmp arg = arg0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);

        rc = add(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &arg, err, errlen);
    }
    if (rc < 0)
        goto out;
    rc = seccomp_load(ctx);
    if (rc < 0)
        snprintf(err, errlen, "cannot load the seccomp filter: %s", strerror(-rc));
out:
    seccomp_release(ctx);
    return rc;
}
