/* Container stats from the Docker Engine over its Unix socket, with libcurl. */
#include "engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"

#define ENGINE_REPLY_MAX (1u << 20)
#define ENGINE_TIMEOUT_MS 30000L

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    size_t n = size * nmemb;

    return buf_append(userp, data, n) < 0 ? 0 : n;
}

static long long int_at(json_object *obj, const char *name, long long fallback)
{
    json_object *v = NULL;

    if (obj == NULL || !json_object_object_get_ex(obj, name, &v) || v == NULL)
        return fallback;
    return json_object_get_int64(v);
}

int engine_container_memory(const char *socket_path, const char *id, long long *bytes, char *err,
                            size_t errlen)
{
    json_object *root = NULL, *mem = NULL, *stats = NULL;
    char url[256];
    struct buf out;
    long status = 0;
    long long usage, cache;
    CURLcode cc;
    CURL *h;
    int rc = -EIO;

    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "cannot allocate a curl handle");
        return -ENOMEM;
    }
    buf_init(&out, ENGINE_REPLY_MAX);
    snprintf(url, sizeof(url), "http://docker/v1.41/containers/%s/stats?stream=false&one-shot=true",
             id);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ENGINE_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "stats of %.12s: %s", id, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || out.len == 0) {
        snprintf(err, errlen, "stats of %.12s: HTTP %ld", id, status);
        goto out;
    }
    root = json_tokener_parse(out.data);
    if (root == NULL || !json_object_object_get_ex(root, "memory_stats", &mem))
        mem = NULL;
    usage = int_at(mem, "usage", -1);
    if (usage < 0) {
        snprintf(err, errlen, "stats of %.12s: no memory_stats.usage", id);
        goto out;
    }
    json_object_object_get_ex(mem, "stats", &stats);
    cache = int_at(stats, "cache", -1);
    if (cache < 0)
        cache = int_at(stats, "inactive_file", 0);
    *bytes = usage > cache ? usage - cache : 0;
    rc = 0;
out:
    json_object_put(root);
    buf_cleanup(&out);
    curl_easy_cleanup(h);
    return rc;
}
