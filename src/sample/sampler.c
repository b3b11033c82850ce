// The shifted rectified-flow schedule (tools/train/tsmodel.py: schedule), the
// guided Euler step, and the samplers behind struct ts_sampler_ops.
#include "sample/sampler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

double ts_schedule_sigma(int k, int steps, double shift) {
    double t = 1.0 - (double)k / (double)steps;
    return shift * t / (1.0 + (shift - 1.0) * t);
}

void ts_sample_euler_guided(ts_backend_t be, float * x, float * vc, float * vu, float cfg, double dt, int64_t n) {
    const struct ts_backend_ops * op = be->ops;
    if (cfg != 1.0f) {
        op->axpby(be, vc, -1.0f, vu, 1.0f, n);  // vc - vu
        op->axpby(be, vu, cfg, vc, 1.0f, n);    // vu + cfg (vc - vu)
        op->axpby(be, x, (float)dt, vu, 1.0f, n);
    } else {
        op->axpby(be, x, (float)dt, vc, 1.0f, n);
    }
}

// ---- the default model's: shifted schedule, Euler ------------------------------------------

static float shifted_time(const ts_sampler * s, int k) { return (float)ts_schedule_sigma(k, s->steps, s->shift); }
static int shifted_guided(const ts_sampler * s, float cfg) { return cfg != 1.0f; }
static void shifted_step(ts_sampler * s, ts_backend_t be, float * x, float * vc, float * vu, float cfg, int64_t n,
                         int k) {
    double dt = ts_schedule_sigma(k + 1, s->steps, s->shift) - ts_schedule_sigma(k, s->steps, s->shift);
    ts_sample_euler_guided(be, x, vc, vu, cfg, dt, n);
}
static void plain_free(ts_sampler * s) { free(s); }

static const struct ts_sampler_ops shifted_ops = {"euler-shifted", shifted_time, shifted_guided, shifted_step, 0,
                                                  plain_free,      NULL,         NULL,           NULL};

ts_sampler * ts_sampler_shifted_euler_new(int steps, double shift) {
    ts_sampler * s = ts_calloc(1, sizeof(*s));
    *s = (ts_sampler){&shifted_ops, steps, shift, NULL, ""};
    snprintf(s->config, sizeof s->config, "euler-shifted (shift %g)", shift);
    return s;
}

// ---- diffusers' flow-matching schedulers (Wan2.1) --------------------------------------------

static float flow_time(const ts_sampler * s, int k) { return (float)ts_flow_sched_timestep(s->ctx, k); }
static int flow_guided(const ts_sampler * s, float cfg) { return ts_flow_guidance_on(cfg); }
static void flow_step(ts_sampler * s, ts_backend_t be, float * x, float * vc, float * vu, float cfg, int64_t n,
                      int k) {
    if (ts_flow_sched_step_index(s->ctx) != k && !s->ops->stateful) {
        // a run resumed at step k (the checkpoint holds the latents): Euler's state is its
        // step index alone
        struct ts_flow_sched_item it[TS_FLOW_SCHED_STATE_MAX];
        int n_items = ts_flow_sched_state_get(s->ctx, it);
        for (int i = 0; i < n_items; i++)
            if (!strcmp(it[i].name, "step_index")) it[i].value = k;
        TS_ASSERT(ts_flow_sched_state_set(s->ctx, it, n_items) == TS_OK);
    }
    TS_ASSERT(ts_flow_sched_step_index(s->ctx) == k);
    if (ts_flow_guidance_on(cfg)) ts_flow_guidance(vc, vu, cfg, n, 0, vc);  // host memory (CPU backend)
    ts_flow_sched_step(s->ctx, vc, x);
}
static void flow_free(ts_sampler * s) {
    ts_flow_sched_t f = s->ctx;
    ts_flow_sched_free(&f);
    free(s);
}

static int flow_state_get(ts_sampler * s, struct ts_flow_sched_item * items) {
    return ts_flow_sched_state_get(s->ctx, items);
}
static enum ts_status flow_state_set(ts_sampler * s, const struct ts_flow_sched_item * items, int n_items) {
    return ts_flow_sched_state_set(s->ctx, items, n_items);
}
static double flow_sigma(const ts_sampler * s, int k) { return ts_flow_sched_sigma(s->ctx, k); }

static const struct ts_sampler_ops unipc_ops = {"unipc",   flow_time,      flow_guided,    flow_step, 1,
                                                flow_free, flow_state_get, flow_state_set, flow_sigma};
static const struct ts_sampler_ops euler_ops = {"euler", flow_time, flow_guided, flow_step, 0, flow_free,
                                                NULL,    NULL,      flow_sigma};

enum ts_status ts_sampler_flow_new(const struct ts_flow_sched_config * cfg, int steps, int64_t n, ts_sampler ** out) {
    *out = NULL;
    ts_flow_sched_t f = NULL;
    TS_TRY(ts_flow_sched_new(cfg, steps, n, &f));
    ts_sampler * s = ts_calloc(1, sizeof(*s));
    *s = (ts_sampler){cfg->kind == TS_FLOW_SCHED_UNIPC ? &unipc_ops : &euler_ops, steps, cfg->shift, f, ""};
    ts_flow_sched_config_str(cfg, s->config, sizeof s->config);
    *out = s;
    return TS_OK;
}

void ts_sampler_free(ts_sampler ** s) {
    if (!*s) return;
    (*s)->ops->free(*s);
    *s = NULL;
}
