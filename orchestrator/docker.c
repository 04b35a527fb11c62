/* The Docker Engine API over its Unix socket (libcurl), and the hardened container spec of a
 * kernel. Calls block; they run on worker threads, each with its own curl handle. */
#include "backend.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define DOCKER_API "/v1.41"
#define DOCKER_REPLY_MAX (8u << 20) /* an engine reply is never trusted to be small */
#define DOCKER_CONNECT_TIMEOUT_MS 3000L
#define DOCKER_TIMEOUT_MS 60000L

struct docker {
    struct backend base;
    char socket_path[108];
    pthread_key_t handle_key;
};

static void handle_destroy(void *p)
{
    curl_easy_cleanup(p);
}

/* The calling thread's curl handle; connections are kept alive between calls. */
static CURL *thread_handle(struct docker *d)
{
    CURL *h = pthread_getspecific(d->handle_key);

    if (h == NULL) {
        h = curl_easy_init();
        if (h != NULL && pthread_setspecific(d->handle_key, h) != 0) {
            curl_easy_cleanup(h);
            h = NULL;
        }
    } else {
        curl_easy_reset(h);
    }
    return h;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    struct buf *out = userp;
    size_t n = size * nmemb;

    if (buf_append(out, data, n) < 0)
        return 0; /* too large: curl aborts with CURLE_WRITE_ERROR */
    return n;
}

/* Copy the engine's {"message": ...} (or the raw text) into err. */
static void engine_message(const struct buf *body, long status, char *err, size_t errlen)
{
    json_object *obj = NULL, *msg = NULL;

    if (body->len > 0)
        obj = json_tokener_parse(body->data);
    if (obj != NULL && json_object_object_get_ex(obj, "message", &msg) &&
        json_object_is_type(msg, json_type_string))
        snprintf(err, errlen, "Docker Engine: %s", json_object_get_string(msg));
    else
        snprintf(err, errlen, "Docker Engine answered HTTP %ld", status);
    json_object_put(obj);
}

/* One request. Returns 0 with *status set (any HTTP status), -EHOSTUNREACH when the engine
 * cannot be reached, -EFBIG when its reply is over the cap, or -EIO. */
static int request(struct docker *d, const char *method, const char *path, const char *body,
                   long timeout_ms, long *status, struct buf *out, char *err, size_t errlen)
{
    struct curl_slist *headers = NULL;
    char url[1024];
    CURLcode cc;
    CURL *h;
    int rc = -EIO;

    h = thread_handle(d);
    if (h == NULL) {
        snprintf(err, errlen, "cannot allocate an HTTP handle");
        return -ENOMEM;
    }
    if ((size_t)snprintf(url, sizeof(url), "http://docker%s%s", DOCKER_API, path) >=
        sizeof(url)) {
        snprintf(err, errlen, "Docker request path too long");
        return -EINVAL;
    }
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, DOCKER_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    if (body != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }

    cc = curl_easy_perform(h);
    switch (cc) {
    case CURLE_OK:
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        rc = 0;
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        snprintf(err, errlen, "Docker Engine unreachable at %s: %s", d->socket_path,
                 curl_easy_strerror(cc));
        rc = -EHOSTUNREACH;
        break;
    case CURLE_WRITE_ERROR:
        snprintf(err, errlen, "Docker Engine reply larger than %u bytes", DOCKER_REPLY_MAX);
        rc = -EFBIG;
        break;
    default:
        snprintf(err, errlen, "Docker Engine request failed: %s", curl_easy_strerror(cc));
        rc = -EIO;
        break;
    }
    curl_slist_free_all(headers);
    return rc;
}

/* Map an engine status to the backend's error codes. */
static int status_error(long status, const struct buf *body, char *err, size_t errlen)
{
    engine_message(body, status, err, errlen);
    if (status == 404)
        return -ENOENT;
    if (status == 409)
        return -EEXIST;
    return -EIO;
}

static int simple_call(struct docker *d, const char *method, const char *path, const char *body,
                       long timeout_ms, json_object **json_out, char *err, size_t errlen)
{
    struct buf out;
    long status = 0;
    int rc;

    buf_init(&out, DOCKER_REPLY_MAX);
    rc = request(d, method, path, body, timeout_ms, &status, &out, err, errlen);
    if (rc < 0)
        goto done;
    if (status < 200 || status >= 300) {
        rc = status_error(status, &out, err, errlen);
        goto done;
    }
    if (json_out != NULL) {
        *json_out = out.len > 0 ? json_tokener_parse(out.data) : NULL;
        if (*json_out == NULL) {
            snprintf(err, errlen, "Docker Engine sent a reply that is not JSON");
            rc = -EIO;
        }
    }
done:
    buf_cleanup(&out);
    return rc;
}

