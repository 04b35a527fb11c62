/* What the benchmark asks the Docker Engine directly, beside backend.h: a container's memory
 * use from its stats. */
#ifndef KBBENCH_ENGINE_H
#define KBBENCH_ENGINE_H

#include <stddef.h>

/* Memory a container uses, as `docker stats` counts it: memory_stats.usage minus the page
 * cache (stats.cache on cgroup v1, stats.inactive_file on v2), from
 * GET /containers/{id}/stats?stream=false&one-shot=true. Returns 0 with *bytes set, or a
 * negative errno with err filled. */
int engine_container_memory(const char *socket_path, const char *id, long long *bytes, char *err,
                            size_t errlen);

#endif
