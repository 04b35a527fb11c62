/* policy.c: parser and checks of the seccomp policy language, and its three back ends: a
 * libseccomp filter, the Docker/OCI JSON profile, and a reference evaluator for tests. */
#define _POSIX_C_SOURCE 200809L

#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#define POLICY_FILE_MAX (1024 * 1024)
#define POLICY_LINE_MAX 4096
#define POLICY_TOKENS_MAX 128
#define POLICY_ERRORS_MAX 50
/* Rules one `otherwise` may expand to; a handful of allowed values needs far fewer. */
#define POLICY_EXPAND_MAX 64
/* The kernel's limit on one classic BPF program (BPF_MAXINSNS). */
#define POLICY_BPF_MAX 4096

enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_MASKED_EQ };

struct cond {
    unsigned int arg;
    enum op op;
    uint64_t value; /* the operand, or the mask of OP_MASKED_EQ */
    uint64_t datum; /* OP_MASKED_EQ only: what the masked argument must equal */
};

enum kind { KIND_ALLOW, KIND_ERRNO, KIND_DENY };

struct rule {
    int line;
    enum kind kind;
    unsigned int errno_ret; /* KIND_ERRNO only */
    bool otherwise;         /* `... NAME otherwise`, replaced by real rules after parsing */
    size_t nsys;
    int *nrs;
    char **names;
    unsigned int ncond;
    struct cond cond[POLICY_MAX_ARGS];
};

struct message {
    int line;
    size_t seq;
    char *text;
};

struct policy {
    char *name;
    bool started; /* a parse was attempted: a policy is parsed once */
    bool ok;      /* parsed without errors: the back ends may run */
    bool out_of_memory;
    int default_line;
    unsigned int default_errno;
    int arch_line;
    struct rule *rules;
    size_t nrules;
    size_t rules_cap;
    struct message *messages;
    size_t nmessages;
    char *errors;
};

/* A closed range of argument values. */
struct span {
    uint64_t lo;
    uint64_t hi;
};

static const struct {
    const char *name;
    int value;
} errno_names[] = {
    {"EPERM", EPERM},           {"ENOENT", ENOENT},
    {"EACCES", EACCES},         {"EINVAL", EINVAL},
    {"ENOSYS", ENOSYS},         {"EPROTONOSUPPORT", EPROTONOSUPPORT},
    {"EOPNOTSUPP", EOPNOTSUPP}, {"EAFNOSUPPORT", EAFNOSUPPORT},
};

static const char *const op_tokens[] = {"==", "!=", "<", "<=", ">", ">="};

static const char *const op_json[] = {
    "SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT",        "SCMP_CMP_LE",
    "SCMP_CMP_GT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ",
};

static void fail(struct policy *policy, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct policy *policy, int line, const char *fmt, ...)
{
    struct message *grown = NULL;
    char text[512];
    va_list ap;

    if (policy->nmessages > POLICY_ERRORS_MAX)
        return;
    if (policy->nmessages == POLICY_ERRORS_MAX) {
        line = 0;
        snprintf(text, sizeof(text), "too many errors, stopping here");
    } else {
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
    }
    grown = realloc(policy->messages, (policy->nmessages + 1) * sizeof(*grown));
    if (grown == NULL) {
        policy->out_of_memory = true;
        return;
    }
    policy->messages = grown;
    grown[policy->nmessages].line = line;
    grown[policy->nmessages].seq = policy->nmessages;
    grown[policy->nmessages].text = strdup(text);
    if (grown[policy->nmessages].text == NULL) {
        policy->out_of_memory = true;
        return;
    }
    policy->nmessages++;
}

static void clear_messages(struct policy *policy)
{
    for (size_t i = 0; i < policy->nmessages; i++)
        free(policy->messages[i].text);
    free(policy->messages);
    policy->messages = NULL;
    policy->nmessages = 0;
    policy->out_of_memory = false;
}

static void rule_cleanup(struct rule *rule)
{
    for (size_t i = 0; i < rule->nsys; i++)
        free(rule->names[i]);
    free(rule->names);
    free(rule->nrs);
    rule->names = NULL;
    rule->nrs = NULL;
    rule->nsys = 0;
}

struct policy *policy_new(void)
{
    struct policy *policy = calloc(1, sizeof(*policy));

    if (policy == NULL)
        return NULL;
    policy->default_errno = EPERM;
    return policy;
}

void policy_free(struct policy *policy)
{
    if (policy == NULL)
        return;
    for (size_t i = 0; i < policy->nrules; i++)
        rule_cleanup(&policy->rules[i]);
    free(policy->rules);
    clear_messages(policy);
    free(policy->errors);
    free(policy->name);
    free(policy);
}