static bool id_ok(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n >= BACKEND_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
              (id[i] >= 'A' && id[i] <= 'Z') || id[i] == '-' || id[i] == '_' || id[i] == '.'))
            return false;
    }
    return true;
}

static int op_check(struct backend *b, const char *image, const char *runtime, char *err,
                    size_t errlen)
{
    struct docker *d = (struct docker *)b;
    char path[600], *escaped;
    int rc;

    rc = simple_call(d, "GET", "/_ping", NULL, 5000, NULL, err, errlen);
    if (rc < 0)
        return rc;
    escaped = curl_easy_escape(NULL, image, 0);
    if (escaped == NULL)
        return -ENOMEM;
    snprintf(path, sizeof(path), "/images/%s/json", escaped);
    curl_free(escaped);
    rc = simple_call(d, "GET", path, NULL, 10000, NULL, err, errlen);
    if (rc == -ENOENT)
        snprintf(err, errlen, "image %s not found in the Docker Engine (build it: make image)",
                 image);
    if (rc < 0 || runtime == NULL || runtime[0] == '\0')
        return rc;
    {
        json_object *info = NULL, *runtimes = NULL;

        rc = simple_call(d, "GET", "/info", NULL, 10000, &info, err, errlen);
        if (rc < 0)
            return rc;
        if (!json_object_object_get_ex(info, "Runtimes", &runtimes) ||
            !json_object_object_get_ex(runtimes, runtime, NULL)) {
            snprintf(err, errlen,
                     "the Docker Engine knows no runtime '%s' (install it and list it in "
                     "daemon.json's \"runtimes\")",
                     runtime);
            rc = -ENOTSUP;
        }
        json_object_put(info);
    }
    return rc;
}

static json_object *label_map(const struct backend_kernel_spec *spec)
{
    json_object *labels = json_object_new_object();

    json_object_object_add(labels, "kernelbox.managed", json_object_new_string("true"));
    json_object_object_add(labels, "kernelbox.session",
                           json_object_new_string(spec->session_name ? spec->session_name : ""));
    json_object_object_add(labels, "kernelbox.kernel_id",
                           json_object_new_string(spec->kernel_id));
    json_object_object_add(labels, "kernelbox.tenant",
                           json_object_new_string(spec->tenant ? spec->tenant : ""));
    json_object_object_add(labels, "kernelbox.daemon", json_object_new_string(spec->instance));
    return labels;
}

