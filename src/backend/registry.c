// The backend table: cpu always, cuda when this build has it (its entry lives
// in src/backend/cuda/cuda_reg.c); the one place that knows which exist.
#include "backend/registry.h"

#include <unistd.h>

#include "core/common.h"

static int cpu_available(char * why, size_t why_n) {
    (void)why, (void)why_n;
    return 1;
}

static ts_backend_t cpu_create(const struct ts_backend_init * init) {
    if (init->dtype != TS_DTYPE_FP32) {
        ts_error(TS_ERR_ARG, "the CPU backend computes in fp32", "--dtype %s needs --backend cuda",
                 ts_dtype_name(init->dtype));
        return NULL;
    }
    return ts_backend_cpu_new(init->threads);
}

static void cpu_describe(FILE * f) {
    fprintf(f, "  cpu      %ld cores (OpenMP threads, the project's own deterministic GEMM)\n",
            sysconf(_SC_NPROCESSORS_ONLN));
}

static const struct ts_backend_reg ts_backend_reg_cpu = {
    .kind = TS_BACKEND_CPU,
    .name = "cpu",
    .available = cpu_available,
    .select_device = NULL,
    .create = cpu_create,
    .describe = cpu_describe,
};

#ifdef TS_CUDA
extern const struct ts_backend_reg ts_backend_reg_cuda;  // src/backend/cuda/cuda_reg.c
static const struct ts_backend_reg * const ts_regs[] = {&ts_backend_reg_cpu, &ts_backend_reg_cuda};
#else
static const struct ts_backend_reg * const ts_regs[] = {&ts_backend_reg_cpu};
#endif

const struct ts_backend_reg * const * ts_backend_regs(int * n) {
    *n = (int)(sizeof ts_regs / sizeof ts_regs[0]);
    return ts_regs;
}

const struct ts_backend_reg * ts_backend_reg_find(enum ts_backend_kind kind) {
    int n = 0;
    const struct ts_backend_reg * const * r = ts_backend_regs(&n);
    for (int i = 0; i < n; i++)
        if (r[i]->kind == kind) return r[i];
    return NULL;
}
