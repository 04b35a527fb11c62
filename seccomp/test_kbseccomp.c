/* test_kbseccomp.c: checks the committed kernel.policy (what it allows and denies, in the
 * parser's evaluator and in the BPF program libseccomp builds from it) and the parser's
 * error reports. Usage: test_kbseccomp PATH/TO/kernel.policy */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <linux/audit.h>
#include <linux/seccomp.h>

#include "policy.h"

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            failures++;                                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
        }                                                                                         \
    } while (0)

#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define AF_NETLINK_ 16
#define CLONE_THREAD_FLAGS 0x3d0f00ULL /* what glibc's pthread_create passes */
#define X32_BIT 0x40000000

static int failures;

/* A filter under test: the policy, and the program libseccomp built from it. */
struct subject {
    struct policy *policy;
    struct sock_filter *program;
    size_t count;
};

static const char *const must_deny[] = {
    "io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace", "process_vm_readv",
    "process_vm_writev", "bpf", "userfaultfd", "perf_event_open", "keyctl", "add_key",
    "request_key", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "syslog", "open_by_handle_at", "name_to_handle_at",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
    "setdomainname", "quotactl", "lookup_dcookie", "fanotify_init", "kcmp", "pidfd_getfd",
    "memfd_secret", "vhangup", "iopl", "ioperm",
};

/* A sample of what Python, ipykernel, OpenBLAS, bash, coreutils and tini call. */
static const char *const must_allow[] = {
    "read", "write", "openat", "close", "newfstatat", "statx", "mmap", "munmap", "mprotect",
    "brk", "futex", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "execve", "wait4",
    "exit_group", "epoll_wait", "epoll_ctl", "eventfd2", "pipe2", "dup2", "getrandom",
    "sched_getaffinity", "sched_yield", "clock_gettime", "nanosleep", "rseq",
    "set_robust_list", "faccessat2", "close_range", "prlimit64", "ioctl", "fcntl", "getdents64",
    "sendmsg", "recvmsg", "connect", "bind", "poll", "madvise", "sysinfo", "kill", "setpgid",
    "arch_prctl", "set_tid_address", "vfork", "fork",
};