json_object *docker_kernel_spec_json(const struct backend_kernel_spec *spec)
{
    json_object *root, *host, *arr, *obj;
    char buf[4096];

    root = json_object_new_object();
    if (root == NULL)
        return NULL;
    json_object_object_add(root, "Image", json_object_new_string(spec->image));
    json_object_object_add(root, "User", json_object_new_string(spec->user));
    arr = json_object_new_array();
    if (spec->env != NULL) {
        json_object_object_foreach(spec->env, key, val)
        {
            size_t n = strlen(key) + (size_t)json_object_get_string_len(val) + 2;
            char *kv = malloc(n);

            if (kv == NULL)
                continue;
            snprintf(kv, n, "%s=%s", key, json_object_get_string(val));
            json_object_array_add(arr, json_object_new_string(kv));
            free(kv);
        }
    }
    json_object_object_add(root, "Env", arr);
    json_object_object_add(root, "WorkingDir", json_object_new_string(BACKEND_WORK_DIR));
    arr = json_object_new_array();
    json_object_array_add(arr,
                          json_object_new_string(BACKEND_KERNEL_DIR "/" BACKEND_CONNECTION_FILE));
    json_object_object_add(root, "Cmd", arr);
    json_object_object_add(root, "NetworkDisabled", json_object_new_boolean(spec->network == NULL));
    json_object_object_add(root, "AttachStdin", json_object_new_boolean(0));
    json_object_object_add(root, "OpenStdin", json_object_new_boolean(0));
    json_object_object_add(root, "Tty", json_object_new_boolean(0));
    json_object_object_add(root, "Labels", label_map(spec));

    host = json_object_new_object();
    json_object_object_add(root, "HostConfig", host);
    json_object_object_add(host, "NetworkMode",
                           json_object_new_string(spec->network ? spec->network : "none"));
    if (spec->runtime != NULL && spec->runtime[0] != '\0')
        json_object_object_add(host, "Runtime", json_object_new_string(spec->runtime));
    json_object_object_add(host, "ReadonlyRootfs", json_object_new_boolean(1));
    json_object_object_add(host, "Privileged", json_object_new_boolean(0));
    json_object_object_add(host, "Init", json_object_new_boolean(1));
    arr = json_object_new_array();
    json_object_array_add(arr, json_object_new_string("ALL"));
    json_object_object_add(host, "CapDrop", arr);
    json_object_object_add(host, "CapAdd", json_object_new_array());
    arr = json_object_new_array();
    json_object_array_add(arr, json_object_new_string("no-new-privileges:true"));
    {
        size_t n = strlen(spec->seccomp_json);
        char *opt = malloc(n + sizeof("seccomp="));

        if (opt == NULL) {
            json_object_put(root);
            return NULL;
        }
        /* The copy after this one brings the NUL. */
        /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
        memcpy(opt, "seccomp=", 8);
        memcpy(opt + 8, spec->seccomp_json, n + 1);
        json_object_array_add(arr, json_object_new_string(opt));
        free(opt);
    }
    json_object_object_add(host, "SecurityOpt", arr);

    /* The only writable places: the working directory (the files API's) and /tmp. Both are
     * charged to the container's memory limit. */
    obj = json_object_new_object();
    snprintf(buf, sizeof(buf), "rw,nosuid,nodev,size=%lld,mode=1777", spec->tmpfs_bytes);
    json_object_object_add(obj, "/tmp", json_object_new_string(buf));
    snprintf(buf, sizeof(buf), "rw,nosuid,nodev,size=%lld,mode=0700,uid=%s,gid=%s",
             spec->tmpfs_bytes, "1000", "1000");
    json_object_object_add(obj, BACKEND_WORK_DIR, json_object_new_string(buf));
    json_object_object_add(host, "Tmpfs", obj);

    arr = json_object_new_array();
    snprintf(buf, sizeof(buf), "%s:%s:rw", spec->session_dir, BACKEND_KERNEL_DIR);
    json_object_array_add(arr, json_object_new_string(buf));
    json_object_object_add(host, "Binds", arr);

    json_object_object_add(host, "Memory", json_object_new_int64(spec->memory_bytes));
    json_object_object_add(host, "MemorySwap", json_object_new_int64(spec->memory_bytes));
    json_object_object_add(host, "NanoCpus",
                           json_object_new_int64((int64_t)(spec->cpus * 1e9 + 0.5)));
    json_object_object_add(host, "PidsLimit", json_object_new_int64(spec->pids_limit));
    json_object_object_add(host, "OomKillDisable", json_object_new_boolean(0));
    json_object_object_add(host, "IpcMode", json_object_new_string("private"));
    json_object_object_add(host, "PidMode", json_object_new_string(""));
    json_object_object_add(host, "UTSMode", json_object_new_string(""));
    json_object_object_add(host, "UsernsMode", json_object_new_string(""));
    json_object_object_add(host, "CgroupnsMode", json_object_new_string("private"));
    json_object_object_add(host, "ShmSize", json_object_new_int64(64LL << 20));

    arr = json_object_new_array();
    obj = json_object_new_object();
    json_object_object_add(obj, "Name", json_object_new_string("core"));
    json_object_object_add(obj, "Soft", json_object_new_int64(0));
    json_object_object_add(obj, "Hard", json_object_new_int64(0));
    json_object_array_add(arr, obj);
    obj = json_object_new_object();
    json_object_object_add(obj, "Name", json_object_new_string("nofile"));
    json_object_object_add(obj, "Soft", json_object_new_int64(4096));
    json_object_object_add(obj, "Hard", json_object_new_int64(4096));
    json_object_array_add(arr, obj);
    json_object_object_add(host, "Ulimits", arr);

    obj = json_object_new_object();
    json_object_object_add(obj, "Name", json_object_new_string("no"));
    json_object_object_add(host, "RestartPolicy", obj);
    json_object_object_add(host, "AutoRemove", json_object_new_boolean(0));

    /* Whatever a kernel writes to its own stdout/stderr is kept, but only a little of it. */
    obj = json_object_new_object();
    json_object_object_add(obj, "Type", json_object_new_string("json-file"));
    {
        json_object *cfg = json_object_new_object();

        json_object_object_add(cfg, "max-size", json_object_new_string("1m"));
        json_object_object_add(cfg, "max-file", json_object_new_string("1"));
        json_object_object_add(obj, "Config", cfg);
    }
    json_object_object_add(host, "LogConfig", obj);
    return root;
}

