/* Samples of one measurement and their percentiles. */
#ifndef KBBENCH_STATS_H
#define KBBENCH_STATS_H

#include <stddef.h>

struct samples {
    double *v;
    size_t n;
    size_t cap;
};

void samples_init(struct samples *s);

/* Free the storage; the set is empty and reusable afterwards. */
void samples_cleanup(struct samples *s);

/* Append one value. Returns 0 or -ENOMEM. */
int samples_add(struct samples *s, double v);

/* The p-th percentile (0..100), interpolating linearly between the two nearest ranks as
 * numpy does by default. NAN when the set is empty. */
double samples_percentile(const struct samples *s, double p);

double samples_median(const struct samples *s);

#endif
