/* Session metadata files in the runtime directory, for re-adoption after a daemon restart. */
#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "request.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/json.h"

#define META_FILE_MAX (256u * 1024u)

static bool hex_id(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

bool meta_is_file_name(const char *name)
{
    char id[META_SHORT_LEN + 1];

    if (strlen(name) != META_SHORT_LEN + 5 || strcmp(name + META_SHORT_LEN, ".json") != 0)
        return false;
    memcpy(id, name, META_SHORT_LEN);
    id[META_SHORT_LEN] = '\0';
    return hex_id(id, META_SHORT_LEN);
}

int meta_write(const char *dir, const struct meta *m)
{
    char path[512], tmp[520];
    json_object *obj = json_object_new_object();
    const char *text;
    int rc;

    if (obj == NULL)
        return -ENOMEM;
    json_object_object_add(obj, "v", json_object_new_int(1));
    json_object_object_add(obj, "kernel_id", json_object_new_string(m->kernel_id));
    json_object_object_add(obj, "short_id", json_object_new_string(m->short_id));
    json_object_object_add(obj, "name", json_object_new_string(m->name));
    json_object_object_add(obj, "session_name", json_object_new_string(m->session_name));
    json_object_object_add(obj, "tags", m->tags ? json_object_get(m->tags)
                                                : json_object_new_object());
    json_object_object_add(obj, "created_at", json_object_new_double(m->created_at));
    json_object_object_add(obj, "attempt_count", json_object_new_int64(m->attempt_count));
    json_object_object_add(obj, "restarts", json_object_new_int64(m->restarts));
    json_object_object_add(obj, "generation", json_object_new_int64((int64_t)m->generation));
    json_object_object_add(obj, "pooled", json_object_new_boolean(m->pooled));
    json_object_object_add(obj, "tenant", json_object_new_string(m->tenant));
    json_object_object_add(obj, "memory", json_object_new_int64(m->memory));
    json_object_object_add(obj, "cpus", json_object_new_double(m->cpus));
    json_object_object_add(obj, "pids", json_object_new_int64(m->pids));
    json_object_object_add(obj, "tmpfs", json_object_new_int64(m->tmpfs));
    json_object_object_add(obj, "env", m->env ? json_object_get(m->env) : NULL);
    json_object_object_add(obj, "startup_code",
                           m->startup_code ? json_object_new_string(m->startup_code) : NULL);
    json_object_object_add(obj, "egress", json_object_new_boolean(m->egress));
    text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    snprintf(path, sizeof(path), "%s/%s.json", dir, m->short_id);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, m->short_id);
    unlink(tmp);
    rc = fs_write_new(tmp, text, strlen(text), 0600, (gid_t)-1);
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        unlink(tmp);
    }
    json_object_put(obj);
    return rc;
}

static int copy_name(json_object *obj, const char *key, char *out)
{
    json_object *v = NULL;
    size_t len;

    out[0] = '\0';
    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return -EBADMSG;
    len = (size_t)json_object_get_string_len(v);
    if (len == 0)
        return 0;
    if (!request_name_valid(json_object_get_string(v), len))
        return -EBADMSG;
    memcpy(out, json_object_get_string(v), len + 1);
    return 0;
}

static int get_number(json_object *obj, const char *key, double *out)
{
    json_object *v = NULL;

    if (!json_object_object_get_ex(obj, key, &v) ||
        (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)))
        return -EBADMSG;
    *out = json_object_get_double(v);
    return *out >= 0 ? 0 : -EBADMSG;
}

int meta_read(const char *dir, const char *short_id, struct meta *m)
{
    char path[512];
    struct buf text;
    json_object *obj = NULL, *v = NULL;
    double num;
    int fd, rc = -EBADMSG;

    memset(m, 0, sizeof(*m));
    if (!hex_id(short_id, META_SHORT_LEN))
        return -EINVAL;
    snprintf(path, sizeof(path), "%s/%s.json", dir, short_id);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    buf_init(&text, META_FILE_MAX);
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || buf_append(&text, chunk, (size_t)(n > 0 ? n : 0)) < 0) {
            close(fd);
            buf_cleanup(&text);
            return -EBADMSG;
        }
        if (n == 0)
            break;
    }
    close(fd);
    obj = json_parse_strict(text.data ? text.data : "", text.len, 8);
    buf_cleanup(&text);
    if (obj == NULL || !json_object_is_type(obj, json_type_object))
        goto out;
    if (!json_object_object_get_ex(obj, "kernel_id", &v) ||
        !json_object_is_type(v, json_type_string) ||
        !hex_id(json_object_get_string(v), META_ID_LEN))
        goto out;
    memcpy(m->kernel_id, json_object_get_string(v), META_ID_LEN + 1);
    if (!json_object_object_get_ex(obj, "short_id", &v) ||
        !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), short_id) != 0)
        goto out;
    memcpy(m->short_id, short_id, META_SHORT_LEN + 1);
    if (copy_name(obj, "name", m->name) < 0 ||
        copy_name(obj, "session_name", m->session_name) < 0)
        goto out;
    if (!json_object_object_get_ex(obj, "tags", &v) || !json_object_is_type(v, json_type_object))
        goto out;
    json_object_object_foreach(v, key, val)
    {
        (void)key;
        if (!json_object_is_type(val, json_type_string))
            goto out;
    }
    m->tags = json_object_get(v);
    if (get_number(obj, "created_at", &m->created_at) < 0)
        goto out;
    if (get_number(obj, "attempt_count", &num) < 0)
        goto out;
    m->attempt_count = (long)num;
    if (get_number(obj, "restarts", &num) < 0)
        goto out;
    m->restarts = (long)num;
    if (get_number(obj, "generation", &num) < 0)
        goto out;
    m->generation = (unsigned long)num;
    if (!json_object_object_get_ex(obj, "pooled", &v) ||
        !json_object_is_type(v, json_type_boolean))
        goto out;
    m->pooled = json_object_get_boolean(v);
    if (copy_name(obj, "tenant", m->tenant) < 0)
        goto out;
    if (get_number(obj, "memory", &num) < 0)
        goto out;
    m->memory = (long long)num;
    if (get_number(obj, "cpus", &m->cpus) < 0)
        goto out;
    if (get_number(obj, "pids", &num) < 0)
        goto out;
    m->pids = (long)num;
    if (get_number(obj, "tmpfs", &num) < 0)
        goto out;
    m->tmpfs = (long long)num;
    if (json_object_object_get_ex(obj, "env", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_object))
            goto out;
        json_object_object_foreach(v, ekey, eval)
        {
            (void)ekey;
            if (!json_object_is_type(eval, json_type_string))
                goto out;
        }
        m->env = json_object_get(v);
    }
    if (json_object_object_get_ex(obj, "startup_code", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_string))
            goto out;
        m->startup_code = strdup(json_object_get_string(v));
        if (m->startup_code == NULL)
            goto out;
    }
    if (!json_object_object_get_ex(obj, "egress", &v) ||
        !json_object_is_type(v, json_type_boolean))
        goto out;
    m->egress = json_object_get_boolean(v);
    rc = 0;
out:
    json_object_put(obj);
    if (rc < 0)
        meta_cleanup(m);
    return rc;
}

int meta_remove(const char *dir, const char *short_id)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s.json", dir, short_id);
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

void meta_cleanup(struct meta *m)
{
    json_object_put(m->tags);
    m->tags = NULL;
    json_object_put(m->env);
    m->env = NULL;
    free(m->startup_code);
    m->startup_code = NULL;
}
