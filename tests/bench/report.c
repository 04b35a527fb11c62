/* Targets and the readable table, both computed from the JSON report alone. */
#include "report.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

json_object *report_num(double v, int decimals)
{
    char text[64];

    if (!isfinite(v))
        return NULL;
    snprintf(text, sizeof(text), "%.*f", decimals, v);
    return json_object_new_double_s(v, text);
}

double report_value(json_object *report, const char *path)
{
    char buf[128], *save = NULL, *part;
    json_object *cur = report;

    snprintf(buf, sizeof(buf), "%s", path);
    for (part = strtok_r(buf, ".", &save); part != NULL; part = strtok_r(NULL, ".", &save)) {
        if (cur == NULL || !json_object_object_get_ex(cur, part, &cur))
            return NAN;
    }
    if (cur == NULL)
        return NAN;
    return json_object_get_double(cur);
}

struct target {
    const char *path; /* where the value is in the report; also its name in "targets" */
    bool at_most;     /* met when value <= limit; otherwise when value >= limit */
    double limit;
};

static const struct target targets[] = {
    {"warm_execute.ratio_to_floor", true, 1.15}, {"warm_execute.overhead_ms", true, 0.5},
    {"pooled_first_result.median", true, 30},    {"cold_first_result.median", true, 1000},
    {"throughput.32.ratio_to_raw", false, 0.8},  {"throughput.32.errors", true, 0},
    {"daemon_cpu_us_per_execute", true, 100},    {"daemon_rss_mib.sessions_200", true, 64},
    {"large_output.rss_growth_mib", true, 16},
};

void report_add_targets(json_object *report)
{
    json_object *all = json_object_new_object();
    int met = 0, missed = 0, unmeasured = 0;

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        const struct target *t = &targets[i];
        double v = report_value(report, t->path);
        json_object *o = json_object_new_object();

        json_object_object_add(o, t->at_most ? "max" : "min", report_num(t->limit, 2));
        json_object_object_add(o, "value", report_num(v, 3));
        if (!isfinite(v)) {
            json_object_object_add(o, "met", NULL);
            unmeasured++;
        } else {
            bool ok = t->at_most ? v <= t->limit : v >= t->limit;

            json_object_object_add(o, "met", json_object_new_boolean(ok));
            met += ok;
            missed += !ok;
        }
        json_object_object_add(all, t->path, o);
    }
    json_object_object_add(report, "targets", all);
    json_object_object_add(report, "targets_met", json_object_new_int(met));
    json_object_object_add(report, "targets_missed", json_object_new_int(missed));
    json_object_object_add(report, "targets_not_measured", json_object_new_int(unmeasured));
}

/* v with decimals, or "-" when it was not measured, right-aligned in width. */
static void cell(FILE *out, double v, int decimals, int width)
{
    if (isfinite(v))
        fprintf(out, " %*.*f", width, decimals, v);
    else
        fprintf(out, " %*s", width, "-");
}

static void latency_row(FILE *out, json_object *r, const char *label, const char *path)
{
    static const char *const fields[] = {"median", "p90", "p99"};
    char buf[128];

    fprintf(out, "  %-36s", label);
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof(buf), "%s.%s", path, fields[i]);
        cell(out, report_value(r, buf), 3, 10);
    }
    fputc('\n', out);
}

static void value_row(FILE *out, json_object *r, const char *label, const char *path, double scale,
                      int decimals, const char *unit)
{
    fprintf(out, "  %-36s", label);
    cell(out, report_value(r, path) * scale, decimals, 10);
    fprintf(out, "  %s\n", unit);
}

static void throughput_rows(FILE *out, json_object *r)
{
    static const char *const fields[] = {"executes_per_s", "raw_executes_per_s", "ratio_to_raw",
                                         "errors", "raw_errors"};
    static const int decimals[] = {0, 0, 3, 0, 0};
    json_object *tp = NULL;

    fprintf(out, "\n  %-36s %10s %10s %10s %10s %10s\n", "throughput (executes/s)", "daemon", "raw",
            "ratio", "errors", "raw errors");
    if (!json_object_object_get_ex(r, "throughput", &tp))
        return;
    json_object_object_foreach(tp, key, level)
    {
        char label[64], path[96];

        if (!json_object_is_type(level, json_type_object))
            continue;
        snprintf(label, sizeof(label), "%s sessions at once", key);
        fprintf(out, "  %-36s", label);
        for (int i = 0; i < 5; i++) {
            snprintf(path, sizeof(path), "throughput.%s.%s", key, fields[i]);
            cell(out, report_value(r, path), decimals[i], 10);
        }
        fputc('\n', out);
    }
}

