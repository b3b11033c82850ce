// The DiT over the whole video vs over P chunks, each chunk a thread with its own
// model and single-threaded backend trading halos (tests/common/thread_comm.h):
// bit-identical. Shared by the reference tests.
#pragma once
#include <stdio.h>
#include <stdlib.h>

#include "core/common.h"
#include "model/controls.h"
#include "model/stdit/stdit.h"
#include "parallel/parallel.h"
#include "thread_comm.h"
#include "ts_test.h"

#define REF_CHUNKS_MAXP 8

struct ref_chunk_job {
    ts_model * m;
    ts_comm_t comm;
    int64_t g0, Tn, T;
    const float * z;    // whole video (T, h, w, c)
    const float * ctl;  // whole video's control vectors (T, TS_CONTROL_DIM), or NULL: none
    float * v;          // whole video output
    const ts_text_cond * tc;
};

static inline void * ref_chunk_run(void * arg) {
    struct ref_chunk_job * j = arg;
    const struct ts_model_config * c = &j->m->cfg;
    int64_t cell = (int64_t)ts_cfg_latent_hw(c) * ts_cfg_latent_hw(c) * c->latent_channels;
    ts_dit_ws * ws = ts_dit_ws_new(j->m, j->Tn, j->g0, j->T);
    if (j->ctl) ts_dit_ws_set_controls(ws, j->m, j->ctl + j->g0 * TS_CONTROL_DIM);
    enum ts_status st =
        ts_dit_forward(ws, j->m, j->v + j->g0 * cell, j->z + j->g0 * cell, NULL, NULL, 0.7f, j->tc, j->comm);
    TS_ASSERT(st == TS_OK);
    ts_dit_ws_free(j->m, &ws);
    return NULL;
}

// sigma 0.7; `causal` 0 or 1 overrides the model's config (-1: the model's own); ctl NULL: no controls.
static inline void ref_check_chunks(const char * model_path, const char * prompt, const float * z, const float * ctl,
                                    int64_t T, int P, int causal) {
    TS_ASSERT(P >= 1 && P <= REF_CHUNKS_MAXP);
    ts_model * ms[REF_CHUNKS_MAXP];
    ts_backend_t bes[REF_CHUNKS_MAXP];
    ts_text_cond tcs[REF_CHUNKS_MAXP];
    struct ref_chunk_job jobs[REF_CHUNKS_MAXP];
    struct ts_thread_group * g = ts_thread_group_new(P, NULL);
    int64_t n = 0;
    for (int r = 0; r < P; r++) {
        bes[r] = ts_backend_cpu_new(1);
        TS_ASSERT(ts_model_load(&ms[r], model_path, bes[r]) == TS_OK);
        if (causal >= 0) ms[r]->cfg.causal = causal;
        TS_ASSERT(ts_text_encode(ms[r], prompt, &tcs[r]) == TS_OK);
        n = T * ts_cfg_latent_hw(&ms[r]->cfg) * ts_cfg_latent_hw(&ms[r]->cfg) * ms[r]->cfg.latent_channels;
    }
    float * whole = calloc((size_t)n, sizeof(float));
    float * parts = calloc((size_t)n, sizeof(float));
    // whole video, one chunk, no communicator
    struct ref_chunk_job one = {ms[0], NULL, 0, T, T, z, ctl, whole, &tcs[0]};
    ref_chunk_run(&one);
    for (int r = 0; r < P; r++) {
        int64_t g0, Tn;
        ts_partition(T, P, r, &g0, &Tn);
        jobs[r] = (struct ref_chunk_job){ms[r], P > 1 ? ts_thread_group_comm(g, r) : NULL, g0, Tn, T, z, ctl, parts,
                                         &tcs[r]};
    }
    ts_thread_group_run(g, ref_chunk_run, jobs, sizeof jobs[0]);
    char name[96];
    snprintf(name, sizeof(name), "dit.chunks%s P=%d T=%lld%s", ctl ? " with controls" : "", P, (long long)T,
             causal > 0 ? " causal" : "");
    ts_check_bits(name, parts, whole, n);
    for (int r = 0; r < P; r++) {
        ts_text_cond_free(ms[r], &tcs[r]);
        ts_model_free(&ms[r]);
        ts_backend_free(&bes[r]);
    }
    ts_thread_group_free(&g);
    free(whole);
    free(parts);
}
