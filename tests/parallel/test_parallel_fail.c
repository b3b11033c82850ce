// Multi-rank failure tests: a produce or consume that fails mid-stream ends
// ts_stitch with an error on every rank, promptly and without a hang (the
// ctest TIMEOUT catches a hang); ts_parallel_agree names the failing rank.
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "parallel/parallel.h"
#include "ts_test_mpi.h"

#define FRAME_BYTES 2048

typedef struct stream {
    int64_t first, count;
    int64_t fail_produce_at;  // local index whose produce fails (-1: none)
    int64_t fail_consume_at;  // global index whose consume fails (-1: none)
    double own_sleep;         // rank 0: seconds per own frame
    int64_t consumed;
} stream;

static void sleep_s(double s) {
    struct timespec ts = {0, (long)(s * 1e9)};
    nanosleep(&ts, NULL);
}

static enum ts_status produce(void * ud, int64_t i, uint8_t * buf) {
    stream * s = ud;
    if (i == s->fail_produce_at)
        return ts_error(TS_ERR_IO, "check the disk", "decoder broke on frame %lld", (long long)(s->first + i));
    memset(buf, (int)((s->first + i) & 0xff), FRAME_BYTES);
    return TS_OK;
}

static enum ts_status consume(void * ud, int64_t g, const uint8_t * buf) {
    stream * s = ud;
    if (g == s->fail_consume_at)
        return ts_error(TS_ERR_IO, "is the disk full?", "encoder broke on frame %lld", (long long)g);
    if (buf[0] != (uint8_t)(g & 0xff))
        return ts_error(TS_ERR_FORMAT, NULL, "frame %lld has wrong content", (long long)g);
    if (g < s->count && s->own_sleep > 0) sleep_s(s->own_sleep);
    s->consumed++;
    return TS_OK;
}

// One failing stream. fail_rank_a / fail_rank_b: ranks whose produce fails at
// local frame fail_at (-1: none); consume_fail_g: global frame whose consume fails.
// want_rank: the rank the others' error must name.
static void run_failure(ts_parallel * d, const char * name, int64_t T, int fail_rank_a, int fail_rank_b, int64_t fail_at,
                        int64_t consume_fail_g, int want_rank, double own_sleep, int check_prompt) {
    stream s = {.fail_produce_at = -1, .fail_consume_at = consume_fail_g, .own_sleep = own_sleep};
    ts_partition(T, d->world, d->rank, &s.first, &s.count);
    int i_fail = d->rank == fail_rank_a || d->rank == fail_rank_b;
    if (i_fail) s.fail_produce_at = fail_at;
    int consume_fails_here = d->rank == 0 && consume_fail_g >= 0;
    ts_error_clear();
    double t0 = ts_time();
    enum ts_status st = ts_stitch(d, T, FRAME_BYTES, 3, produce, &s, consume, &s);
    double dt = ts_time() - t0;
    CHECK(st != TS_OK, "%s: ts_stitch returned OK", name);
    CHECK(dt < 5.0, "%s: ts_stitch took %.2f s", name, dt);
    if (d->rank == want_rank) {
        CHECK(st == TS_ERR_IO, "%s: failing rank returned %s", name, ts_status_name(st));
        CHECK(strstr(ts_last_error(), "broke") != NULL, "%s: own error lost: '%s'", name, ts_last_error());
    } else if (!i_fail && !consume_fails_here) {
        char want[64];
        snprintf(want, sizeof want, "rank %d (", want_rank);
        CHECK(st == TS_ERR_DIST, "%s: got %s", name, ts_status_name(st));
        CHECK(strstr(ts_last_error(), want) && strstr(ts_last_error(), "broke"), "%s: message '%s' should name %s",
              name, ts_last_error(), want);
        CHECK(ts_last_hint()[0] != '\0', "%s: the failing rank's hint is lost", name);
    }
    if (check_prompt && d->rank == 0)
        CHECK(s.consumed < s.count / 2, "%s: rank 0 went on to consume %lld of its %lld frames", name,
              (long long)s.consumed, (long long)s.count);
    ts_error_clear();
}

