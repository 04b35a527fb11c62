/* policy.h: kernelbox's seccomp policy language (see kernel.policy), shared by the kbseccomp
 * generator and its tests. A policy is parsed once, checked against libseccomp's x86_64
 * syscall table, and can then be turned into a libseccomp filter or a Docker JSON profile. */
#ifndef KERNELBOX_SECCOMP_POLICY_H
#define KERNELBOX_SECCOMP_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <linux/filter.h>
#include <seccomp.h>

/* Arguments a rule may test (seccomp sees six). */
#define POLICY_MAX_ARGS 6

enum policy_action {
    POLICY_ALLOW,
    POLICY_ERRNO,
};

/* What the policy answers for one call: allow, or fail with errno_ret. line is the policy
 * line of the rule that decided, 0 when the default action did. */
struct policy_verdict {
    enum policy_action action;
    unsigned int errno_ret;
    int line;
};

struct policy;

/* Returns an empty policy, or NULL when out of memory. */
struct policy *policy_new(void);

/* Frees the policy and everything it holds; policy_free(NULL) does nothing. */
void policy_free(struct policy *policy);

/* Parses the policy source in text; name is used in messages ("name:line: ..."). A policy
 * is parsed once. Returns 0, -EINVAL when the source has errors (all of them are then in
 * policy_errors), or -ENOMEM. */
int policy_parse_text(struct policy *policy, const char *name, const char *text);

/* Reads the file at path and parses it as policy_parse_text does. Returns 0, -EINVAL on
 * errors in the source, or the negative errno of a failed read (also in policy_errors). */
int policy_parse_file(struct policy *policy, const char *path);

/* Returns the messages of the last failed call, one "name:line: message" per line, or "".
 * The string belongs to the policy and lives until the next call on it. */
const char *policy_errors(struct policy *policy);

/* Builds the equivalent libseccomp filter for x86_64 (never loaded) and stores it in *out;
 * the caller releases it with seccomp_release. Returns 0, -EINVAL if libseccomp rejects a
 * rule (see policy_errors), or -ENOMEM. */
int policy_build_filter(struct policy *policy, scmp_filter_ctx *out);

/* Exports the classic BPF program of a filter into a malloc'ed array the caller frees.
 * Returns 0 and sets *program and *count, or a negative errno. */
int policy_filter_program(scmp_filter_ctx filter, struct sock_filter **program, size_t *count);

/* Writes the Docker/OCI JSON profile (with a final newline) into a malloc'ed string the
 * caller frees. The same policy always gives the same bytes. Returns 0 or -ENOMEM. */
int policy_to_json(const struct policy *policy, char **json);

/* Answers what the policy does with x86_64 syscall nr called with args. Returns 0, or
 * -EDOM if two rules with different actions match (a parsed policy never has such rules). */
int policy_evaluate(const struct policy *policy, int nr, const uint64_t args[POLICY_MAX_ARGS],
                    struct policy_verdict *verdict);

/* Returns 1 if any statement of the policy (allow, errno or deny) names syscall nr. */
int policy_names_syscall(const struct policy *policy, int nr);

#endif
