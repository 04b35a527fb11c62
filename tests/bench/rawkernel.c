/* Direct ZeroMQ client of one kernel container: DEALER on shell, SUB on iopub, every message
 * signed and verified with wire.c, just as kernel.c does inside the daemon. */
#include "rawkernel.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "backend.h"
#include "cleanup.h"
#include "util/fs.h"
#include "util/text.h"
#include "wire.h"

#define RAW_KERNEL_GID 1000
#define RAW_KEY_HEX 64
#define RAW_SESSION_HEX 32
#define RAW_RESEND_MS 1000       /* kernel_info_request again when nothing came back */
#define RAW_IOPUB_RESEND_MS 20   /* ... sooner when only iopub missed the status */
#define RAW_MAX_MSG (64LL << 20) /* one frame */

struct rawkernel {
    struct backend *backend;
    char dir[160];
    char id[BACKEND_ID_MAX];
    void *shell;
    void *iopub;
    struct wire_key *key;
    char session[RAW_SESSION_HEX + 1];
    unsigned long counter;
    long ready_ms;
};

/* What one received message told us. */
struct seen {
    bool reply;            /* a reply of the awaited type on shell */
    bool idle;             /* status idle on iopub */
    bool any_status;       /* any status on iopub (handshake) */
    char reply_status[16]; /* the reply's content.status */
};

static int write_connection_file(const char *dir, const char *key)
{
    char path[256], text[1024];
    int n, rc;

    snprintf(path, sizeof(path), "%s/" BACKEND_CONNECTION_FILE, dir);
    /* The launcher in the image reads exactly what kernelboxd writes: ipc sockets
     * /kernelbox/k-1 .. k-5 for shell, iopub, control, stdin and heartbeat. */
    n = snprintf(text, sizeof(text),
                 "{\"transport\":\"ipc\",\"ip\":\"" BACKEND_KERNEL_DIR "/k\","
                 "\"shell_port\":1,\"iopub_port\":2,\"control_port\":3,\"stdin_port\":4,"
                 "\"hb_port\":5,\"signature_scheme\":\"hmac-sha256\",\"key\":\"%s\","
                 "\"kernel_name\":\"python3\"}\n",
                 key);
    rc = fs_write_new(path, text, (size_t)n, 0440, RAW_KERNEL_GID);
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}

static void *open_socket(void *zctx, int type, const char *dir, int port)
{
    char endpoint[256];
    int64_t maxmsg = RAW_MAX_MSG;
    int zero = 0;
    void *sock = zmq_socket(zctx, type);

    if (sock == NULL)
        return NULL;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
    if (type == ZMQ_SUB)
        zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/k-%d", dir, port);
    if (zmq_connect(sock, endpoint) != 0) {
        zmq_close(sock);
        return NULL;
    }
    return sock;
}

/* Sign and send one message on shell; its msg_id goes to msg_id. */
static int send_msg(struct rawkernel *k, const char *msg_type, const char *content, char msg_id[64])
{
    char header[512], sig[WIRE_SIG_HEX + 1];
    struct wire_frame parts[4];
    int n, rc;

    snprintf(msg_id, 64, "%s_%lu", k->session, ++k->counter);
    n = wire_header(header, sizeof(header), msg_id, k->session, msg_type, wall_now());
    if (n < 0)
        return n;
    parts[0] = (struct wire_frame){header, (size_t)n};
    parts[1] = (struct wire_frame){"{}", 2};
    parts[2] = (struct wire_frame){"{}", 2};
    parts[3] = (struct wire_frame){content, strlen(content)};
    rc = wire_sign(k->key, parts, sig);
    if (rc < 0)
        return rc;
    if (zmq_send(k->shell, WIRE_DELIM, sizeof(WIRE_DELIM) - 1, ZMQ_SNDMORE) < 0 ||
        zmq_send(k->shell, sig, WIRE_SIG_HEX, ZMQ_SNDMORE) < 0)
        return -errno;
    for (int i = 0; i < 4; i++) {
        if (zmq_send(k->shell, parts[i].data, parts[i].len, i < 3 ? ZMQ_SNDMORE : 0) < 0)
            return -errno;
    }
    return 0;
}