static int by_line(const void *a, const void *b)
{
    const struct message *x = a;
    const struct message *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

const char *policy_errors(struct policy *policy)
{
    const char *name = policy->name != NULL ? policy->name : "policy";
    size_t size = 1;
    size_t used = 0;
    char *text = NULL;

    qsort(policy->messages, policy->nmessages, sizeof(*policy->messages), by_line);
    for (size_t i = 0; i < policy->nmessages; i++)
        size += strlen(name) + strlen(policy->messages[i].text) + 16;
    if (policy->out_of_memory)
        size += 32;
    text = malloc(size);
    if (text == NULL)
        return "out of memory\n";
    text[0] = '\0';
    for (size_t i = 0; i < policy->nmessages; i++) {
        const struct message *m = &policy->messages[i];

        if (m->line > 0)
            used += (size_t)snprintf(text + used, size - used, "%s:%d: %s\n", name, m->line,
                                     m->text);
        else
            used += (size_t)snprintf(text + used, size - used, "%s: %s\n", name, m->text);
    }
    if (policy->out_of_memory)
        snprintf(text + used, size - used, "%s: out of memory\n", name);
    free(policy->errors);
    policy->errors = text;
    return text;
}

/* Parses a decimal or 0x-hex unsigned 64-bit number; no signs, spaces or octal. */
static int parse_u64(const char *text, uint64_t *out)
{
    uint64_t value = 0;
    unsigned int base = 10;
    const char *p = text;

    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && p[1] != '\0') {
        return -EINVAL;
    }
    if (*p == '\0')
        return -EINVAL;
    for (; *p != '\0'; p++) {
        unsigned int digit;

        if (*p >= '0' && *p <= '9')
            digit = (unsigned int)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            digit = (unsigned int)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            digit = (unsigned int)(*p - 'A' + 10);
        else
            return -EINVAL;
        if (value > (UINT64_MAX - digit) / base)
            return -ERANGE;
        value = value * base + digit;
    }
    *out = value;
    return 0;
}

static int parse_errno(const char *text, unsigned int *out)
{
    uint64_t value = 0;

    for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++) {
        if (strcmp(text, errno_names[i].name) == 0) {
            *out = (unsigned int)errno_names[i].value;
            return 0;
        }
    }
    /* The kernel reads SECCOMP_RET_DATA as an errno only below 4096. */
    if (parse_u64(text, &value) < 0 || value == 0 || value > 4095)
        return -EINVAL;
    *out = (unsigned int)value;
    return 0;
}

/* Splits line in place at blanks. Returns the number of tokens, or max + 1 if there are
 * more than max. */
static size_t tokenize(char *line, char **tokens, size_t max)
{
    size_t count = 0;
    char *p = line;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v')
            p++;
        if (*p == '\0')
            break;
        if (count == max)
            return max + 1;
        tokens[count++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\f' && *p != '\v')
            p++;
        if (*p == '\0')
            break;
        *p++ = '\0';
    }
    return count;
}

static bool starts_condition(const char *token)
{
    return strncmp(token, "arg", 3) == 0 && token[3] >= '0' && token[3] <= '9';
}

static int append_rule(struct policy *policy, const struct rule *rule)
{
    if (policy->nrules == policy->rules_cap) {
        size_t cap = policy->rules_cap == 0 ? 64 : policy->rules_cap * 2;
        struct rule *grown = realloc(policy->rules, cap * sizeof(*grown));

        if (grown == NULL)
            return -ENOMEM;
        policy->rules = grown;
        policy->rules_cap = cap;
    }
    policy->rules[policy->nrules++] = *rule;
    return 0;
}

/* Parses the conditions that follow a rule's syscall name into rule. */
static int parse_conditions(struct policy *policy, int line, char **tok, size_t n,
                            struct rule *rule)
{
    size_t i = 0;

    while (i < n) {
        struct cond c = {0};
        const char *value_text = NULL;
        const char *mask_text = NULL;
        uint64_t value = 0;
        uint64_t mask = 0;
        char argbuf[16];
        bool found = false;

        if (!starts_condition(tok[i]) || tok[i][4] != '\0' || tok[i][3] > '5') {
            fail(policy, line, "expected a condition such as 'arg0 == 1', found '%s'", tok[i]);
            return -EINVAL;
        }
        c.arg = (unsigned int)(tok[i][3] - '0');
        snprintf(argbuf, sizeof(argbuf), "arg%u", c.arg);
        i++;
        if (i == n) {
            fail(policy, line, "incomplete condition after '%s'", argbuf);
            return -EINVAL;
        }
        if (tok[i][0] == '&') {
            mask_text = tok[i] + 1;
            if (*mask_text == '\0') {
                i++;
                mask_text = i < n ? tok[i] : "";
            }
            i++;
            if (i >= n || strcmp(tok[i], "==") != 0) {
                fail(policy, line, "a masked test reads '%s & MASK == VALUE'", argbuf);
                return -EINVAL;
            }
            c.op = OP_MASKED_EQ;
        } else {
            for (size_t k = 0; k < sizeof(op_tokens) / sizeof(op_tokens[0]); k++) {
                if (strcmp(tok[i], op_tokens[k]) == 0) {
                    c.op = (enum op)k;
                    found = true;
                }
            }
            if (!found) {
                fail(policy, line, "unknown comparison '%s' (use == != < <= > >= or & MASK ==)",
                     tok[i]);
                return -EINVAL;
            }
        }
        i++;
        if (i == n) {
            fail(policy, line, "missing value after '%s'", tok[i - 1]);
            return -EINVAL;
        }
        value_text = tok[i];
        i++;
        if (parse_u64(value_text, &value) < 0) {
            fail(policy, line, "'%s' is not a decimal or 0x-hex 64-bit number", value_text);
            return -EINVAL;
        }
        if (mask_text != NULL && parse_u64(mask_text, &mask) < 0) {
            fail(policy, line, "mask '%s' is not a decimal or 0x-hex 64-bit number", mask_text);
            return -EINVAL;
        }
        if (c.op == OP_MASKED_EQ) {
            c.value = mask;
            c.datum = value;
            if ((value & ~mask) != 0) {
                fail(policy, line, "'%s & 0x%llx == 0x%llx' can never hold", argbuf,
                     (unsigned long long)mask, (unsigned long long)value);
                return -EINVAL;
            }
        } else {
            c.value = value;
            if ((c.op == OP_LT && value == 0) || (c.op == OP_GT && value == UINT64_MAX)) {
                fail(policy, line, "'%s %s %s' can never hold", argbuf, op_tokens[c.op],
                     value_text);
                return -EINVAL;
            }
        }
        for (unsigned int k = 0; k < rule->ncond; k++) {
            if (rule->cond[k].arg == c.arg) {
                fail(policy, line,
                     "%s is tested twice; runc would split the tests into separate rules", argbuf);
                return -EINVAL;
            }
        }
        if (rule->ncond == POLICY_MAX_ARGS) {
            fail(policy, line, "too many conditions");
            return -EINVAL;
        }
        rule->cond[rule->ncond++] = c;
    }
    return 0;
}