static void target_rows(FILE *out, json_object *r)
{
    json_object *all = NULL;

    fprintf(out, "\n  %-36s %10s %10s  %s\n", "target", "value", "limit", "met");
    if (!json_object_object_get_ex(r, "targets", &all))
        return;
    json_object_object_foreach(all, name, t)
    {
        json_object *met = NULL, *lim = NULL;
        bool at_most = json_object_object_get_ex(t, "max", &lim);
        char limit[32];

        if (!at_most)
            json_object_object_get_ex(t, "min", &lim);
        json_object_object_get_ex(t, "met", &met);
        snprintf(limit, sizeof(limit), "%s%g",
                 at_most ? "<= " : ">= ", json_object_get_double(lim));
        fprintf(out, "  %-36s", name);
        cell(out, report_value(t, "value"), 3, 10);
        fprintf(out, " %10s  %s\n", limit,
                met == NULL                    ? "not measured"
                : json_object_get_boolean(met) ? "yes"
                                               : "NO");
    }
}

void report_print_table(FILE *out, json_object *r)
{
    fprintf(out,
            "\nkernelbox benchmark (%s run: %.0f executes per latency, %.0f first results, "
            "%.0f s per throughput run)\n",
            report_value(r, "quick") != 0 ? "quick" : "full",
            report_value(r, "settings.latency_samples"),
            report_value(r, "settings.first_result_samples"),
            report_value(r, "settings.throughput_seconds"));
    fprintf(out,
            "host: %.0f CPUs, load %.2f at start and %.2f at end; start/end: loop %.0f/%.0f ms, "
            "pipe write+read %.2f/%.2f us, thread ping-pong %.1f/%.1f us\n\n",
            report_value(r, "host.cpus"), report_value(r, "host.loadavg_start"),
            report_value(r, "host.loadavg_end"), report_value(r, "host.cpu_loop_ms_start"),
            report_value(r, "host.cpu_loop_ms_end"), report_value(r, "host.pipe_syscalls_us_start"),
            report_value(r, "host.pipe_syscalls_us_end"),
            report_value(r, "host.thread_pingpong_us_start"),
            report_value(r, "host.thread_pingpong_us_end"));
    fprintf(out, "  %-36s %10s %10s %10s\n", "latency (ms)", "median", "p90", "p99");
    latency_row(out, r, "floor (raw ZeroMQ, 1+1)", "floor");
    latency_row(out, r, "warm_execute (HTTP keep-alive, 1+1)", "warm_execute");
    latency_row(out, r, "pooled_first_result (pool 2)", "pooled_first_result");
    latency_row(out, r, "cold_first_result (pool 0)", "cold_first_result");
    value_row(out, r, "warm_execute / floor", "warm_execute.ratio_to_floor", 1, 3, "x");
    value_row(out, r, "warm_execute - floor", "warm_execute.overhead_ms", 1, 3, "ms");

    throughput_rows(out, r);

    fprintf(out, "\n  %-36s\n", "CPU and memory");
    value_row(out, r, "daemon CPU per execute", "daemon_cpu_us_per_execute", 1, 1, "us");
    value_row(out, r, "  raw ZeroMQ client, for comparison",
              "throughput.32.raw_client_cpu_us_per_execute", 1, 1, "us (this program)");
    value_row(out, r, "  one client: CPU, loop sleeps",
              "warm_execute.daemon_cpu_us_per_execute", 1, 1, "us");
    value_row(out, r, "", "warm_execute.daemon_loop_sleeps_per_execute", 1, 2, "sleeps");
    value_row(out, r, "  x8: CPU, loop sleeps per execute",
              "throughput.8.daemon_cpu_us_per_execute", 1, 1, "us");
    value_row(out, r, "", "throughput.8.daemon_loop_sleeps_per_execute", 1, 2, "sleeps");
    value_row(out, r, "  x32: CPU, loop sleeps per execute",
              "throughput.32.daemon_cpu_us_per_execute", 1, 1, "us");
    value_row(out, r, "", "throughput.32.daemon_loop_sleeps_per_execute", 1, 2, "sleeps");
    value_row(out, r, "daemon RSS idle", "daemon_rss_mib.idle", 1, 1, "MiB");
    value_row(out, r, "daemon RSS, 50 sessions", "daemon_rss_mib.sessions_50", 1, 1, "MiB");
    value_row(out, r, "daemon RSS, 200 sessions", "daemon_rss_mib.sessions_200", 1, 1, "MiB");
    value_row(out, r, "kernel container memory, median", "kernel_rss_mib.median", 1, 1, "MiB");
    value_row(out, r, "large output (100 MiB) time", "large_output.time_ms", 1, 1, "ms");
    value_row(out, r, "large output daemon RSS growth", "large_output.rss_growth_mib", 1, 1, "MiB");

    target_rows(out, r);
    fputc('\n', out);
}
