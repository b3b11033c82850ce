// A multistep sampler's state in checkpoints: the group /sampler beside /latents
// (attributes: the sampler's name and settings, its scalars; datasets: the schedule
// in use and its latent-shaped arrays, each rank writing and reading its own frames).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "io/latents.h"  // struct ts_lat_group, ts_latents_write_group, ts_latents_read_group
#include "pipeline/run.h"
#include "sample/sampler.h"

// The schedule in use: the model's timestep input at k < steps, sigma at k <= steps
// (NaN where the sampler does not say). Owned by the caller (free).
static void schedule_get(const ts_sampler * s, double ** ts, double ** sig) {
    *ts = ts_malloc((size_t)s->steps * sizeof(double));
    *sig = ts_malloc((size_t)(s->steps + 1) * sizeof(double));
    for (int k = 0; k < s->steps; k++) (*ts)[k] = s->ops->model_time(s, k);
    for (int k = 0; k <= s->steps; k++) (*sig)[k] = s->ops->sigma ? s->ops->sigma(s, k) : NAN;
}

// The group's names and sizes for this run's sampler (values left for the caller):
// strings "sampler" and "config", the state's scalars as attributes, "timesteps" and
// "sigmas" (ts, sig), the state's arrays. Returns the number of state items.
static int group_layout(ts_sampler * s, struct ts_flow_sched_item * it, struct ts_lat_group * g, double * ts,
                        double * sig) {
    memset(g, 0, sizeof *g);
    g->name = "sampler";
    int n = s->ops->state_get(s, it);
    g->str[0].name = "sampler";
    g->str[1].name = "config";
    g->n_str = 2;
    for (int i = 0; i < n; i++) {
        if (it[i].is_array) {
            g->arr[g->n_arr].name = it[i].name;
            g->arr[g->n_arr++].data = it[i].data;
        } else {
            g->num[g->n_num].name = it[i].name;
            g->num[g->n_num].value = it[i].value;
            g->num[g->n_num++].is_int = strcmp(it[i].name, "shift") != 0;
        }
    }
    g->vec[0].name = "timesteps", g->vec[0].v = ts, g->vec[0].n = s->steps;
    g->vec[1].name = "sigmas", g->vec[1].v = sig, g->vec[1].n = s->steps + 1;
    g->n_vec = 2;
    return n;
}

enum ts_status ts_run_checkpoint_write(struct ts_run * r, const char * path, const struct ts_latents_meta * meta) {
    ts_sampler * s = r->sampler;
    if (!s->ops->stateful)  // Euler: the latents and the step are the whole state
        return ts_latents_write(path, r->par->comm, r->sh.latent_frames, r->sh.lat_h, r->sh.lat_w, r->sh.lat_c, r->g0,
                                r->Tn, r->host, meta);
    TS_ASSERT(s->ops->state_get && s->ops->state_set);
    struct ts_flow_sched_item it[TS_FLOW_SCHED_STATE_MAX];
    struct ts_lat_group g;
    double *ts, *sig;
    schedule_get(s, &ts, &sig);
    group_layout(s, it, &g, ts, sig);
    snprintf(g.str[0].value, sizeof g.str[0].value, "%s", s->ops->name);
    snprintf(g.str[1].value, sizeof g.str[1].value, "%s", s->config);
    enum ts_status st = ts_latents_write_group(path, r->par->comm, r->sh.latent_frames, r->sh.lat_h, r->sh.lat_w,
                                               r->sh.lat_c, r->g0, r->Tn, r->host, meta, &g);
    free(ts);
    free(sig);
    return st;
}

// The checkpoint's sampler, settings and schedule against this run's (g as read).
static enum ts_status state_check(const struct ts_run * r, const char * path, const struct ts_lat_group * g,
                                  const double * ts, const double * sig, int64_t step) {
    const ts_sampler * s = r->sampler;
    const char * hint =
        "resume with the --sampler, --shift and --steps of the interrupted run (see 'timeshard info "
        "CHECKPOINT'), or start again without --resume";
    if (!g->str[0].value[0] || !g->str[1].value[0])
        return ts_error(TS_ERR_FORMAT, "the checkpoint is damaged; start again without --resume",
                        "checkpoint '%s': /sampler does not name its sampler (attributes 'sampler', 'config')", path);
    if (strcmp(g->str[0].value, s->ops->name) != 0)
        return ts_error(TS_ERR_ARG, hint,
                        "checkpoint '%s' holds the state of the '%s' sampler; this run samples with %s", path,
                        g->str[0].value, s->ops->name);
    if (strcmp(g->str[1].value, s->config) != 0)
        return ts_error(TS_ERR_ARG, hint, "checkpoint '%s' was made with %s; this run samples with %s", path,
                        g->str[1].value, s->config);
    int same = 1;
    for (int k = 0; k < s->steps; k++) same &= !memcmp(&g->vec[0].v[k], &ts[k], sizeof(double));
    for (int k = 0; k <= s->steps; k++) same &= !memcmp(&g->vec[1].v[k], &sig[k], sizeof(double));
    if (!same)
        return ts_error(TS_ERR_ARG, hint, "checkpoint '%s' was made with another schedule (timesteps or sigmas differ)",
                        path);
    for (int i = 0; i < g->n_num; i++)
        if (!strcmp(g->num[i].name, "step_index") && g->num[i].value != (double)step)
            return ts_error(TS_ERR_FORMAT, "the checkpoint is damaged; start again without --resume",
                            "checkpoint '%s': the sampler is at step %g, the latents at step %lld", path,
                            g->num[i].value, (long long)step);
    return TS_OK;
}

