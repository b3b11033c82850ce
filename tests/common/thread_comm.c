// The in-process halo communicator (thread_comm.h).
#include "thread_comm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"  // TS_ASSERT

struct tcomm {
    struct ts_comm base;
    int rank;
    struct ts_thread_group * g;
    const void *sl, *sr;  // posted: send left, send right
    void *rl, *rr;        // posted: receive from the left, from the right
    size_t bytes;
    void * bbuf;  // the buffer of the broadcast in flight
};

struct ts_thread_group {
    pthread_barrier_t bar;
    int P;
    struct ts_thread_copy copy;
    struct ts_comm_ops ops;
    struct tcomm c[TS_THREAD_GROUP_MAX];
};

static void host_copy(void * dst, const void * src, size_t bytes) { memcpy(dst, src, bytes); }

static void t_post(ts_comm_t c, const void * sl, const void * sr, void * rl, void * rr, size_t bytes) {
    struct tcomm * t = (struct tcomm *)c;
    t->sl = sl, t->sr = sr, t->rl = rl, t->rr = rr, t->bytes = bytes;
}

static enum ts_status t_wait(ts_comm_t c) {
    struct tcomm * t = (struct tcomm *)c;
    struct ts_thread_group * g = t->g;
    pthread_barrier_wait(&g->bar);  // every rank has posted
    if (t->rl && t->rank > 0) g->copy.copy(t->rl, g->c[t->rank - 1].sr, t->bytes);
    if (t->rr && t->rank + 1 < g->P) g->copy.copy(t->rr, g->c[t->rank + 1].sl, t->bytes);
    if (g->copy.sync) g->copy.sync();
    pthread_barrier_wait(&g->bar);  // every copy done before send buffers change
    return TS_OK;
}

// Host memory, as the broadcast slot says (comm.h): memcpy from root's buffer.
static enum ts_status t_bcast(ts_comm_t c, void * buf, size_t bytes, int root) {
    struct tcomm * t = (struct tcomm *)c;
    struct ts_thread_group * g = t->g;
    TS_ASSERT(root >= 0 && root < g->P);
    t->bbuf = buf;
    pthread_barrier_wait(&g->bar);  // root's buffer is known
    if (t->rank != root) memcpy(buf, g->c[root].bbuf, bytes);
    pthread_barrier_wait(&g->bar);  // every copy done before root's buffer changes
    return TS_OK;
}

struct ts_thread_group * ts_thread_group_new(int P, const struct ts_thread_copy * copy) {
    TS_ASSERT(P >= 1 && P <= TS_THREAD_GROUP_MAX);
    struct ts_thread_group * g = calloc(1, sizeof *g);
    TS_ASSERT(g);
    g->P = P;
    g->copy = copy ? *copy : (struct ts_thread_copy){"threads", host_copy, NULL};
    if (!g->copy.copy) g->copy.copy = host_copy;
    g->ops = (struct ts_comm_ops){.name = g->copy.name ? g->copy.name : "threads",
                                  .halo_post = t_post,
                                  .halo_wait = t_wait,
                                  .free = NULL,
                                  .bcast = t_bcast};
    pthread_barrier_init(&g->bar, NULL, (unsigned)P);
    for (int r = 0; r < P; r++) {
        g->c[r].base.ops = &g->ops;
        g->c[r].rank = r;
        g->c[r].g = g;
    }
    return g;
}

ts_comm_t ts_thread_group_comm(struct ts_thread_group * g, int rank) {
    TS_ASSERT(rank >= 0 && rank < g->P);
    return &g->c[rank].base;
}

void ts_thread_group_run(struct ts_thread_group * g, void * (*fn)(void *), void * jobs, size_t job_size) {
    pthread_t th[TS_THREAD_GROUP_MAX];
    for (int r = 0; r < g->P; r++)
        TS_ASSERT(pthread_create(&th[r], NULL, fn, (char *)jobs + (size_t)r * job_size) == 0);
    for (int r = 0; r < g->P; r++) pthread_join(th[r], NULL);
}

void ts_thread_group_free(struct ts_thread_group ** g) {
    if (!*g) return;
    pthread_barrier_destroy(&(*g)->bar);
    free(*g);
    *g = NULL;
}