/* Parses the part of an allow, errno or deny statement after its keyword (and errno):
 * syscall names, then conditions or `otherwise`. */
static int parse_rule(struct policy *policy, int line, enum kind kind, unsigned int errno_ret,
                      char **tok, size_t n)
{
    struct rule rule = {0};
    size_t nnames = 0;
    bool bad = false;
    int rc = 0;

    rule.line = line;
    rule.kind = kind;
    rule.errno_ret = errno_ret;
    while (nnames < n && !starts_condition(tok[nnames]) && strcmp(tok[nnames], "otherwise") != 0)
        nnames++;
    if (nnames == 0) {
        fail(policy, line, "expected a syscall name");
        return -EINVAL;
    }
    if (nnames < n && kind == KIND_DENY) {
        fail(policy, line, "deny takes only syscall names");
        return -EINVAL;
    }
    if (nnames < n && nnames > 1) {
        fail(policy, line, "a rule with conditions names exactly one syscall");
        return -EINVAL;
    }
    rule.nrs = calloc(nnames, sizeof(*rule.nrs));
    rule.names = calloc(nnames, sizeof(*rule.names));
    if (rule.nrs == NULL || rule.names == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nnames; i++) {
        int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, tok[i]);
        bool repeated = false;

        if (tok[i][strspn(tok[i], "abcdefghijklmnopqrstuvwxyz0123456789_")] != '\0') {
            fail(policy, line, "expected a syscall name, found '%s'", tok[i]);
            bad = true;
            continue;
        }
        for (size_t k = 0; k < i; k++)
            repeated = repeated || strcmp(tok[k], tok[i]) == 0;
        if (repeated) {
            fail(policy, line, "duplicate syscall '%s' on this line", tok[i]);
            bad = true;
            continue;
        }
        if (nr == __NR_SCMP_ERROR) {
            fail(policy, line, "unknown syscall '%s'", tok[i]);
            bad = true;
            continue;
        }
        if (nr < 0) {
            fail(policy, line, "'%s' is not an x86_64 syscall", tok[i]);
            bad = true;
            continue;
        }
        rule.names[rule.nsys] = strdup(tok[i]);
        if (rule.names[rule.nsys] == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        rule.nrs[rule.nsys++] = nr;
    }
    if (nnames < n && strcmp(tok[nnames], "otherwise") == 0) {
        rule.otherwise = true;
        if (nnames + 1 < n) {
            fail(policy, line, "nothing may follow 'otherwise'");
            bad = true;
        }
    } else if (nnames < n && parse_conditions(policy, line, tok + nnames, n - nnames, &rule) < 0) {
        bad = true;
    }
    if (bad) {
        rc = -EINVAL;
        goto out;
    }
    rc = append_rule(policy, &rule);
    if (rc == 0)
        return 0;
out:
    rule_cleanup(&rule);
    return rc;
}

static int parse_line(struct policy *policy, int line, char **tok, size_t n)
{
    unsigned int errno_ret = 0;

    if (strcmp(tok[0], "default") == 0) {
        if (n != 3 || strcmp(tok[1], "errno") != 0 || parse_errno(tok[2], &errno_ret) < 0) {
            fail(policy, line, "expected 'default errno ERRNO'");
            return -EINVAL;
        }
        if (policy->default_line != 0) {
            fail(policy, line, "second 'default' (first at line %d)", policy->default_line);
            return -EINVAL;
        }
        policy->default_line = line;
        policy->default_errno = errno_ret;
        return 0;
    }
    if (strcmp(tok[0], "arch") == 0) {
        if (n != 2 || strcmp(tok[1], "x86_64") != 0) {
            fail(policy, line, "expected 'arch x86_64', the only architecture supported");
            return -EINVAL;
        }
        if (policy->arch_line != 0) {
            fail(policy, line, "second 'arch' (first at line %d)", policy->arch_line);
            return -EINVAL;
        }
        policy->arch_line = line;
        return 0;
    }
    if (strcmp(tok[0], "allow") == 0)
        return parse_rule(policy, line, KIND_ALLOW, 0, tok + 1, n - 1);
    if (strcmp(tok[0], "deny") == 0)
        return parse_rule(policy, line, KIND_DENY, 0, tok + 1, n - 1);
    if (strcmp(tok[0], "errno") == 0) {
        if (n < 2 || parse_errno(tok[1], &errno_ret) < 0) {
            fail(policy, line, "expected 'errno ERRNO NAME...' with ERRNO a name or 1..4095");
            return -EINVAL;
        }
        return parse_rule(policy, line, KIND_ERRNO, errno_ret, tok + 2, n - 2);
    }
    fail(policy, line, "unknown statement '%s' (expected default, arch, allow, errno or deny)",
         tok[0]);
    return -EINVAL;
}