static const char *string_at(json_object *obj, const char *name)
{
    json_object *v = NULL;

    if (obj == NULL || !json_object_object_get_ex(obj, name, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* Whether the parent header of a verified message (frames as received) has msg_type type. */
static bool parent_type_is(const struct wire_frame *wf, size_t n, const char *type)
{
    const size_t delim = sizeof(WIRE_DELIM) - 1;
    json_object *parent;
    const char *pt;
    bool is;

    for (size_t d = 0; d + 3 < n; d++) {
        if (wf[d].len != delim || memcmp(wf[d].data, WIRE_DELIM, delim) != 0)
            continue;
        parent = wire_json_parse(wf[d + 3].data, wf[d + 3].len);
        pt = string_at(parent, "msg_type");
        is = pt != NULL && strcmp(pt, type) == 0;
        json_object_put(parent);
        return is;
    }
    return false;
}

/* Receive one message from sock if one is waiting: 1 when one was handled, 0 when none was
 * waiting, or a negative errno. A message answers parent_id when it is given, or any message
 * whose parent was of type parent_type otherwise. */
static int recv_one(struct rawkernel *k, void *sock, const char *parent_id, const char *parent_type,
                    const char *reply_type, char *value, size_t value_len, struct seen *seen)
{
    zmq_msg_t frames[WIRE_MAX_FRAMES];
    struct wire_frame wf[WIRE_MAX_FRAMES];
    struct wire_msg msg;
    int n = 0, rc;
    bool match;

    for (;;) {
        int more;

        if (n == WIRE_MAX_FRAMES) {
            rc = -EBADMSG;
            goto out;
        }
        zmq_msg_init(&frames[n]);
        /* The frames after the first arrive with it: waiting for them never blocks. */
        if (zmq_msg_recv(&frames[n], sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            rc = errno == EAGAIN ? 0 : -errno;
            zmq_msg_close(&frames[n]);
            goto out;
        }
        more = zmq_msg_more(&frames[n]);
        n++;
        if (!more)
            break;
    }
    for (int i = 0; i < n; i++) {
        wf[i].data = zmq_msg_data(&frames[i]);
        wf[i].len = zmq_msg_size(&frames[i]);
    }
    rc = wire_parse(k->key, wf, (size_t)n, &msg);
    if (rc < 0)
        goto out;
    rc = 1;
    if (parent_id != NULL) {
        match = strcmp(msg.parent_id, parent_id) == 0;
    } else {
        match = parent_type_is(wf, (size_t)n, parent_type);
    }
    if (match && sock == k->shell && strcmp(msg.msg_type, reply_type) == 0) {
        const char *st = string_at(wire_msg_content(&msg), "status");

        seen->reply = true;
        snprintf(seen->reply_status, sizeof(seen->reply_status), "%s", st ? st : "");
    } else if (match && sock == k->iopub && strcmp(msg.msg_type, "status") == 0) {
        const char *st = string_at(wire_msg_content(&msg), "execution_state");

        seen->any_status = true;
        if (st != NULL && strcmp(st, "idle") == 0)
            seen->idle = true;
    } else if (match && sock == k->iopub && value != NULL &&
               strcmp(msg.msg_type, "execute_result") == 0) {
        json_object *data = NULL;
        const char *text;

        if (json_object_object_get_ex(wire_msg_content(&msg), "data", &data)) {
            text = string_at(data, "text/plain");
            if (text != NULL)
                snprintf(value, value_len, "%s", text);
        }
    }
    wire_msg_cleanup(&msg);
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
    return rc;
}

/* Take in everything waiting on both sockets, then wait for more until deadline_ms. Returns
 * 0, -ETIMEDOUT at the deadline, or another negative errno. */
static int pump(struct rawkernel *k, uint64_t deadline_ms, const char *parent_id,
                const char *parent_type, const char *reply_type, char *value, size_t value_len,
                struct seen *seen)
{
    zmq_pollitem_t items[2] = {{k->shell, 0, ZMQ_POLLIN, 0}, {k->iopub, 0, ZMQ_POLLIN, 0}};
    uint64_t now;
    int got = 0, rc;

    for (int i = 0; i < 2; i++) {
        do {
            rc = recv_one(k, items[i].socket, parent_id, parent_type, reply_type, value, value_len,
                          seen);
            if (rc < 0 && rc != -EACCES && rc != -EBADMSG)
                return rc;
            got += rc > 0;
        } while (rc != 0);
    }
    if (got > 0)
        return 0;
    now = now_ms();
    if (now >= deadline_ms)
        return -ETIMEDOUT;
    if (zmq_poll(items, 2, (long)(deadline_ms - now)) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

static int handshake(struct rawkernel *k, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms, resend = 0;
    struct seen seen = {0};
    char msg_id[64];
    int rc;

    while (!(seen.reply && seen.any_status)) {
        uint64_t now = now_ms(), until;

        if (now >= resend) {
            rc = send_msg(k, "kernel_info_request", "{}", msg_id);
            if (rc < 0)
                return rc;
            /* Until the SUB socket has joined, a status broadcast is lost: ask again soon
             * once the reply shows the kernel is up. */
            resend = now + (seen.reply ? RAW_IOPUB_RESEND_MS : RAW_RESEND_MS);
        }
        until = resend < deadline ? resend : deadline;
        rc = pump(k, until, NULL, "kernel_info_request", "kernel_info_reply", NULL, 0, &seen);
        if (rc == -ETIMEDOUT && now_ms() < deadline)
            continue;
        if (rc < 0)
            return rc;
        if (seen.reply && !seen.any_status && resend > now_ms() + RAW_IOPUB_RESEND_MS)
            resend = now_ms() + RAW_IOPUB_RESEND_MS;
    }
    return 0;
}

struct rawkernel *rawkernel_start(const struct rawkernel_params *p, char *err, size_t errlen)
{
    struct rawkernel *k = calloc(1, sizeof(*k));
    char short_id[13], kernel_id[33], name[64], key[RAW_KEY_HEX + 1];
    uint64_t t0;
    int rc;

    if (k == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->backend = p->backend;
    if (random_hex(short_id, 12) < 0 || random_hex(kernel_id, 32) < 0 ||
        random_hex(key, RAW_KEY_HEX) < 0 || random_hex(k->session, RAW_SESSION_HEX) < 0) {
        snprintf(err, errlen, "no randomness");
        goto error;
    }
    snprintf(k->dir, sizeof(k->dir), "%s/%s", p->runtime_dir, short_id);
    snprintf(name, sizeof(name), "kbbench-%s", short_id);
    rc = fs_make_dir(k->dir, 0770, RAW_KERNEL_GID);
    if (rc == 0)
        rc = write_connection_file(k->dir, key);
    if (rc < 0) {
        snprintf(err, errlen, "cannot prepare %s: %s", k->dir, strerror(-rc));
        goto error;
    }
    k->key = wire_key_new((const uint8_t *)key, RAW_KEY_HEX);
    OPENSSL_cleanse(key, sizeof(key));
    if (k->key == NULL) {
        snprintf(err, errlen, "cannot make the HMAC key");
        goto error;
    }

    {
        /* As lc_run() in orchestrator/session.c fills it. */
        struct backend_kernel_spec spec = {
            .image = p->image,
            .container_name = name,
            .session_dir = k->dir,
            .session_name = p->name,
            .kernel_id = kernel_id,
            .instance = p->instance,
            .user = "1000:1000",
            .seccomp_json = p->seccomp_json,
            .runtime = p->runtime,
            .memory_bytes = p->memory_bytes,
            .cpus = p->cpus,
            .pids_limit = p->pids_limit,
            .tmpfs_bytes = p->tmpfs_bytes,
        };

        if (!cleanup_engine_enter()) {
            snprintf(err, errlen, "interrupted");
            goto error;
        }
        t0 = now_ms();
        rc = p->backend->ops->create(p->backend, &spec, k->id, err, errlen);
        if (rc == 0)
            rc = p->backend->ops->start(p->backend, k->id, err, errlen);
        cleanup_engine_leave();
        if (rc < 0)
            goto error;
    }
    k->shell = open_socket(p->zctx, ZMQ_DEALER, k->dir, 1);
    k->iopub = open_socket(p->zctx, ZMQ_SUB, k->dir, 2);
    if (k->shell == NULL || k->iopub == NULL) {
        snprintf(err, errlen, "cannot open the sockets in %s: %s", k->dir, zmq_strerror(errno));
        goto error;
    }
    rc = handshake(k, p->start_timeout_ms);
    if (rc < 0) {
        snprintf(err, errlen, "kernel %s did not answer: %s", name, strerror(-rc));
        goto error;
    }
    k->ready_ms = (long)(now_ms() - t0);
    return k;

error:
    OPENSSL_cleanse(key, sizeof(key));
    rawkernel_free(k);
    return NULL;
}

int rawkernel_execute(struct rawkernel *k, const char *code, int timeout_ms, char *value,
                      size_t value_len, char *err, size_t errlen)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    json_object *content = json_object_new_object();
    struct seen seen = {0};
    const char *text;
    char msg_id[64];
    int rc;

    if (value_len > 0)
        value[0] = '\0';
    if (content == NULL)
        return -ENOMEM;
    /* The same request the daemon sends (exec_attempt() in session.c). */
    json_object_object_add(content, "code", json_object_new_string(code));
    json_object_object_add(content, "silent", json_object_new_boolean(0));
    json_object_object_add(content, "store_history", json_object_new_boolean(1));
    json_object_object_add(content, "user_expressions", json_object_new_object());
    json_object_object_add(content, "allow_stdin", json_object_new_boolean(0));
    json_object_object_add(content, "stop_on_error", json_object_new_boolean(1));
    text = json_object_to_json_string_ext(content,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rc = text ? send_msg(k, "execute_request", text, msg_id) : -ENOMEM;
    json_object_put(content);
    if (rc < 0) {
        snprintf(err, errlen, "cannot send execute_request: %s", strerror(-rc));
        return rc;
    }
    while (!(seen.reply && seen.idle)) {
        rc = pump(k, deadline, msg_id, NULL, "execute_reply", value, value_len, &seen);
        if (rc < 0) {
            snprintf(err, errlen, "execute: %s", strerror(-rc));
            return rc;
        }
    }
    if (strcmp(seen.reply_status, "ok") != 0) {
        snprintf(err, errlen, "execute_reply status '%s'", seen.reply_status);
        return -EPROTO;
    }
    return 0;
}

long rawkernel_ready_ms(const struct rawkernel *k)
{
    return k->ready_ms;
}

int rawkernel_free(struct rawkernel *k)
{
    char err[BACKEND_ERR_MAX];
    int rc = 0;

    if (k == NULL)
        return 0;
    if (k->shell != NULL)
        zmq_close(k->shell);
    if (k->iopub != NULL)
        zmq_close(k->iopub);
    if (k->id[0] != '\0')
        rc = k->backend->ops->remove(k->backend, k->id, err, sizeof(err));
    if (k->dir[0] != '\0')
        fs_remove_tree(k->dir);
    wire_key_free(k->key);
    free(k);
    return rc;
}
