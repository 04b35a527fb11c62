/* Percentiles of a set of samples. */
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void samples_init(struct samples *s)
{
    memset(s, 0, sizeof(*s));
}

void samples_cleanup(struct samples *s)
{
    free(s->v);
    samples_init(s);
}

int samples_add(struct samples *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        double *nv = realloc(s->v, cap * sizeof(*nv));

        if (nv == NULL)
            return -ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double samples_percentile(const struct samples *s, double p)
{
    double *sorted, rank, result;
    size_t lo;

    if (s->n == 0)
        return NAN;
    sorted = malloc(s->n * sizeof(*sorted));
    if (sorted == NULL)
        return NAN;
    memcpy(sorted, s->v, s->n * sizeof(*sorted));
    qsort(sorted, s->n, sizeof(*sorted), cmp_double);
    rank = p / 100.0 * (double)(s->n - 1);
    lo = (size_t)floor(rank);
    if (lo + 1 >= s->n)
        result = sorted[s->n - 1];
    else
        result = sorted[lo] + (rank - (double)lo) * (sorted[lo + 1] - sorted[lo]);
    free(sorted);
    return result;
}

double samples_median(const struct samples *s)
{
    return samples_percentile(s, 50.0);
}