/* Returns the ranges of values for which c holds, when they are ranges: up to two. */
static size_t cond_spans(const struct cond *c, struct span out[2])
{
    uint64_t v = c->value;
    size_t n = 0;

    switch (c->op) {
    case OP_EQ:
        out[n++] = (struct span){v, v};
        break;
    case OP_NE:
        if (v > 0)
            out[n++] = (struct span){0, v - 1};
        if (v < UINT64_MAX)
            out[n++] = (struct span){v + 1, UINT64_MAX};
        break;
    case OP_LT:
        if (v > 0)
            out[n++] = (struct span){0, v - 1};
        break;
    case OP_LE:
        out[n++] = (struct span){0, v};
        break;
    case OP_GT:
        if (v < UINT64_MAX)
            out[n++] = (struct span){v + 1, UINT64_MAX};
        break;
    case OP_GE:
        out[n++] = (struct span){v, UINT64_MAX};
        break;
    case OP_MASKED_EQ:
        /* Contiguous only when the free bits form a low block, as `otherwise` makes them. */
        if ((~v & (~v + 1)) == 0)
            out[n++] = (struct span){c->datum, c->datum | ~v};
        else
            return SIZE_MAX;
        break;
    }
    return n;
}

static bool cond_holds(const struct cond *c, uint64_t x)
{
    switch (c->op) {
    case OP_EQ:
        return x == c->value;
    case OP_NE:
        return x != c->value;
    case OP_LT:
        return x < c->value;
    case OP_LE:
        return x <= c->value;
    case OP_GT:
        return x > c->value;
    case OP_GE:
        return x >= c->value;
    case OP_MASKED_EQ:
        return (x & c->value) == c->datum;
    }
    return false;
}

/* Returns false only when no value satisfies both conditions (on the same argument); true
 * when some may. Exact for everything kbseccomp writes, conservative otherwise. */
static bool conds_may_meet(const struct cond *a, const struct cond *b)
{
    struct span sa[2];
    struct span sb[2];
    size_t na;
    size_t nb;

    if (a->op == OP_MASKED_EQ && b->op == OP_MASKED_EQ)
        return ((a->datum ^ b->datum) & a->value & b->value) == 0;
    na = cond_spans(a, sa);
    nb = cond_spans(b, sb);
    if (na == SIZE_MAX || nb == SIZE_MAX) {
        /* One is a scattered mask test: decide exactly against single values only. */
        const struct cond *m = na == SIZE_MAX ? a : b;
        const struct span *s = na == SIZE_MAX ? sb : sa;
        size_t ns = na == SIZE_MAX ? nb : na;
        bool single = true;

        for (size_t i = 0; i < ns; i++)
            single = single && s[i].lo == s[i].hi;
        if (!single)
            return true;
        for (size_t i = 0; i < ns; i++) {
            if (cond_holds(m, s[i].lo))
                return true;
        }
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        for (size_t k = 0; k < nb; k++) {
            if (sa[i].lo <= sb[k].hi && sb[k].lo <= sa[i].hi)
                return true;
        }
    }
    return false;
}

static const struct cond *cond_on(const struct rule *rule, unsigned int arg)
{
    for (unsigned int i = 0; i < rule->ncond; i++) {
        if (rule->cond[i].arg == arg)
            return &rule->cond[i];
    }
    return NULL;
}

static bool rules_may_meet(const struct rule *a, const struct rule *b)
{
    for (unsigned int arg = 0; arg < POLICY_MAX_ARGS; arg++) {
        const struct cond *ca = cond_on(a, arg);
        const struct cond *cb = cond_on(b, arg);

        if (ca != NULL && cb != NULL && !conds_may_meet(ca, cb))
            return false;
    }
    return true;
}

static bool rules_same_test(const struct rule *a, const struct rule *b)
{
    if (a->ncond != b->ncond)
        return false;
    for (unsigned int i = 0; i < a->ncond; i++) {
        const struct cond *c = cond_on(b, a->cond[i].arg);

        if (c == NULL || c->op != a->cond[i].op || c->value != a->cond[i].value ||
            c->datum != a->cond[i].datum)
            return false;
    }
    return true;
}

static bool rules_same_action(const struct rule *a, const struct rule *b)
{
    return a->kind == b->kind && (a->kind != KIND_ERRNO || a->errno_ret == b->errno_ret);
}

static bool rule_names(const struct rule *rule, int nr)
{
    for (size_t i = 0; i < rule->nsys; i++) {
        if (rule->nrs[i] == nr)
            return true;
    }
    return false;
}

static int by_span(const void *a, const void *b)
{
    const struct span *x = a;
    const struct span *y = b;

    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->hi < y->hi ? -1 : (x->hi > y->hi);
}

/* Appends to out the conditions on arg that together match exactly the values lo..hi:
 * one comparison where it can, else aligned power-of-two blocks as masked tests (a rule may
 * test an argument only once, so a middle range cannot be two comparisons). */
