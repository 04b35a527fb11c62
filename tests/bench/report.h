/* The benchmark's report: a JSON object that the phases fill, the targets checked against
 * it, and the table printed from it. */
#ifndef KBBENCH_REPORT_H
#define KBBENCH_REPORT_H

#include <json-c/json.h>
#include <stdio.h>

/* A JSON number printed with the given decimals, or NULL (JSON null) when v is not finite. */
json_object *report_num(double v, int decimals);

/* The number at a dotted path such as "throughput.32.ratio_to_raw", or NAN. */
double report_value(json_object *report, const char *path);

/* Add "targets" (each with its limit, value and whether it is met; met is null when the value
 * was not measured) and the counts of met, missed and unmeasured targets. */
void report_add_targets(json_object *report);

/* Print the readable table of a finished report. */
void report_print_table(FILE *out, json_object *report);

#endif