// A normal stream after a failed one: nothing left over from it.
static void run_clean(ts_parallel * d, const char * after) {
    stream s = {.fail_produce_at = -1, .fail_consume_at = -1};
    int64_t T = 5 * d->world + 2;
    ts_partition(T, d->world, d->rank, &s.first, &s.count);
    enum ts_status st = ts_stitch(d, T, FRAME_BYTES, 2, produce, &s, consume, &s);
    CHECK(st == TS_OK, "stream after '%s': %s", after, ts_last_error());
    if (d->rank == 0)
        CHECK(s.consumed == T, "stream after '%s': %lld of %lld", after, (long long)s.consumed, (long long)T);
}

static void test_agree(ts_parallel * d) {
    ts_error_clear();
    CHECK(ts_parallel_agree(d, TS_OK) == TS_OK, "agree with everyone OK");
    int bad = d->world >= 3 ? 2 : d->world - 1;
    enum ts_status mine = TS_OK;
    if (d->rank == bad) mine = ts_error(TS_ERR_MODEL, "re-export the weights", "weights lack tensor 'x'");
    enum ts_status st = ts_parallel_agree(d, mine);
    if (d->rank == bad) {
        CHECK(st == TS_ERR_MODEL, "failing rank got %s", ts_status_name(st));
        CHECK(strcmp(ts_last_error(), "weights lack tensor 'x'") == 0, "failing rank's message changed: '%s'",
              ts_last_error());
    } else {
        char want[96];
        snprintf(want, sizeof want, "rank %d (%s)", bad, d->host);  // one host here
        CHECK(st == TS_ERR_DIST, "rank %d got %s", d->rank, ts_status_name(st));
        CHECK(strstr(ts_last_error(), want) && strstr(ts_last_error(), "weights lack tensor 'x'"),
              "message '%s' should name %s and its error", ts_last_error(), want);
        CHECK(strcmp(ts_last_hint(), "re-export the weights") == 0, "hint '%s'", ts_last_hint());
    }
    ts_error_clear();
    CHECK(ts_parallel_agree(d, TS_OK) == TS_OK, "agree after a failure");
}

int main(int argc, char ** argv) {
    ts_parallel d;
    if (ts_parallel_init(&d, &argc, &argv) != TS_OK) {
        fprintf(stderr, "ts_parallel_init: %s\n", ts_last_error());
        return 1;
    }
    ts_test_mpi_begin(d.comm);
    int P = d.world, last = P - 1;
    int64_t T = 100 * (int64_t)P;  // 100 frames each: rank 0 needs 2 s for its own at 20 ms a frame

    test_agree(&d);
    ts_mpi_group(d.comm, "parallel.agree");

    if (P > 1) {
        run_failure(&d, "last rank's produce fails early", T, last, -1, 1, -1, last, 0.02, 1);
        run_clean(&d, "last rank's produce");
        ts_mpi_group(d.comm, "parallel.fail.produce_last_rank");

        run_failure(&d, "rank 1's produce fails at its first frame", T, 1, -1, 0, -1, 1, 0.0, 0);
        run_clean(&d, "rank 1's produce");
        ts_mpi_group(d.comm, "parallel.fail.produce_rank1");

        run_failure(&d, "rank 1's produce fails at its last frame", T, 1, -1, 99, -1, 1, 0.0, 0);
        run_clean(&d, "rank 1's last produce");
        ts_mpi_group(d.comm, "parallel.fail.produce_rank1_last_frame");

        run_failure(&d, "two ranks' produce fail", T, 1, last, 5, -1, 1, 0.0, 0);
        run_clean(&d, "two ranks");
        ts_mpi_group(d.comm, "parallel.fail.produce_two_ranks");

        run_failure(&d, "rank 0's consume fails on the last rank's frame", T, -1, -1, -1, T - 50, 0, 0.0, 0);
        run_clean(&d, "consume on the last rank's frame");
        ts_mpi_group(d.comm, "parallel.fail.consume_other");
    }
    run_failure(&d, "rank 0's consume fails on its own frame", T, -1, -1, -1, 3, 0, 0.0, 0);
    run_clean(&d, "consume on own frame");
    ts_mpi_group(d.comm, "parallel.fail.consume_own");

    run_failure(&d, "rank 0's produce fails", T, 0, -1, 2, -1, 0, 0.0, 0);
    run_clean(&d, "rank 0's produce");
    ts_mpi_group(d.comm, "parallel.fail.produce_rank0");

    int rc = ts_test_mpi_finish(d.comm, "test_parallel_fail");
    ts_parallel_free(&d);
    return rc;
}