static int span_conds(unsigned int arg, struct span s, struct cond *out, size_t *n, size_t max)
{
    uint64_t lo = s.lo;

    if (s.lo == s.hi || s.lo == 0 || s.hi == UINT64_MAX) {
        if (*n == max)
            return -E2BIG;
        out[*n].arg = arg;
        out[*n].datum = 0;
        if (s.lo == s.hi) {
            out[*n].op = OP_EQ;
            out[*n].value = s.lo;
        } else if (s.lo == 0) {
            out[*n].op = OP_LE;
            out[*n].value = s.hi;
        } else {
            out[*n].op = OP_GE;
            out[*n].value = s.lo;
        }
        (*n)++;
        return 0;
    }
    /* Here 0 < lo and hi < UINT64_MAX, so no block below overflows. */
    while (lo <= s.hi) {
        uint64_t size = lo & (~lo + 1);

        while (size > s.hi - lo + 1)
            size >>= 1;
        if (*n == max)
            return -E2BIG;
        out[*n].arg = arg;
        if (size == 1) {
            out[*n].op = OP_EQ;
            out[*n].value = lo;
            out[*n].datum = 0;
        } else {
            out[*n].op = OP_MASKED_EQ;
            out[*n].value = ~(size - 1);
            out[*n].datum = lo;
        }
        (*n)++;
        lo += size;
    }
    return 0;
}

/* Works out the conditions an `otherwise` rule stands for: every value of the tested
 * argument that no other rule for the syscall matches. */
static int otherwise_conds(struct policy *policy, const struct rule *rule, struct cond *out,
                           size_t *count)
{
    struct span spans[2 * POLICY_EXPAND_MAX];
    size_t nspans = 0;
    size_t n = 0;
    int arg = -1;
    uint64_t next = 0;
    bool open = true; /* values from next upwards are still unmatched */
    int nr = rule->nrs[0];
    int rc = 0;

    for (size_t i = 0; i < policy->nrules; i++) {
        const struct rule *other = &policy->rules[i];
        size_t got;

        if (other == rule || !rule_names(other, nr))
            continue;
        if (other->otherwise) {
            fail(policy, rule->line, "second 'otherwise' for '%s' (other at line %d)",
                 rule->names[0], other->line);
            return -EINVAL;
        }
        if (other->kind == KIND_DENY || other->ncond != 1 ||
            other->cond[0].op == OP_MASKED_EQ || (arg >= 0 && (int)other->cond[0].arg != arg)) {
            fail(policy, rule->line,
                 "'otherwise' needs the other rules for '%s' to compare one argument "
                 "(see line %d)",
                 rule->names[0], other->line);
            return -EINVAL;
        }
        arg = (int)other->cond[0].arg;
        if (nspans + 2 > sizeof(spans) / sizeof(spans[0])) {
            fail(policy, rule->line, "too many rules for '%s'", rule->names[0]);
            return -EINVAL;
        }
        got = cond_spans(&other->cond[0], spans + nspans);
        nspans += got;
    }
    if (arg < 0) {
        fail(policy, rule->line, "'otherwise' but no other rule for '%s'", rule->names[0]);
        return -EINVAL;
    }
    qsort(spans, nspans, sizeof(spans[0]), by_span);
    for (size_t i = 0; i < nspans && open && rc == 0; i++) {
        if (spans[i].lo > next)
            rc = span_conds((unsigned int)arg, (struct span){next, spans[i].lo - 1}, out, &n,
                            POLICY_EXPAND_MAX);
        if (spans[i].hi >= next) {
            if (spans[i].hi == UINT64_MAX)
                open = false;
            else
                next = spans[i].hi + 1;
        }
    }
    if (open && rc == 0)
        rc = span_conds((unsigned int)arg, (struct span){next, UINT64_MAX}, out, &n,
                        POLICY_EXPAND_MAX);
    if (rc < 0) {
        fail(policy, rule->line, "'otherwise' for '%s' needs more than %d rules",
             rule->names[0], POLICY_EXPAND_MAX);
        return -EINVAL;
    }
    if (n == 0) {
        fail(policy, rule->line, "the other rules for '%s' already match every value",
             rule->names[0]);
        return -EINVAL;
    }
    *count = n;
    return 0;
}

static int rule_copy(struct rule *dst, const struct rule *src)
{
    *dst = *src;
    dst->nrs = calloc(src->nsys, sizeof(*dst->nrs));
    dst->names = calloc(src->nsys, sizeof(*dst->names));
    dst->nsys = 0;
    if (dst->nrs == NULL || dst->names == NULL)
        goto fail_copy;
    for (size_t i = 0; i < src->nsys; i++) {
        dst->names[i] = strdup(src->names[i]);
        if (dst->names[i] == NULL)
            goto fail_copy;
        dst->nrs[i] = src->nrs[i];
        dst->nsys++;
    }
    return 0;
fail_copy:
    rule_cleanup(dst);
    return -ENOMEM;
}

