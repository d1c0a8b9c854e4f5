/* mt_metrics.h - counters, fixed-bucket histograms and the Prometheus text
 * format. Pure code: no I/O, no clock; the server observes values it already
 * has and writes the text on a scrape. docs/observability.md lists the metrics. */
#ifndef MT_METRICS_H
#define MT_METRICS_H

#include "bp_buf.h"

#include <stddef.h>
#include <stdint.h>

#define MT_BUCKETS_MAX 16

/* A histogram of durations in nanoseconds, written in seconds. Observing is a
 * short scan of at most MT_BUCKETS_MAX bounds and three additions. */
typedef struct mt_hist {
    const uint64_t *bounds_ns; /* upper bounds, ascending; not owned (static) */
    unsigned n_bounds;         /* at most MT_BUCKETS_MAX */
    uint64_t counts[MT_BUCKETS_MAX + 1]; /* per bucket, not cumulative; the last is +Inf */
    uint64_t count;
    uint64_t sum_ns;
} mt_hist;

/* bounds must outlive h. n above MT_BUCKETS_MAX is cut to it. */
void mt_hist_init(mt_hist *h, const uint64_t *bounds_ns, unsigned n);
void mt_hist_observe(mt_hist *h, uint64_t ns);

/* The text format, version 0.0.4. name must be a valid metric name; label
 * values are escaped. */
#define MT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* "# HELP name help\n# TYPE name type\n"; type is "counter", "gauge", "histogram". */
void mt_write_head(bp_buf *b, const char *name, const char *type, const char *help);
/* "name{label="value"} v\n"; label NULL: no labels. */
void mt_write_u64(bp_buf *b, const char *name, const char *label, const char *value,
                  uint64_t v);
void mt_write_f64(bp_buf *b, const char *name, const char *label, const char *value, double v);
/* A whole histogram, head included: cumulative _bucket lines, _sum, _count. */
void mt_write_hist(bp_buf *b, const char *name, const char *help, const mt_hist *h);

#endif