static int op_create(struct backend *b, const struct backend_kernel_spec *spec, char *id,
                     char *err, size_t errlen)
{
    struct docker *d = (struct docker *)b;
    json_object *body = NULL, *reply = NULL, *idv = NULL;
    char path[256];
    int rc;

    body = docker_kernel_spec_json(spec);
    if (body == NULL)
        return -ENOMEM;
    snprintf(path, sizeof(path), "/containers/create?name=%s", spec->container_name);
    rc = simple_call(d, "POST", path,
                     json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE),
                     DOCKER_TIMEOUT_MS, &reply, err, errlen);
    if (rc == -ENOENT)
        snprintf(err, errlen, "image %s not found in the Docker Engine (build it: make image)",
                 spec->image);
    if (rc < 0)
        goto out;
    if (!json_object_object_get_ex(reply, "Id", &idv) ||
        !json_object_is_type(idv, json_type_string) || !id_ok(json_object_get_string(idv))) {
        snprintf(err, errlen, "Docker Engine created a container but sent no usable id");
        rc = -EIO;
        goto out;
    }
    snprintf(id, BACKEND_ID_MAX, "%s", json_object_get_string(idv));
out:
    json_object_put(body);
    json_object_put(reply);
    return rc;
}

static int op_start(struct backend *b, const char *id, char *err, size_t errlen)
{
    char path[160];

    if (!id_ok(id))
        return -EINVAL;
    snprintf(path, sizeof(path), "/containers/%s/start", id);
    return simple_call((struct docker *)b, "POST", path, NULL, DOCKER_TIMEOUT_MS, NULL, err,
                       errlen);
}

static int op_kill(struct backend *b, const char *id, const char *signal, char *err,
                   size_t errlen)
{
    struct docker *d = (struct docker *)b;
    struct buf out;
    char path[200];
    long status = 0;
    int rc;

    if (!id_ok(id))
        return -EINVAL;
    snprintf(path, sizeof(path), "/containers/%s/kill?signal=%s", id, signal);
    buf_init(&out, DOCKER_REPLY_MAX);
    rc = request(d, "POST", path, NULL, DOCKER_TIMEOUT_MS, &status, &out, err, errlen);
    /* 409: the container is not running, which is what a kill wants anyway. */
    if (rc == 0 && (status < 200 || status >= 300) && status != 409)
        rc = status_error(status, &out, err, errlen);
    buf_cleanup(&out);
    return rc;
}

static int op_stop(struct backend *b, const char *id, char *err, size_t errlen)
{
    char path[200];
    int rc;

    rc = op_kill(b, id, "SIGKILL", err, errlen);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "/containers/%s/wait?condition=not-running", id);
    return simple_call((struct docker *)b, "POST", path, NULL, DOCKER_TIMEOUT_MS, NULL, err,
                       errlen);
}

static int op_remove(struct backend *b, const char *id, char *err, size_t errlen)
{
    char path[160];
    int rc;

    if (!id_ok(id))
        return -EINVAL;
    snprintf(path, sizeof(path), "/containers/%s?force=true&v=true", id);
    rc = simple_call((struct docker *)b, "DELETE", path, NULL, DOCKER_TIMEOUT_MS, NULL, err,
                     errlen);
    if (rc == -ENOENT)
        rc = 0;
    return rc;
}

static int op_list(struct backend *b, const char *label, json_object **out, char *err,
                   size_t errlen)
{
    char filters[512], path[1024], *escaped;
    int rc;

    snprintf(filters, sizeof(filters), "{\"label\":[\"%s\"]}", label);
    escaped = curl_easy_escape(NULL, filters, 0);
    if (escaped == NULL)
        return -ENOMEM;
    snprintf(path, sizeof(path), "/containers/json?all=true&filters=%s", escaped);
    curl_free(escaped);
    rc = simple_call((struct docker *)b, "GET", path, NULL, DOCKER_TIMEOUT_MS, out, err,
                     errlen);
    if (rc == 0 && !json_object_is_type(*out, json_type_array)) {
        json_object_put(*out);
        *out = NULL;
        snprintf(err, errlen, "Docker Engine sent a container list that is not an array");
        rc = -EIO;
    }
    return rc;
}