/* Replaces every `otherwise` rule by the rules it stands for, keeping their place. */
static int expand_otherwise(struct policy *policy)
{
    struct expansion {
        size_t n;
        struct cond conds[POLICY_EXPAND_MAX];
    } *found = NULL;
    struct rule *rules = NULL;
    size_t nfound = 0;
    size_t nrules = 0;
    size_t cap = policy->nrules;
    size_t j = 0;
    bool bad = false;
    int rc = 0;

    for (size_t i = 0; i < policy->nrules; i++)
        nfound += policy->rules[i].otherwise;
    if (nfound == 0)
        return 0;
    /* Work out every expansion first: otherwise_conds reads the rules as written. */
    found = calloc(nfound, sizeof(*found));
    if (found == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < policy->nrules; i++) {
        if (!policy->rules[i].otherwise)
            continue;
        if (otherwise_conds(policy, &policy->rules[i], found[j].conds, &found[j].n) < 0) {
            found[j].n = 0;
            bad = true;
        }
        cap += found[j].n;
        j++;
    }
    rules = calloc(cap, sizeof(*rules));
    if (rules == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    j = 0;
    for (size_t i = 0; i < policy->nrules; i++) {
        struct rule *rule = &policy->rules[i];

        if (!rule->otherwise) {
            rules[nrules++] = *rule;
            *rule = (struct rule){0};
            continue;
        }
        for (size_t k = 0; k < found[j].n; k++) {
            rc = rule_copy(&rules[nrules], rule);
            if (rc < 0)
                goto out;
            rules[nrules].otherwise = false;
            rules[nrules].ncond = 1;
            rules[nrules].cond[0] = found[j].conds[k];
            nrules++;
        }
        j++;
    }
out:
    if (rules != NULL) {
        for (size_t i = 0; i < policy->nrules; i++)
            rule_cleanup(&policy->rules[i]);
        free(policy->rules);
        policy->rules = rules;
        policy->nrules = nrules;
        policy->rules_cap = cap;
    }
    free(found);
    if (rc == 0 && bad)
        rc = -EINVAL;
    return rc;
}

struct mention {
    int nr;
    size_t rule;
    size_t name;
};

static int by_syscall(const void *a, const void *b)
{
    const struct mention *x = a;
    const struct mention *y = b;

    if (x->nr != y->nr)
        return x->nr < y->nr ? -1 : 1;
    return x->rule < y->rule ? -1 : (x->rule > y->rule);
}

/* Reports a syscall that two statements both settle, and conditional rules that could
 * match the same call with different actions (libseccomp would pick one silently). */
static int check_rules(struct policy *policy)
{
    struct mention *all = NULL;
    size_t n = 0;
    size_t total = 0;
    int rc = 0;

    for (size_t i = 0; i < policy->nrules; i++)
        total += policy->rules[i].nsys;
    all = calloc(total == 0 ? 1 : total, sizeof(*all));
    if (all == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < policy->nrules; i++) {
        for (size_t k = 0; k < policy->rules[i].nsys; k++)
            all[n++] = (struct mention){policy->rules[i].nrs[k], i, k};
    }
    qsort(all, n, sizeof(*all), by_syscall);
    for (size_t i = 0; i < policy->nrules; i++) {
        const struct rule *rule = &policy->rules[i];

        /* libseccomp refuses such rules, and runc would drop them: say so here. */
        if (rule->kind == KIND_ERRNO && rule->errno_ret == policy->default_errno) {
            fail(policy, rule->line, "errno %u is the default action; use 'deny'",
                 rule->errno_ret);
            rc = -EINVAL;
        }
    }
    for (size_t b = 0; b < n; b++) {
        const struct rule *rb = &policy->rules[all[b].rule];
        const char *name = rb->names[all[b].name];

        for (size_t a = b; a > 0 && all[a - 1].nr == all[b].nr; a--) {
            const struct rule *ra = &policy->rules[all[a - 1].rule];

            if (ra->ncond == 0 || rb->ncond == 0) {
                fail(policy, rb->line, "'%s' is already %s at line %d", name,
                     ra->kind == KIND_DENY ? "denied" : "listed", ra->line);
                rc = -EINVAL;
                break;
            }
            if (rules_same_action(ra, rb) && rules_same_test(ra, rb)) {
                fail(policy, rb->line, "duplicate rule for '%s' (same as line %d)", name,
                     ra->line);
                rc = -EINVAL;
                break;
            }
            if (!rules_same_action(ra, rb) && rules_may_meet(ra, rb)) {
                fail(policy, rb->line,
                     "rules for '%s' here and at line %d can match the same call with "
                     "different actions",
                     name, ra->line);
                rc = -EINVAL;
                break;
            }
        }
    }
    free(all);
    return rc;
}

int policy_parse_text(struct policy *policy, const char *name, const char *text)
{
    char *tokens[POLICY_TOKENS_MAX];
    char buf[POLICY_LINE_MAX + 1];
    const char *p = text;
    int line = 0;
    int rc = 0;

    if (policy->started) {
        fail(policy, 0, "a policy is parsed only once");
        return -EINVAL;
    }
    policy->started = true;
    clear_messages(policy);
    free(policy->name);
    policy->name = strdup(name);
    if (policy->name == NULL)
        return -ENOMEM;
    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char *hash = NULL;
        size_t n;

        line++;
        if (len > POLICY_LINE_MAX) {
            fail(policy, line, "line longer than %d bytes", POLICY_LINE_MAX);
        } else {
            memcpy(buf, p, len);
            buf[len] = '\0';
            hash = strchr(buf, '#');
            if (hash != NULL)
                *hash = '\0';
            n = tokenize(buf, tokens, POLICY_TOKENS_MAX);
            if (n > POLICY_TOKENS_MAX)
                fail(policy, line, "more than %d words on one line", POLICY_TOKENS_MAX);
            else if (n > 0 && parse_line(policy, line, tokens, n) == -ENOMEM)
                return -ENOMEM;
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    if (policy->default_line == 0)
        fail(policy, 0, "missing 'default errno ERRNO'");
    if (policy->arch_line == 0)
        fail(policy, 0, "missing 'arch x86_64'");
    rc = expand_otherwise(policy);
    if (rc == -ENOMEM)
        return rc;
    rc = check_rules(policy);
    if (rc == -ENOMEM || policy->out_of_memory)
        return -ENOMEM;
    if (policy->nmessages > 0)
        return -EINVAL;
    policy->ok = true;
    return 0;
}

int policy_parse_file(struct policy *policy, const char *path)
{
    FILE *file = NULL;
    char *text = NULL;
    const char *problem = NULL;
    size_t len = 0;
    int rc = 0;

    text = malloc(POLICY_FILE_MAX + 1);
    if (text == NULL)
        return -ENOMEM;
    file = fopen(path, "r");
    if (file == NULL) {
        rc = -errno;
        problem = strerror(errno);
        goto out;
    }
    len = fread(text, 1, POLICY_FILE_MAX + 1, file);
    if (ferror(file)) {
        rc = -EIO;
        problem = strerror(EIO);
        goto out;
    }
    if (len > POLICY_FILE_MAX) {
        rc = -EFBIG;
        problem = "it is larger than 1 MiB";
        goto out;
    }
    text[len] = '\0';
    if (strlen(text) != len) {
        rc = -EINVAL;
        problem = "it contains a NUL byte";
        goto out;
    }
    rc = policy_parse_text(policy, path, text);
out:
    if (problem != NULL) {
        if (policy->name == NULL)
            policy->name = strdup(path);
        fail(policy, 0, "cannot read the policy: %s", problem);
    }
    if (file != NULL)
        fclose(file);
    free(text);
    return rc;
}

int policy_filter_program(scmp_filter_ctx filter, struct sock_filter **program, size_t *count)
{
    FILE *file = NULL;
    struct sock_filter *insns = NULL;
    struct stat st;
    size_t n = 0;
    int rc = 0;

    file = tmpfile();
    if (file == NULL) {
        rc = -errno;
        goto out;
    }
    rc = seccomp_export_bpf(filter, fileno(file));
    if (rc < 0)
        goto out;
    if (fstat(fileno(file), &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (st.st_size <= 0 || (size_t)st.st_size % sizeof(*insns) != 0) {
        rc = -EIO;
        goto out;
    }
    n = (size_t)st.st_size / sizeof(*insns);
    insns = malloc(n * sizeof(*insns));
    if (insns == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rewind(file);
    if (fread(insns, sizeof(*insns), n, file) != n) {
        rc = -EIO;
        goto out;
    }
    *program = insns;
    *count = n;
    insns = NULL;
out:
    if (file != NULL)
        fclose(file);
    free(insns);
    return rc;
}

int policy_build_filter(struct policy *policy, scmp_filter_ctx *out)
{
    scmp_filter_ctx ctx = NULL;
    struct sock_filter *program = NULL;
    size_t ninsns = 0;
    int rc = 0;

    *out = NULL;
    clear_messages(policy);
    if (!policy->ok) {
        fail(policy, 0, "the policy was not parsed successfully");
        return -EINVAL;
    }
    ctx = seccomp_init(SCMP_ACT_ERRNO(policy->default_errno));
    if (ctx == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (seccomp_arch_native() != SCMP_ARCH_X86_64) {
        rc = seccomp_arch_add(ctx, SCMP_ARCH_X86_64);
        if (rc == 0)
            rc = seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE);
        if (rc < 0) {
            fail(policy, policy->arch_line, "libseccomp cannot build an x86_64 filter: %s",
                 strerror(-rc));
            goto out;
        }
    }
    for (size_t i = 0; i < policy->nrules; i++) {
        const struct rule *rule = &policy->rules[i];
        struct scmp_arg_cmp cmps[POLICY_MAX_ARGS];
        uint32_t action = SCMP_ACT_ALLOW;

        if (rule->kind == KIND_DENY)
            continue;
        if (rule->kind == KIND_ERRNO)
            action = SCMP_ACT_ERRNO(rule->errno_ret);
        for (unsigned int k = 0; k < rule->ncond; k++) {
            const struct cond *c = &rule->cond[k];
            static const enum scmp_compare ops[] = {
                SCMP_CMP_EQ, SCMP_CMP_NE, SCMP_CMP_LT,        SCMP_CMP_LE,
                SCMP_CMP_GT, SCMP_CMP_GE, SCMP_CMP_MASKED_EQ,
            };

            cmps[k].arg = c->arg;
            cmps[k].op = ops[c->op];
            cmps[k].datum_a = c->value;
            cmps[k].datum_b = c->datum;
        }
        for (size_t k = 0; k < rule->nsys; k++) {
            rc = seccomp_rule_add_exact_array(ctx, action, rule->nrs[k], rule->ncond, cmps);
            if (rc < 0) {
                fail(policy, rule->line, "libseccomp rejects the rule for '%s': %s",
                     rule->names[k], strerror(-rc));
                goto out;
            }
        }
    }
    rc = policy_filter_program(ctx, &program, &ninsns);
    if (rc < 0) {
        fail(policy, 0, "libseccomp cannot export the filter: %s", strerror(-rc));
        goto out;
    }
    if (ninsns > POLICY_BPF_MAX) {
        fail(policy, 0, "the filter needs %zu BPF instructions, more than the kernel's %d",
             ninsns, POLICY_BPF_MAX);
        rc = -E2BIG;
        goto out;
    }
    *out = ctx;
    ctx = NULL;
out:
    free(program);
    if (ctx != NULL)
        seccomp_release(ctx);
    if (rc < 0 && rc != -ENOMEM)
        rc = -EINVAL;
    return rc;
}

/* Adds val under key, taking ownership of val (which may be NULL after a failed new). */
static int json_put(json_object *object, const char *key, json_object *val)
{
    if (val == NULL)
        return -ENOMEM;
    if (json_object_object_add(object, key, val) < 0) {
        json_object_put(val);
        return -ENOMEM;
    }
    return 0;
}

/* Appends val to array, taking ownership of val as json_put does. */
static int json_push(json_object *array, json_object *val)
{
    if (val == NULL)
        return -ENOMEM;
    if (json_object_array_add(array, val) < 0) {
        json_object_put(val);
        return -ENOMEM;
    }
    return 0;
}

static json_object *json_cond(const struct cond *c)
{
    json_object *object = json_object_new_object();
    int rc = 0;

    if (object == NULL)
        return NULL;
    rc = json_put(object, "index", json_object_new_int((int32_t)c->arg));
    if (rc == 0)
        rc = json_put(object, "value", json_object_new_uint64(c->value));
    if (rc == 0)
        rc = json_put(object, "valueTwo", json_object_new_uint64(c->datum));
    if (rc == 0)
        rc = json_put(object, "op", json_object_new_string(op_json[c->op]));
    if (rc < 0) {
        json_object_put(object);
        return NULL;
    }
    return object;
}

static json_object *json_rule(const struct rule *rule)
{
    json_object *object = json_object_new_object();
    json_object *names = NULL;
    json_object *args = NULL;
    int rc = 0;

    if (object == NULL)
        return NULL;
    names = json_object_new_array();
    rc = json_put(object, "names", names);
    for (size_t i = 0; rc == 0 && i < rule->nsys; i++)
        rc = json_push(names, json_object_new_string(rule->names[i]));
    if (rc == 0)
        rc = json_put(object, "action",
                      json_object_new_string(rule->kind == KIND_ALLOW ? "SCMP_ACT_ALLOW"
                                                                      : "SCMP_ACT_ERRNO"));
    if (rc == 0 && rule->kind == KIND_ERRNO)
        rc = json_put(object, "errnoRet", json_object_new_int((int32_t)rule->errno_ret));
    if (rc == 0 && rule->ncond > 0) {
        args = json_object_new_array();
        rc = json_put(object, "args", args);
        for (unsigned int i = 0; rc == 0 && i < rule->ncond; i++)
            rc = json_push(args, json_cond(&rule->cond[i]));
    }
    if (rc < 0) {
        json_object_put(object);
        return NULL;
    }
    return object;
}

int policy_to_json(const struct policy *policy, char **json)
{
    json_object *root = NULL;
    json_object *arches = NULL;
    json_object *syscalls = NULL;
    const char *text = NULL;
    size_t len = 0;
    int rc = 0;

    *json = NULL;
    if (!policy->ok)
        return -EINVAL;
    root = json_object_new_object();
    if (root == NULL)
        return -ENOMEM;
    rc = json_put(root, "defaultAction", json_object_new_string("SCMP_ACT_ERRNO"));
    if (rc == 0)
        rc = json_put(root, "defaultErrnoRet", json_object_new_int((int32_t)policy->default_errno));
    if (rc == 0) {
        arches = json_object_new_array();
        rc = json_put(root, "architectures", arches);
    }
    if (rc == 0)
        rc = json_push(arches, json_object_new_string("SCMP_ARCH_X86_64"));
    if (rc == 0) {
        syscalls = json_object_new_array();
        rc = json_put(root, "syscalls", syscalls);
    }
    for (size_t i = 0; rc == 0 && i < policy->nrules; i++) {
        if (policy->rules[i].kind != KIND_DENY)
            rc = json_push(syscalls, json_rule(&policy->rules[i]));
    }
    if (rc < 0)
        goto out;
    text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                    JSON_C_TO_STRING_SPACED |
                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    len = strlen(text);
    *json = malloc(len + 2);
    if (*json == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(*json, text, len);
    (*json)[len] = '\n';
    (*json)[len + 1] = '\0';
out:
    json_object_put(root);
    return rc;
}

int policy_evaluate(const struct policy *policy, int nr, const uint64_t args[POLICY_MAX_ARGS],
                    struct policy_verdict *verdict)
{
    const struct rule *decided = NULL;

    verdict->action = POLICY_ERRNO;
    verdict->errno_ret = policy->default_errno;
    verdict->line = 0;
    for (size_t i = 0; i < policy->nrules; i++) {
        const struct rule *rule = &policy->rules[i];
        bool match = rule->kind != KIND_DENY && rule_names(rule, nr);

        for (unsigned int k = 0; match && k < rule->ncond; k++)
            match = cond_holds(&rule->cond[k], args[rule->cond[k].arg]);
        if (!match)
            continue;
        if (decided != NULL && !rules_same_action(decided, rule))
            return -EDOM;
        decided = rule;
    }
    if (decided != NULL) {
        verdict->action = decided->kind == KIND_ALLOW ? POLICY_ALLOW : POLICY_ERRNO;
        verdict->errno_ret = decided->kind == KIND_ALLOW ? 0 : decided->errno_ret;
        verdict->line = decided->line;
    }
    return 0;
}

int policy_names_syscall(const struct policy *policy, int nr)
{
    for (size_t i = 0; i < policy->nrules; i++) {
        if (rule_names(&policy->rules[i], nr))
            return 1;
    }
    return 0;
}
