/*
 * state-tumbling.c — the state store under a tumbling-count workload, without Kafka,
 * JSON or the window operator: what wr_state costs per event in bench/run-tumbling.sh.
 *
 * N events (default 2 M) of U users (default 100 000, key "user<n>", key group n % 128)
 * with event times spread evenly over 30 minutes, up to 1 s out of order. Each event
 * looks up (creating) the entry of (user, 1-minute window end) and counts: set 8 bytes
 * when new, else add 1 in place and touch. The watermark trails the event time by 2 s;
 * each window whose end it passes is iterated (unsorted) and dropped, as the window
 * operator fires windows. Prints one JSON line: events/s overall, the seconds spent
 * firing and dropping, and the checks (every count fired once; their sum is N).
 *
 *   cc -O2 -std=gnu11 -D_GNU_SOURCE -DNDEBUG -Icommon -Iworker bench/state-tumbling.c \
 *      worker/state.c common/error.c -lrocksdb -lxxhash -o bench/out/state-tumbling
 *   bench/out/state-tumbling [N=2000000] [U=100000] [cache MiB=256]
 */
#include "state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const wr_errbuf *eb)
{
    fprintf(stderr, "state-tumbling: %s\n", eb->msg);
    return 1;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    unsigned users = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 100000;
    size_t mib = argc > 3 ? strtoul(argv[3], NULL, 10) : 256;
    char dir[] = "/tmp/weir-bench-state-XXXXXX";
    wr_state_options o = {0};
    wr_state *st;
    wr_state_stats s;
    wr_errbuf eb;
    uint64_t rng = 7, fired = 0, sum = 0;
    double t0, t_fire = 0, t;

    if (!mkdtemp(dir))
        return 1;
    o.dir = dir;
    o.column_family = "window";
    o.cache_bytes = mib << 20;
    o.kg_first = 0;
    o.kg_last = 127;
    if (wr_state_open(&o, &st, &eb) != WR_OK)
        return fail(&eb);

    t0 = now();
    for (size_t i = 0; i < n; i++) {
        char key[16];
        unsigned u;
        int64_t ts, wend, min;
        int klen;
        size_t len;
        char *v;
        wr_state_entry *e;

        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        u = (unsigned)(rng % users);
        ts = (int64_t)(i * 1800000 / n) + (int64_t)((rng >> 40) % 2000) - 1000;
        wend = (ts / 60000 + 1) * 60000;
        klen = snprintf(key, sizeof key, "user%u", u);
        if (wr_state_lookup(st, (int)(u % 128), wend, key, (size_t)klen, true, &e, &eb))
            return fail(&eb);
        v = wr_state_value(e, &len);
        if (len == 0) {
            uint64_t one = 1;
            if (wr_state_set(st, e, &one, sizeof one, &eb))
                return fail(&eb);
        } else {
            uint64_t c;
            memcpy(&c, v, 8);
            c++;
            memcpy(v, &c, 8);
            wr_state_touch(st, e);
        }
        while (wr_state_min_ns(st, &min) && min <= ts - 2000) {
            double t1 = now();
            wr_state_iter *it;
            int kg;
            const void *k, *val;
            size_t kl, vl;
            wr_err err;
            if (wr_state_iter_new(st, min, false, &it, &eb))
                return fail(&eb);
            while (wr_state_iter_next(it, &kg, &k, &kl, &val, &vl, &err, &eb)) {
                uint64_t c;
                memcpy(&c, val, 8);
                sum += c;
                fired++;
            }
            wr_state_iter_free(it);
            if (err || wr_state_drop_ns(st, min, &eb))
                return fail(&eb);
            t_fire += now() - t1;
        }
    }
    t = now() - t0;
    wr_state_get_stats(st, &s);
    /* the windows still open */
    for (int64_t min; wr_state_min_ns(st, &min);) {
        wr_state_iter *it;
        int kg;
        const void *k, *val;
        size_t kl, vl;
        wr_err err;
        if (wr_state_iter_new(st, min, false, &it, &eb))
            return fail(&eb);
        while (wr_state_iter_next(it, &kg, &k, &kl, &val, &vl, &err, &eb)) {
            uint64_t c;
            memcpy(&c, val, 8);
            sum += c;
        }
        wr_state_iter_free(it);
        if (wr_state_drop_ns(st, min, &eb))
            return fail(&eb);
    }
    wr_state_close(st);
    wr_state_remove_dir(dir, &eb);
    printf("{\"events\":%zu,\"users\":%u,\"seconds\":%.3f,\"events_per_s\":%.0f,"
           "\"fire_drop_seconds\":%.3f,\"fired\":%" PRIu64 ",\"entries_at_end\":%" PRIu64
           ",\"cache_bytes_at_end\":%zu,\"evictions\":%" PRIu64 ",\"sum_ok\":%s}\n",
           n, users, t, n / t, t_fire, fired, s.entries, s.cache_bytes, s.evictions,
           sum == n ? "true" : "false");
    return sum != n;
}