static int op_network_ensure(struct backend *b, const char *name, const char *instance,
                             char *err, size_t errlen)
{
    struct docker *d = (struct docker *)b;
    json_object *body, *opts, *labels;
    char path[300];
    int rc;

    if (!id_ok(name))
        return -EINVAL;
    snprintf(path, sizeof(path), "/networks/%s", name);
    rc = simple_call(d, "GET", path, NULL, DOCKER_TIMEOUT_MS, NULL, err, errlen);
    if (rc != -ENOENT)
        return rc;
    body = json_object_new_object();
    opts = json_object_new_object();
    labels = json_object_new_object();
    json_object_object_add(body, "Name", json_object_new_string(name));
    json_object_object_add(body, "Driver", json_object_new_string("bridge"));
    json_object_object_add(body, "CheckDuplicate", json_object_new_boolean(1));
    /* Sessions on it reach the outside world, never each other. */
    json_object_object_add(opts, "com.docker.network.bridge.enable_icc",
                           json_object_new_string("false"));
    json_object_object_add(opts, "com.docker.network.bridge.enable_ip_masquerade",
                           json_object_new_string("true"));
    json_object_object_add(body, "Options", opts);
    json_object_object_add(labels, "kernelbox.managed", json_object_new_string("true"));
    json_object_object_add(labels, "kernelbox.daemon", json_object_new_string(instance));
    json_object_object_add(body, "Labels", labels);
    rc = simple_call(d, "POST", "/networks/create",
                     json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), DOCKER_TIMEOUT_MS,
                     NULL, err, errlen);
    json_object_put(body);
    return rc == -EEXIST ? 0 : rc;
}

static int op_network_remove(struct backend *b, const char *name, char *err, size_t errlen)
{
    char path[300];
    int rc;

    if (!id_ok(name))
        return -EINVAL;
    snprintf(path, sizeof(path), "/networks/%s", name);
    rc = simple_call((struct docker *)b, "DELETE", path, NULL, DOCKER_TIMEOUT_MS, NULL, err,
                     errlen);
    return rc == -ENOENT ? 0 : rc;
}

static int op_rename(struct backend *b, const char *id, const char *name, char *err,
                     size_t errlen)
{
    char path[400];

    if (!id_ok(id) || !id_ok(name))
        return -EINVAL;
    snprintf(path, sizeof(path), "/containers/%s/rename?name=%s", id, name);
    return simple_call((struct docker *)b, "POST", path, NULL, DOCKER_TIMEOUT_MS, NULL, err,
                       errlen);
}

static int op_inspect(struct backend *b, const char *id, json_object **out, char *err,
                      size_t errlen)
{
    char path[160];

    if (!id_ok(id))
        return -EINVAL;
    snprintf(path, sizeof(path), "/containers/%s/json", id);
    return simple_call((struct docker *)b, "GET", path, NULL, DOCKER_TIMEOUT_MS, out, err,
                       errlen);
}

#define DOCKER_EVENT_LINE_MAX (1u << 20)

struct event_stream {
    backend_event_fn fn;
    void *arg;
    const volatile int *stop;
    struct buf line;
    bool stopped; /* fn asked to stop */
};