static int nr_of(const char *name)
{
    return seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Runs a classic BPF seccomp program over the seccomp_data of one call, laid out as the
 * x86_64 kernel lays it out (little-endian). Returns 0 and the program's return value in
 * *ret, or -EINVAL for an instruction this interpreter does not know. */
static int bpf_run(const struct sock_filter *prog, size_t count, uint32_t arch, uint32_t nr,
                   const uint64_t args[POLICY_MAX_ARGS], uint32_t *ret)
{
    unsigned char data[64] = {0};
    uint32_t a = 0;
    uint32_t x = 0;
    uint32_t mem[BPF_MEMWORDS] = {0};
    size_t pc = 0;

    store_le32(data, nr);
    store_le32(data + 4, arch);
    for (int i = 0; i < POLICY_MAX_ARGS; i++) {
        store_le32(data + 16 + 8 * i, (uint32_t)args[i]);
        store_le32(data + 20 + 8 * i, (uint32_t)(args[i] >> 32));
    }
    while (pc < count) {
        const struct sock_filter *in = &prog[pc++];
        uint32_t operand = BPF_SRC(in->code) == BPF_X ? x : in->k;
        bool jump = false;

        switch (in->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (in->k > sizeof(data) - 4 || in->k % 4 != 0)
                return -EINVAL;
            a = load_le32(data + in->k);
            continue;
        case BPF_LD | BPF_IMM:
            a = in->k;
            continue;
        case BPF_LDX | BPF_IMM:
            x = in->k;
            continue;
        case BPF_LD | BPF_MEM:
        case BPF_LDX | BPF_MEM:
        case BPF_ST:
        case BPF_STX:
            if (in->k >= BPF_MEMWORDS)
                return -EINVAL;
            if (in->code == (BPF_LD | BPF_MEM))
                a = mem[in->k];
            else if (in->code == (BPF_LDX | BPF_MEM))
                x = mem[in->k];
            else
                mem[in->k] = in->code == BPF_ST ? a : x;
            continue;
        case BPF_ALU | BPF_AND | BPF_K:
        case BPF_ALU | BPF_AND | BPF_X:
            a &= operand;
            continue;
        case BPF_ALU | BPF_OR | BPF_K:
        case BPF_ALU | BPF_OR | BPF_X:
            a |= operand;
            continue;
        case BPF_MISC | BPF_TAX:
            x = a;
            continue;
        case BPF_MISC | BPF_TXA:
            a = x;
            continue;
        case BPF_RET | BPF_K:
            *ret = in->k;
            return 0;
        case BPF_RET | BPF_A:
            *ret = a;
            return 0;
        case BPF_JMP | BPF_JA:
            pc += in->k;
            continue;
        case BPF_JMP | BPF_JEQ | BPF_K:
        case BPF_JMP | BPF_JEQ | BPF_X:
            jump = a == operand;
            break;
        case BPF_JMP | BPF_JGT | BPF_K:
        case BPF_JMP | BPF_JGT | BPF_X:
            jump = a > operand;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
        case BPF_JMP | BPF_JGE | BPF_X:
            jump = a >= operand;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
        case BPF_JMP | BPF_JSET | BPF_X:
            jump = (a & operand) != 0;
            break;
        default:
            fprintf(stderr, "bpf_run: unknown instruction 0x%04x at %zu\n", in->code, pc - 1);
            return -EINVAL;
        }
        pc += jump ? in->jt : in->jf;
    }
    return -EINVAL;
}

/* What the BPF program does with a native x86_64 call, as a policy verdict. Returns 0, or
 * -EINVAL when the program fails or returns something other than allow or errno. */
static int bpf_verdict(const struct subject *s, uint32_t arch, uint32_t nr,
                       const uint64_t args[POLICY_MAX_ARGS], struct policy_verdict *v,
                       uint32_t *raw)
{
    uint32_t ret = 0;

    if (bpf_run(s->program, s->count, arch, nr, args, &ret) < 0)
        return -EINVAL;
    *raw = ret;
    v->line = 0;
    if (ret == SECCOMP_RET_ALLOW) {
        v->action = POLICY_ALLOW;
        v->errno_ret = 0;
        return 0;
    }
    if ((ret & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO) {
        v->action = POLICY_ERRNO;
        v->errno_ret = ret & SECCOMP_RET_DATA;
        return 0;
    }
    return -EINVAL;
}

/* Checks that the evaluator and the BPF program agree on one call and returns the verdict. */
static struct policy_verdict judge(const struct subject *s, int nr, uint64_t arg0)
{
    uint64_t args[POLICY_MAX_ARGS] = {arg0, 0, 0, 0, 0, 0};
    struct policy_verdict want = {POLICY_ERRNO, 0, 0};
    struct policy_verdict got = {POLICY_ERRNO, 0, 0};
    uint32_t raw = 0;
    int rc_eval = policy_evaluate(s->policy, nr, args, &want);
    int rc_bpf = bpf_verdict(s, AUDIT_ARCH_X86_64, (uint32_t)nr, args, &got, &raw);

    CHECK(rc_eval == 0);
    CHECK(rc_bpf == 0);
    if (want.action != got.action || want.errno_ret != got.errno_ret) {
        failures++;
        fprintf(stderr, "syscall %d arg0 0x%llx: policy says %s/%u (line %d), BPF 0x%08x\n", nr,
                (unsigned long long)arg0, want.action == POLICY_ALLOW ? "allow" : "errno",
                want.errno_ret, want.line, raw);
    }
    return want;
}

static bool allowed(const struct subject *s, const char *name, uint64_t arg0)
{
    int nr = nr_of(name);

    CHECK(nr >= 0);
    return nr >= 0 && judge(s, nr, arg0).action == POLICY_ALLOW;
}

static bool fails_with(const struct subject *s, const char *name, uint64_t arg0, unsigned int e)
{
    struct policy_verdict v;
    int nr = nr_of(name);

    CHECK(nr >= 0);
    if (nr < 0)
        return false;
    v = judge(s, nr, arg0);
    return v.action == POLICY_ERRNO && v.errno_ret == e;
}

static int subject_init(struct subject *s, const char *name, const char *text)
{
    scmp_filter_ctx filter = NULL;
    int rc = 0;

    s->policy = policy_new();
    s->program = NULL;
    s->count = 0;
    if (s->policy == NULL)
        return -ENOMEM;
    rc = policy_parse_text(s->policy, name, text);
    if (rc == 0)
        rc = policy_build_filter(s->policy, &filter);
    if (rc == 0)
        rc = policy_filter_program(filter, &s->program, &s->count);
    if (rc < 0)
        fprintf(stderr, "%s", policy_errors(s->policy));
    if (filter != NULL)
        seccomp_release(filter);
    return rc;
}

static void subject_cleanup(struct subject *s)
{
    policy_free(s->policy);
    free(s->program);
    s->policy = NULL;
    s->program = NULL;
}

static char *read_all(const char *path)
{
    FILE *file = fopen(path, "r");
    char *text = NULL;
    long size = 0;

    if (file == NULL)
        return NULL;
    if (fseek(file, 0, SEEK_END) == 0)
        size = ftell(file);
    if (size >= 0 && fseek(file, 0, SEEK_SET) == 0)
        text = malloc((size_t)size + 1);
    if (text != NULL && fread(text, 1, (size_t)size, file) == (size_t)size) {
        text[size] = '\0';
    } else {
        free(text);
        text = NULL;
    }
    fclose(file);
    return text;
}

/* The generated JSON: stable, x86_64 only, every name a real syscall, the default EPERM. */
static void test_json(const struct subject *s)
{
    char *json = NULL;
    char *again = NULL;
    json_object *root = NULL;
    json_object *field = NULL;
    json_object *syscalls = NULL;
    bool saw_clone3 = false;

    CHECK(policy_to_json(s->policy, &json) == 0);
    CHECK(policy_to_json(s->policy, &again) == 0);
    CHECK(json != NULL && again != NULL && strcmp(json, again) == 0);
    root = json != NULL ? json_tokener_parse(json) : NULL;
    CHECK(root != NULL);
    if (root == NULL)
        goto out;
    CHECK(json_object_object_get_ex(root, "defaultAction", &field) &&
          strcmp(json_object_get_string(field), "SCMP_ACT_ERRNO") == 0);
    CHECK(json_object_object_get_ex(root, "defaultErrnoRet", &field) &&
          json_object_get_int(field) == EPERM);
    CHECK(json_object_object_get_ex(root, "architectures", &field) &&
          json_object_array_length(field) == 1 &&
          strcmp(json_object_get_string(json_object_array_get_idx(field, 0)),
                 "SCMP_ARCH_X86_64") == 0);
    CHECK(!json_object_object_get_ex(root, "archMap", &field));
    CHECK(json_object_object_get_ex(root, "syscalls", &syscalls));
    for (size_t i = 0; i < json_object_array_length(syscalls); i++) {
        json_object *entry = json_object_array_get_idx(syscalls, i);
        json_object *names = NULL;
        json_object *action = NULL;
        json_object *errno_ret = NULL;

        CHECK(json_object_object_get_ex(entry, "names", &names));
        CHECK(json_object_object_get_ex(entry, "action", &action));
        for (size_t k = 0; k < json_object_array_length(names); k++) {
            const char *name = json_object_get_string(json_object_array_get_idx(names, k));

            CHECK(nr_of(name) >= 0);
            for (size_t d = 0; d < sizeof(must_deny) / sizeof(must_deny[0]); d++)
                CHECK(strcmp(name, must_deny[d]) != 0);
            if (strcmp(name, "clone3") == 0) {
                saw_clone3 = true;
                CHECK(strcmp(json_object_get_string(action), "SCMP_ACT_ERRNO") == 0);
                CHECK(json_object_object_get_ex(entry, "errnoRet", &errno_ret) &&
                      json_object_get_int(errno_ret) == ENOSYS);
            }
        }
    }
    CHECK(saw_clone3);
out:
    json_object_put(root);
    free(json);
    free(again);
}

static void test_committed(const char *path)
{
    struct subject s = {0};
    char *text = read_all(path);
    static const uint64_t families[] = {1, 2, 10, 16};
    static const uint64_t personas[] = {0, 8, 0x20000, 0x20008, 0xffffffff};
    static const uint64_t clone_ns[] = {0x20000,  0x2000000,  0x4000000, 0x8000000,
                                        0x10000000, 0x20000000, 0x40000000};
    static const uint64_t samples[] = {0, 1, 2, 8, 10, 16, 17, 38, 40, 0x20000, 0x20008,
                                       0x40000, CLONE_THREAD_FLAGS, 0x10000000, 0x7E020000,
                                       0xffffffff, 0x100000002ULL, UINT64_MAX};

    CHECK(text != NULL);
    if (text == NULL || subject_init(&s, path, text) < 0) {
        CHECK(!"the committed policy parses and builds");
        goto out;
    }
    /* Every statement names only real x86_64 syscalls: the parser refuses anything else. */
    for (size_t i = 0; i < sizeof(must_deny) / sizeof(must_deny[0]); i++) {
        if (allowed(&s, must_deny[i], 0) || allowed(&s, must_deny[i], 1)) {
            failures++;
            fprintf(stderr, "%s is allowed\n", must_deny[i]);
        }
    }
    for (size_t i = 0; i < sizeof(must_allow) / sizeof(must_allow[0]); i++) {
        if (!allowed(&s, must_allow[i], 0)) {
            failures++;
            fprintf(stderr, "%s is not allowed\n", must_allow[i]);
        }
    }
    CHECK(fails_with(&s, "clone3", 0, ENOSYS));
    CHECK(fails_with(&s, "clone3", 0x10000000, ENOSYS));

    /* Sockets: exactly AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK; the rest EAFNOSUPPORT,
     * including a permitted family with high bits set (the kernel would truncate it). */
    for (uint64_t family = 0; family < 1100; family++) {
        bool want = false;

        for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
            want = want || family == families[i];
        CHECK(allowed(&s, "socket", family) == want);
        CHECK(want || fails_with(&s, "socket", family, EAFNOSUPPORT));
        CHECK(allowed(&s, "socketpair", family) == (family == AF_UNIX_));
        CHECK(family == AF_UNIX_ || fails_with(&s, "socketpair", family, EAFNOSUPPORT));
    }
    CHECK(fails_with(&s, "socket", 0x100000002ULL, EAFNOSUPPORT));
    CHECK(fails_with(&s, "socket", UINT64_MAX, EAFNOSUPPORT));
    CHECK(fails_with(&s, "socket", 40, EAFNOSUPPORT)); /* AF_VSOCK */
    CHECK(fails_with(&s, "socket", 38, EAFNOSUPPORT)); /* AF_ALG */
    CHECK(fails_with(&s, "socket", 17, EAFNOSUPPORT)); /* AF_PACKET */

    /* clone: threads and fork, never a namespace. */
    CHECK(allowed(&s, "clone", CLONE_THREAD_FLAGS));
    CHECK(allowed(&s, "clone", 17)); /* SIGCHLD: fork */
    for (size_t i = 0; i < sizeof(clone_ns) / sizeof(clone_ns[0]); i++)
        CHECK(fails_with(&s, "clone", CLONE_THREAD_FLAGS | clone_ns[i], EPERM));

    /* personality: Docker's harmless values only. */
    for (size_t i = 0; i < sizeof(personas) / sizeof(personas[0]); i++)
        CHECK(allowed(&s, "personality", personas[i]));
    CHECK(!allowed(&s, "personality", 0x40000));  /* ADDR_NO_RANDOMIZE */
    CHECK(!allowed(&s, "personality", 0x400000)); /* READ_IMPLIES_EXEC */
    CHECK(!allowed(&s, "personality", 0x100000000ULL));

    /* The BPF program and the evaluator agree on every syscall number. */
    for (int nr = 0; nr < 600; nr++) {
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
            judge(&s, nr, samples[i]);
    }

    /* Only the native ABI: i386 and x32 calls never reach an allow. */
    {
        uint64_t args[POLICY_MAX_ARGS] = {0};
        uint32_t ret = 0;

        CHECK(bpf_run(s.program, s.count, AUDIT_ARCH_I386, 20, args, &ret) == 0);
        CHECK(ret != SECCOMP_RET_ALLOW && (ret & SECCOMP_RET_ACTION_FULL) != SECCOMP_RET_TRACE);
        CHECK(bpf_run(s.program, s.count, AUDIT_ARCH_X86_64, X32_BIT | 39, args, &ret) == 0);
        CHECK(ret != SECCOMP_RET_ALLOW);
    }
    test_json(&s);
out:
    subject_cleanup(&s);
    free(text);
}

#define HEAD "default errno EPERM\narch x86_64\n"

/* Parses text, expecting it to be refused with a message containing needle. */
static void expect_error(const char *text, const char *needle)
{
    struct policy *policy = policy_new();
    int rc = policy_parse_text(policy, "t.policy", text);
    const char *errors = policy_errors(policy);

    if (rc != -EINVAL || strstr(errors, needle) == NULL) {
        failures++;
        fprintf(stderr, "expected an error containing \"%s\" (rc %d), got:\n%s", needle, rc,
                errors);
    }
    policy_free(policy);
}

static void test_errors(void)
{
    const char *errors = NULL;
    struct policy *policy = NULL;

    expect_error(HEAD "allow read\nallow no_such_call\n",
                 "t.policy:4: unknown syscall 'no_such_call'");
    expect_error(HEAD "allow read write\n\nallow openat read\n",
                 "t.policy:5: 'read' is already listed at line 3");
    expect_error(HEAD "allow read read\n", "t.policy:3: duplicate syscall 'read' on this line");
    expect_error(HEAD "deny ptrace\nallow ptrace\n", "t.policy:4: 'ptrace' is already denied");
    expect_error(HEAD "allow socket arg0 == 1\nallow socket arg0 == 1\n",
                 "t.policy:4: duplicate rule for 'socket' (same as line 3)");
    expect_error(HEAD "allow socket arg0 ==\n", "t.policy:3: missing value after '=='");
    expect_error(HEAD "allow socket arg0 = 1\n", "t.policy:3: unknown comparison '='");
    expect_error(HEAD "allow socket == 1\n", "t.policy:3: expected a syscall name, found '=='");
    expect_error(HEAD "allow socket arg7 == 1\n", "t.policy:3: expected a condition");
    expect_error(HEAD "allow socket arg0 == 08\n", "t.policy:3: '08' is not a decimal");
    expect_error(HEAD "allow socket arg0 == 0x1g\n", "t.policy:3: '0x1g' is not a decimal");
    expect_error(HEAD "permit read\n", "t.policy:3: unknown statement 'permit'");
    expect_error(HEAD "errno\n", "t.policy:3: expected 'errno ERRNO NAME...'");
    expect_error(HEAD "errno EWHAT read\n", "t.policy:3: expected 'errno ERRNO NAME...'");
    expect_error(HEAD "errno ENOSYS\n", "t.policy:3: expected a syscall name");
    expect_error(HEAD "allow\n", "t.policy:3: expected a syscall name");
    expect_error(HEAD "allow read write arg0 == 1\n",
                 "t.policy:3: a rule with conditions names exactly one syscall");
    expect_error(HEAD "deny read arg0 == 1\n", "t.policy:3: deny takes only syscall names");
    expect_error(HEAD "allow socket arg0 >= 1 arg0 <= 3\n", "t.policy:3: arg0 is tested twice");
    expect_error(HEAD "allow clone arg0 & 0xff == 0x100\n", "t.policy:3: 'arg0 & 0xff == 0x100'"
                                                           " can never hold");
    expect_error(HEAD "allow clone arg0 & 0xff\n", "t.policy:3: a masked test reads");
    expect_error(HEAD "allow socket arg0 < 0\n", "can never hold");
    expect_error(HEAD "allow socket arg0 == 1\nerrno EAFNOSUPPORT socket arg0 < 5\n",
                 "t.policy:4: rules for 'socket' here and at line 3 can match the same call");
    expect_error(HEAD "allow socketcall\n", "t.policy:3: 'socketcall' is not an x86_64 syscall");
    expect_error(HEAD "errno EPERM read\n", "t.policy:3: errno 1 is the default action");
    expect_error(HEAD "errno ENOSYS socket otherwise\n",
                 "t.policy:3: 'otherwise' but no other rule for 'socket'");
    expect_error(HEAD "allow socket arg0 == 1\nerrno ENOSYS socket otherwise extra\n",
                 "t.policy:4: nothing may follow 'otherwise'");
    expect_error(HEAD "allow socket arg0 == 1\nallow socket arg1 == 1\n"
                      "errno ENOSYS socket otherwise\n",
                 "t.policy:5: 'otherwise' needs the other rules for 'socket' to compare one");
    expect_error("default errno EPERM\narch x86\n", "t.policy:2: expected 'arch x86_64'");
    expect_error("arch x86_64\nallow read\n", "t.policy: missing 'default errno ERRNO'");
    expect_error("default errno EPERM\nallow read\n", "t.policy: missing 'arch x86_64'");
    expect_error(HEAD "default errno EPERM\n", "t.policy:3: second 'default' (first at line 1)");

    /* All errors are reported, in line order, after the whole file was read. */
    policy = policy_new();
    CHECK(policy_parse_text(policy, "t.policy",
                            HEAD "allow read\nallow bogus1\nallow read\nallow bogus2\n") ==
          -EINVAL);
    errors = policy_errors(policy);
    CHECK(strstr(errors, "t.policy:4: unknown syscall 'bogus1'") != NULL);
    CHECK(strstr(errors, "t.policy:5: 'read' is already listed at line 3") != NULL);
    CHECK(strstr(errors, "t.policy:6: unknown syscall 'bogus2'") != NULL);
    CHECK(strstr(errors, "bogus1") < strstr(errors, "bogus2"));
    policy_free(policy);
}

/* `otherwise` complements values, ranges and open ends; the BPF program must agree. */
static void test_otherwise(void)
{
    struct subject s = {0};
    static const char text[] = HEAD "allow socket arg0 == 5\n"
                                    "allow socket arg0 >= 1000\n"
                                    "allow socket arg0 == 77\n"
                                    "errno EAFNOSUPPORT socket otherwise\n"
                                    "allow personality arg0 != 3\n"
                                    "errno EINVAL personality otherwise\n";

    if (subject_init(&s, "t.policy", text) < 0) {
        CHECK(!"the otherwise policy parses");
        goto out;
    }
    for (uint64_t v = 0; v < 1200; v++) {
        bool want = v == 5 || v == 77 || v >= 1000;

        CHECK(allowed(&s, "socket", v) == want);
        CHECK(want || fails_with(&s, "socket", v, EAFNOSUPPORT));
    }
    CHECK(allowed(&s, "socket", UINT64_MAX));
    CHECK(fails_with(&s, "personality", 3, EINVAL));
    CHECK(allowed(&s, "personality", 4));
    CHECK(allowed(&s, "personality", 0));
out:
    subject_cleanup(&s);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_kbseccomp PATH/TO/kernel.policy\n");
        return 2;
    }
    test_committed(argv[1]);
    test_errors();
    test_otherwise();
    if (failures > 0) {
        fprintf(stderr, "test_kbseccomp: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_kbseccomp: all checks passed\n");
    return 0;
}
