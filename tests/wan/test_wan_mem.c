// Memory of a Wan2.1-shaped transformer (tools/wan/make_big.py writes one,
// never committed): loading keeps the weights mapped in their stored dtype,
// and load + a forward at a small size peak within 1.2x the file size.
// With --load-only (the sparse 14B-shaped file): header, names and config
// are read and checked, nothing is run.
//
// usage: test_wan_mem FILE [--load-only] [T h w]
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "model/wan/wan.h"
#include "ts_test.h"

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [--load-only] [T h w]\n", argv[0]);
        return 2;
    }
    const char * path = argv[1];
    int load_only = argc > 2 && strcmp(argv[2], "--load-only") == 0;
    int a = load_only ? 3 : 2;
    int T = argc > a ? atoi(argv[a]) : 2, h = argc > a + 1 ? atoi(argv[a + 1]) : 8,
        w = argc > a + 2 ? atoi(argv[a + 2]) : 8;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("test_wan_mem: %s absent (write it with tools/wan/make_big.py): skipped\n", path);
        return 0;
    }
    double file_gb = (double)sb.st_size / 1e9;
    ts_backend_t be = ts_backend_cpu_new(0);
    double rss0 = (double)ts_peak_rss() / 1e9;
    double t0 = ts_time();
    ts_wan_model * m = NULL;
    if (ts_wan_load(path, be, &m) != TS_OK) {
        ts_verdict("wan.mem.load", 0, ts_last_error());
        return ts_test_finish("test_wan_mem");
    }
    const struct ts_wan_config * c = &m->cfg;
    char buf[300];
    snprintf(buf, sizeof buf, "%s naming, dim %d ffn %d heads %d x %d, %d layers, text %d, %lld parameters, %.2f s",
             ts_wan_layout_name(m->layout), c->dim, c->ffn_dim, c->heads, c->head_dim, c->layers, c->text_dim,
             (long long)m->n_params, ts_time() - t0);
    ts_verdict("wan.mem.load", 1, buf);
    double rss_load = (double)ts_peak_rss() / 1e9;
    snprintf(buf, sizeof buf, "peak RSS after load %.3f GB (baseline %.3f GB), file %.2f GB", rss_load, rss0, file_gb);
    ts_verdict("wan.mem.load_maps_not_copies", rss_load - rss0 < 0.05 * file_gb + 0.2, buf);
    if (!load_only) {
        int L = 512;
        float * x = ts_test_alloc((int64_t)T * h * w * c->in_channels);
        float * v = ts_test_alloc((int64_t)T * h * w * c->out_channels);
        float * ctx = ts_test_alloc((int64_t)L * c->text_dim);
        ts_test_fill(x, (int64_t)T * h * w * c->in_channels, 1.0f);
        ts_test_fill(ctx, (int64_t)100 * c->text_dim, 0.1f);  // 100 prompt rows, the rest zero padding
        ts_wan_ws * ws = NULL;
        t0 = ts_time();
        enum ts_status st = ts_wan_ws_new(m, T, 0, T, h, w, 0, L, &ws);
        if (st == TS_OK) st = ts_wan_forward(ws, m, v, x, 500.0f, ctx, NULL);
        int finite = 1;
        for (int64_t i = 0; i < (int64_t)T * h * w * c->out_channels; i++) finite &= isfinite(v[i]);
        snprintf(buf, sizeof buf, "T %d, %dx%d latents, %d text rows: %.2f s, output %s", T, h, w, L, ts_time() - t0,
                 finite ? "finite" : "NOT finite");
        ts_verdict("wan.mem.forward", st == TS_OK && finite, st == TS_OK ? buf : ts_last_error());
        ts_wan_ws_free(&ws);
        free(x), free(v), free(ctx);
        double peak = (double)ts_peak_rss() / 1e9;
        snprintf(buf, sizeof buf, "peak RSS %.3f GB = %.3fx the file (%.2f GB)", peak, peak / file_gb, file_gb);
        ts_verdict("wan.mem.peak_within_1.2x_file", peak <= 1.2 * file_gb, buf);
    }
    ts_wan_free(&m);
    ts_backend_free(&be);
    return ts_test_finish("test_wan_mem");
}
