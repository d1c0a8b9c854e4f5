/* mt_metrics.c - histograms and the Prometheus text format; see mt_metrics.h. */
#include "mt_metrics.h"

#include <string.h>

void mt_hist_init(mt_hist *h, const uint64_t *bounds_ns, unsigned n)
{
    memset(h, 0, sizeof *h);
    h->bounds_ns = bounds_ns;
    h->n_bounds = n > MT_BUCKETS_MAX ? MT_BUCKETS_MAX : n;
}

void mt_hist_observe(mt_hist *h, uint64_t ns)
{
    unsigned i = 0;
    while (i < h->n_bounds && ns > h->bounds_ns[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum_ns += ns;
}

void mt_write_head(bp_buf *b, const char *name, const char *type, const char *help)
{
    bp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, quote and newline escaped. */
static void label_value(bp_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            bp_buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            bp_buf_puts(b, "\\n");
        else
            bp_buf_append(b, v, 1);
    }
}

static void sample_start(bp_buf *b, const char *name, const char *label, const char *value)
{
    bp_buf_puts(b, name);
    if (label) {
        bp_buf_printf(b, "{%s=\"", label);
        label_value(b, value);
        bp_buf_puts(b, "\"}");
    }
    bp_buf_puts(b, " ");
}

void mt_write_u64(bp_buf *b, const char *name, const char *label, const char *value, uint64_t v)
{
    sample_start(b, name, label, value);
    bp_buf_u64(b, v);
    bp_buf_puts(b, "\n");
}

void mt_write_f64(bp_buf *b, const char *name, const char *label, const char *value, double v)
{
    sample_start(b, name, label, value);
    bp_buf_printf(b, "%.9g\n", v);
}

void mt_write_hist(bp_buf *b, const char *name, const char *help, const mt_hist *h)
{
    mt_write_head(b, name, "histogram", help);
    uint64_t cum = 0;
    for (unsigned i = 0; i < h->n_bounds; i++) {
        cum += h->counts[i];
        bp_buf_printf(b, "%s_bucket{le=\"%.9g\"} ", name, (double)h->bounds_ns[i] / 1e9);
        bp_buf_u64(b, cum);
        bp_buf_puts(b, "\n");
    }
    bp_buf_printf(b, "%s_bucket{le=\"+Inf\"} ", name);
    bp_buf_u64(b, h->count);
    bp_buf_printf(b, "\n%s_sum %.15g\n%s_count ", name, (double)h->sum_ns / 1e9, name);
    bp_buf_u64(b, h->count);
    bp_buf_puts(b, "\n");
}
