/* bp_event.c - the events a watch sends: one line per change of a barrier.
 *
 * Written by hand like the replies (bp_encode.c): the server encodes each event
 * once and sends the same bytes to every watcher of that barrier.
 */
#include "bp_msg.h"

#include <string.h>

static const char *const event_names[] = {"arrive", "leave", "release", "break", "reset"};

int bp_watch_event_name(const char *name)
{
    for (size_t i = 0; i < sizeof event_names / sizeof event_names[0]; i++)
        if (strcmp(name, event_names[i]) == 0)
            return 1;
    return 0;
}

static void str_field(bp_buf *b, const char *key, const char *s)
{
    if (!s)
        return;
    bp_buf_printf(b, ",\"%s\":", key);
    bp_buf_json_str(b, s, strlen(s));
}

void bp_enc_watch_event(bp_buf *b, const bp_watch_event *e)
{
    bp_buf_puts(b, "{\"event\":");
    bp_buf_json_str(b, e->event, strlen(e->event));
    bp_buf_puts(b, ",\"barrier\":");
    bp_buf_json_str(b, e->barrier, e->barrier_len);
    bp_buf_puts(b, ",\"generation\":");
    bp_buf_u64(b, e->generation);
    bp_buf_puts(b, ",\"n_waiting\":");
    bp_buf_u64(b, e->n_waiting);
    bp_buf_puts(b, ",\"parties\":");
    bp_buf_u64(b, e->parties);
    if (e->has_index) {
        bp_buf_puts(b, ",\"index\":");
        bp_buf_u64(b, e->index);
    }
    str_field(b, "client", e->client);
    str_field(b, "peer", e->peer);
    if (e->member) {
        bp_buf_puts(b, ",\"member\":");
        bp_buf_json_str(b, e->member, e->member_len);
    }
    str_field(b, "cause", e->cause);
    str_field(b, "reason", e->reason);
    bp_buf_puts(b, "}\n");
}
