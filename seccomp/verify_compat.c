/* verify_compat.c: run by verify.sh inside a kernel container, built static on the host.
 * Makes dangerous calls through the 32-bit (int $0x80) and x32 entry points, one child per
 * call, reports how each ended, and exits 1 if any call got through. */
#define _DEFAULT_SOURCE /* syscall() */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERIFY_X32_BIT 0x40000000L

enum abi { ABI_I386, ABI_X32 };

struct probe {
    const char *name;
    enum abi abi;
    long nr;
    long a;
    long b;
    long c;
};

/* Arguments live in static storage: a non-PIE static binary keeps it below 4 GiB, where a
 * 32-bit call can address it. */
static char mount_source[] = "none";
static char mount_target[] = "/tmp";
static char mount_type[] = "tmpfs";
static unsigned int socket_args[3] = {40, 1, 0}; /* AF_VSOCK, SOCK_STREAM, 0 */
static unsigned char zeroes[256];

static long call_i386(long nr, long a, long b, long c)
{
    long ret = 0;

    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

static long call_x32(long nr, long a, long b, long c)
{
    long ret = 0;

    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr | VERIFY_X32_BIT), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

/* Runs one probe in a child and prints its fate. Returns 1 if the call succeeded. */
static int run_probe(const struct probe *p)
{
    const char *abi = p->abi == ABI_I386 ? "i386 int $0x80" : "x32";
    int status = 0;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        printf("FAIL %s %s: fork: %s\n", abi, p->name, strerror(errno));
        return 1;
    }
    if (pid == 0) {
        long ret = p->abi == ABI_I386 ? call_i386(p->nr, p->a, p->b, p->c)
                                      : call_x32(p->nr, p->a, p->b, p->c);

        if (ret >= 0 || ret < -4095)
            printf("FAIL %s %s(%ld): returned %ld\n", abi, p->name, p->nr, ret);
        else
            printf("ok   %s %s(%ld): failed with errno %ld (%s)\n", abi, p->name, p->nr, -ret,
                   strerror((int)-ret));
        fflush(stdout);
        _exit(ret >= 0 || ret < -4095 ? 1 : 0);
    }
    if (waitpid(pid, &status, 0) < 0) {
        printf("FAIL %s %s: waitpid: %s\n", abi, p->name, strerror(errno));
        return 1;
    }
    if (WIFSIGNALED(status)) {
        printf("ok   %s %s(%ld): killed by signal %d%s\n", abi, p->name, p->nr,
               WTERMSIG(status), WTERMSIG(status) == SIGSYS ? " (SIGSYS)" : "");
        return 0;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(void)
{
    const struct probe probes[] = {
        /* getpid is harmless: if it got through, the whole 32-bit table would be open. */
        {"getpid", ABI_I386, 20, 0, 0, 0},
        {"mount", ABI_I386, 21, (long)mount_source, (long)mount_target, (long)mount_type},
        {"ptrace(PTRACE_TRACEME)", ABI_I386, 26, 0, 0, 0},
        {"socketcall(SYS_SOCKET, AF_VSOCK)", ABI_I386, 102, 1, (long)socket_args, 0},
        {"keyctl", ABI_I386, 288, 0, -3, 1},
        {"unshare(CLONE_NEWUSER)", ABI_I386, 310, 0x10000000, 0, 0},
        {"perf_event_open", ABI_I386, 336, (long)zeroes, 0, -1},
        {"bpf", ABI_I386, 357, 0, (long)zeroes, 72},
        {"socket(AF_VSOCK)", ABI_I386, 359, 40, 1, 0},
        {"userfaultfd", ABI_I386, 374, 0, 0, 0},
        {"io_uring_setup", ABI_I386, 425, 1, (long)zeroes, 0},
        {"getpid", ABI_X32, 39, 0, 0, 0},
        {"unshare(CLONE_NEWUSER)", ABI_X32, 272, 0x10000000, 0, 0},
        {"io_uring_setup", ABI_X32, 425, 1, (long)zeroes, 0},
        {"socket(AF_VSOCK)", ABI_X32, 41, 40, 1, 0},
    };
    int got_through = 0;

    /* The native entry point works, or the results below would mean nothing. */
    if (syscall(SYS_getpid) != getpid() || getpid() <= 0) {
        printf("FAIL native getpid does not work\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
        got_through += run_probe(&probes[i]);
    return got_through > 0 ? 1 : 0;
}