// The state's arrays for this rank's frames into owned buffers (bufs), then the
// scheduler restored from them and the scalars read.
static enum ts_status state_restore(struct ts_run * r, const char * path, struct ts_lat_group * g,
                                    struct ts_flow_sched_item * it, int n) {
    ts_sampler * s = r->sampler;
    float * bufs[TS_LAT_GROUP_MAX] = {0};
    for (int i = 0; i < g->n_arr; i++)
        g->arr[i].data = bufs[i] = ts_malloc((size_t)(r->n_lat > 0 ? r->n_lat : 1) * sizeof(float));
    struct ts_lat_group ga = *g;  // the arrays alone
    ga.n_num = ga.n_str = ga.n_vec = 0;
    int found = 0;
    enum ts_status st = ts_latents_read_group(path, r->par->comm, r->g0, r->Tn, &ga, &found);
    for (int i = 0; st == TS_OK && i < g->n_arr; i++)
        for (int64_t e = 0; e < r->n_lat; e++)
            if (!isfinite(bufs[i][e])) {
                st = ts_error(
                    TS_ERR_FORMAT, "the checkpoint is damaged; start again without --resume",
                    "checkpoint '%s': /sampler/%s holds a value that is not a finite number (latent frame %lld)", path,
                    g->arr[i].name, (long long)(r->g0 + e / r->cell));
                break;
            }
    if (st == TS_OK) {
        for (int i = 0, a = 0, m = 0; i < n; i++) {
            if (it[i].is_array)
                it[i].data = bufs[a++];
            else
                it[i].value = g->num[m++].value;
        }
        st = s->ops->state_set(s, it, n);
    }
    for (int i = 0; i < g->n_arr; i++) free(bufs[i]);
    return st;
}

enum ts_status ts_run_sampler_resume(struct ts_run * r, const char * path, int64_t step, int restore) {
    ts_sampler * s = r->sampler;
    struct ts_flow_sched_item it[TS_FLOW_SCHED_STATE_MAX];
    struct ts_lat_group g = {.name = "sampler"};
    double *ts = NULL, *sig = NULL, *ts_file = NULL, *sig_file = NULL;
    int n = 0, found = 0;
    if (s->ops->stateful) {
        schedule_get(s, &ts, &sig);
        ts_file = ts_calloc((size_t)s->steps, sizeof(double));
        sig_file = ts_calloc((size_t)s->steps + 1, sizeof(double));
        n = group_layout(s, it, &g, ts_file, sig_file);
    }
    struct ts_lat_group small = g;  // the arrays come once the rest is checked
    small.n_arr = 0;
    enum ts_status st = ts_latents_read_group(path, r->par->comm, r->g0, r->Tn, &small, &found);
    if (st == TS_OK && found && !s->ops->stateful)
        st = ts_error(TS_ERR_ARG, "resume with the --sampler of the interrupted run (see 'timeshard info CHECKPOINT')",
                      "checkpoint '%s' holds a multistep sampler's state (/sampler); this run samples with %s", path,
                      s->ops->name);
    if (st == TS_OK && !found && s->ops->stateful)
        st = ts_error(TS_ERR_ARG,
                      "resume it with --sampler euler (the sampler it was made with), or start again without --resume",
                      "checkpoint '%s' holds no sampler state (/sampler): the %s sampler cannot continue from it", path,
                      s->ops->name);
    if (st == TS_OK && found) {
        memcpy(g.num, small.num, sizeof g.num);
        memcpy(g.str, small.str, sizeof g.str);
        st = state_check(r, path, &g, ts, sig, step);
    }
    if (st == TS_OK && found && restore) st = state_restore(r, path, &g, it, n);
    free(ts);
    free(sig);
    free(ts_file);
    free(sig_file);
    return st;
}
