// ts_ctx_new / ts_ctx_free: MPI, the backend chosen by name from the backend
// table, the halo communicator chosen once for it, and the model loaded by the
// family that claims its path. Also the default model's path and the defaults
// of the public parameter structs.
#define _GNU_SOURCE  // sched_getaffinity, CPU_COUNT
#include <limits.h>
#include <sched.h>  // sched_getaffinity: cores this rank may use
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/registry.h"  // ts_backend_reg_find
#include "core/common.h"
#include "pipeline/context.h"
#include "pipeline/hooks.h"  // ts_term_install

void ts_gen_params_init(struct ts_gen_params * p) {
    memset(p, 0, sizeof(*p));
    p->frames = 0;  // the model family's default
    p->cfg = -1.0f;
    p->control_scale = -1.0f;
    p->crf = -1;
}

void ts_ctx_params_init(struct ts_ctx_params * p) { memset(p, 0, sizeof(*p)); }

static int file_exists(const char * path) { return path && access(path, R_OK) == 0; }

const char * ts_default_model_path(void) {
    static char buf[PATH_MAX];
    const char * env = getenv("TIMESHARD_MODEL");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char * slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            const char * rel[] = {"/../share/timeshard/models/default.h5", "/../models/default.h5",
                                  "/../../models/default.h5"};
            for (int i = 0; i < 3; i++) {
                snprintf(buf, sizeof(buf), "%s%s", exe, rel[i]);
                if (file_exists(buf)) return buf;
            }
        }
    }
    snprintf(buf, sizeof(buf), "%s/models/default.h5", TS_DEFAULT_MODEL_DIR);
    if (file_exists(buf)) return buf;
    snprintf(buf, sizeof(buf), "%s/models/default.h5", TS_SOURCE_DIR);
    if (file_exists(buf)) return buf;
    return NULL;
}

// Ranks on this rank's node (MPI_COMM_TYPE_SHARED): they share its cores and memory.
static int node_ranks(const ts_parallel * d) {
    MPI_Comm node;
    int local = 1;
    if (MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &local);
        MPI_Comm_free(&node);
    }
    return local > 0 ? local : 1;
}

// CPU threads for this rank: the cores it may run on; when that is the whole
// machine (no binding), shared evenly by the ranks on this node.
static int default_threads(int local_ranks) {
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN), mine = cores;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) mine = CPU_COUNT(&set);
    if (mine < cores) return mine > 0 ? mine : 1;
    int t = cores / local_ranks;
    return t > 0 ? t : 1;
}

// The backend: the one asked for, or AUTO: cuda where this build has it and
// every rank sees a GPU (all ranks must choose the same), else cpu.
static enum ts_status backend_new(ts_ctx_t ctx, const struct ts_ctx_params * p) {
    ts_parallel * d = &ctx->par;
    enum ts_backend_kind kind = p->backend;
    if (kind == TS_BACKEND_AUTO) {
        const struct ts_backend_reg * cuda = ts_backend_reg_find(TS_BACKEND_CUDA);
        int all = cuda && cuda->available(NULL, 0) > 0;
        MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, d->comm);
        kind = all ? TS_BACKEND_CUDA : TS_BACKEND_CPU;
    }
    const struct ts_backend_reg * reg = ts_backend_reg_find(kind);
    if (!reg)
        return ts_error(TS_ERR_ARG, "use --backend cpu; 'timeshard devices' lists what this build has",
                        "backend '%s' is not available in this build", ts_backend_kind_name(kind));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (p->threads > 8 * cores)
        return ts_error(TS_ERR_ARG, "leave out --threads: the default uses the cores this rank may run on",
                        "--threads %d is more than 8 per core (this machine has %ld cores): it would only slow the run",
                        p->threads, cores);
    struct ts_backend_init init = {p->threads > 0 ? p->threads : default_threads(ctx->local_ranks), p->dtype, 0};
    if (reg->select_device) TS_TRY(reg->select_device(d->comm, &init.device));
    ctx->be = reg->create(&init);
    if (!ctx->be) return TS_ERR_ARG;
    ctx->dtype = p->dtype;
    return TS_OK;
}

static enum ts_status model_load(ts_ctx_t ctx, const char * path, const struct ts_ctx_params * p) {
    if (!path) path = ts_default_model_path();
    if (!path)
        return ts_error(TS_ERR_IO, "pass --model PATH or set TIMESHARD_MODEL",
                        "the default model (models/default.h5) was not found");
    ctx->family = ts_family_for_path(path);
    if (!ctx->family) return TS_ERR_FORMAT;
    struct ts_load_opts opts = {p->text_encoder, p->vae, p->tokenizer};
    return ctx->family->load(path, &opts, ctx->be, &ctx->model);
}

enum ts_status ts_ctx_new(const char * model_path, const struct ts_ctx_params * p, ts_ctx_t * out) {
    ts_error_clear();
    struct ts_ctx_params defaults;
    if (!p) {
        ts_ctx_params_init(&defaults);
        p = &defaults;
    }
    *out = NULL;
    ts_ctx_t ctx = ts_calloc(1, sizeof(*ctx));
    enum ts_status st = ts_parallel_init(&ctx->par, NULL, NULL);
    if (st != TS_OK) {
        free(ctx);
        return st;
    }
    ctx->halo = p->halo;
    ctx->signals = p->signals;
    ctx->local_ranks = node_ranks(&ctx->par);
    if ((unsigned)p->backend >= TS_BACKEND_COUNT || (unsigned)p->dtype >= TS_DTYPE_COUNT ||
        (unsigned)p->halo >= TS_HALO_COUNT)
        st = ts_error(TS_ERR_ARG, NULL, "ts_ctx_params: backend, dtype or halo out of range");
    if (st == TS_OK) st = backend_new(ctx, p);
    if (st == TS_OK) st = ts_parallel_halo_open(&ctx->par, ctx->be);
    if (st == TS_OK && p->signals) {
        ts_abort_signals_install();
        ts_term_install(ctx->par.rank);  // SIGTERM while the model loads: exit 3 at once (hooks.h)
    }
    if (st == TS_OK) st = model_load(ctx, model_path, p);
    st = ts_parallel_agree(&ctx->par, st);
    if (st != TS_OK) {
        ts_ctx_free(&ctx);
        return st;
    }
    *out = ctx;
    return TS_OK;
}

void ts_ctx_free(ts_ctx_t * cp) {
    ts_ctx_t c = *cp;
    if (!c) return;
    if (c->model) c->family->free(c->model);
    if (c->be) ts_backend_free(&c->be);
    if (c->signals) {
        ts_term_restore();
        ts_abort_signals_restore();
    }
    ts_parallel_free(&c->par);
    free(c);
    *cp = NULL;
}

int ts_ctx_rank(ts_ctx_t ctx) { return ctx->par.rank; }
int ts_ctx_world(ts_ctx_t ctx) { return ctx->par.world; }