static void event_from_json(json_object *obj, struct backend_event *ev)
{
    json_object *v = NULL, *actor = NULL, *attrs = NULL;

    memset(ev, 0, sizeof(*ev));
    if (json_object_object_get_ex(obj, "Action", &v) && json_object_is_type(v, json_type_string))
        snprintf(ev->action, sizeof(ev->action), "%s", json_object_get_string(v));
    if (json_object_object_get_ex(obj, "timeNano", &v))
        ev->time_ns = (long long)json_object_get_int64(v);
    if (json_object_object_get_ex(obj, "Actor", &actor)) {
        if (json_object_object_get_ex(actor, "ID", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(ev->id, sizeof(ev->id), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(actor, "Attributes", &attrs) &&
            json_object_object_get_ex(attrs, "exitCode", &v) &&
            json_object_is_type(v, json_type_string))
            ev->exit_code = atoi(json_object_get_string(v));
    }
}

/* The engine sends one JSON object per line. */
static size_t on_event_data(char *data, size_t size, size_t nmemb, void *userp)
{
    struct event_stream *es = userp;
    size_t n = size * nmemb;

    for (size_t i = 0; i < n; i++) {
        json_object *obj;
        struct backend_event ev;

        if (data[i] != '\n') {
            if (buf_append(&es->line, &data[i], 1) < 0)
                return 0; /* a line this long is not an event: drop the stream */
            continue;
        }
        obj = json_tokener_parse(es->line.data ? es->line.data : "");
        es->line.len = 0;
        if (obj == NULL)
            continue;
        event_from_json(obj, &ev);
        json_object_put(obj);
        if (ev.id[0] != '\0' && ev.action[0] != '\0' && es->fn(es->arg, &ev) != 0) {
            es->stopped = true;
            return 0;
        }
    }
    return n;
}

static size_t on_event_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct event_stream *es = userp;
    size_t n = size * nmemb;

    /* The status line of a successful reply: the stream is open. */
    if (n >= 12 && strncmp(data, "HTTP/", 5) == 0 && strstr(data, " 200") != NULL &&
        (size_t)(strstr(data, " 200") - data) < n) {
        struct backend_event ev;

        memset(&ev, 0, sizeof(ev));
        snprintf(ev.action, sizeof(ev.action), "connected");
        if (es->fn(es->arg, &ev) != 0) {
            es->stopped = true;
            return 0;
        }
    }
    return n;
}

static int on_event_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow,
                             curl_off_t ultotal, curl_off_t ulnow)
{
    struct event_stream *es = userp;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return *es->stop ? 1 : 0;
}

static int op_events(struct backend *b, const char *label, backend_event_fn fn, void *arg,
                     const volatile int *stop, char *err, size_t errlen)
{
    struct docker *d = (struct docker *)b;
    struct event_stream es = {.fn = fn, .arg = arg, .stop = stop};
    char filters[512], url[1200], *escaped;
    long status = 0;
    CURLcode cc;
    CURL *h;
    int rc = 0;

    h = thread_handle(d);
    if (h == NULL)
        return -ENOMEM;
    snprintf(filters, sizeof(filters),
             "{\"type\":[\"container\"],\"event\":[\"die\",\"oom\"],\"label\":[\"%s\"]}",
             label);
    escaped = curl_easy_escape(h, filters, 0);
    if (escaped == NULL)
        return -ENOMEM;
    snprintf(url, sizeof(url), "http://docker%s/events?filters=%s", DOCKER_API, escaped);
    curl_free(escaped);
    buf_init(&es.line, DOCKER_EVENT_LINE_MAX);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, DOCKER_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_event_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &es);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_event_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &es);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_event_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &es);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    buf_cleanup(&es.line);
    if (*stop || es.stopped)
        return 0;
    if (cc == CURLE_OK && status == 200) {
        snprintf(err, errlen, "the Docker Engine closed its event stream");
        rc = -EHOSTUNREACH;
    } else if (cc == CURLE_OK) {
        snprintf(err, errlen, "Docker Engine answered HTTP %ld to /events", status);
        rc = -EIO;
    } else {
        snprintf(err, errlen, "Docker Engine unreachable at %s: %s", d->socket_path,
                 curl_easy_strerror(cc));
        rc = -EHOSTUNREACH;
    }
    return rc;
}

static const struct backend_ops docker_ops = {
    .check = op_check,
    .create = op_create,
    .start = op_start,
    .kill = op_kill,
    .stop = op_stop,
    .remove = op_remove,
    .list = op_list,
    .network_ensure = op_network_ensure,
    .network_remove = op_network_remove,
    .rename = op_rename,
    .inspect = op_inspect,
    .events = op_events,
};

struct backend *docker_backend_new(const char *socket_path)
{
    struct docker *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    if (strlen(socket_path) >= sizeof(d->socket_path) ||
        pthread_key_create(&d->handle_key, handle_destroy) != 0) {
        free(d);
        return NULL;
    }
    /* Its length was checked above. NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.strcpy) */
    strcpy(d->socket_path, socket_path);
    d->base.ops = &docker_ops;
    return &d->base;
}

void docker_backend_free(struct backend *b)
{
    struct docker *d = (struct docker *)b;

    if (d == NULL)
        return;
    /* Handles of threads that already exited were freed by the key destructor. */
    handle_destroy(pthread_getspecific(d->handle_key));
    pthread_key_delete(d->handle_key);
    free(d);
}
