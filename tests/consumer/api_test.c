// The public API as an application uses it (only timeshard/timeshard.h):
// two generations in one process, frames through the callback, two failing
// calls in a row each reporting its own error, log lines through a callback.
//   api_test MODEL.h5 OUT.h5 FRAMES.raw
// Writes OUT.h5 (the file output) and FRAMES.raw (the callback's frames) for
// run.sh to compare; prints one verdict line per check.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <timeshard/timeshard.h>

struct frames {
    uint8_t * data;
    size_t bytes, cap;
    int64_t n, next;
    int width, height, out_of_order;
};

static enum ts_status on_frame(int64_t index, const uint8_t * rgb, int width, int height, void * ud) {
    struct frames * f = ud;
    size_t fb = (size_t)width * height * 3;
    if (index != f->next) f->out_of_order = 1;
    f->next = index + 1;
    if (f->bytes + fb > f->cap) {
        f->cap = (f->bytes + fb) * 2;
        f->data = realloc(f->data, f->cap);
    }
    memcpy(f->data + f->bytes, rgb, fb);
    f->bytes += fb;
    f->n++;
    f->width = width, f->height = height;
    return TS_OK;
}

static int n_log_lines, n_progress;
static void on_log(enum ts_log_level level, const char * line, void * ud) {
    (void)level, (void)line, (void)ud;
    n_log_lines++;
}
static void on_progress(const struct ts_progress * p, void * ud) {
    (void)p, (void)ud;
    n_progress++;
}

static int failures;
static void verdict(const char * name, int ok, const char * detail) {
    printf("%-44s %s%s%s\n", name, ok ? "OK" : "FAILED", detail[0] ? "   " : "", detail);
    if (!ok) failures++;
}

int main(int argc, char ** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: api_test MODEL.h5 OUT.h5 FRAMES.raw\n");
        return 2;
    }
    ts_set_log_callback(on_log, NULL);
    ts_ctx_t ctx = NULL;
    if (ts_ctx_new(argv[1], NULL, &ctx) != TS_OK) {
        fprintf(stderr, "ts_ctx_new: %s\n", ts_last_error());
        return 1;
    }
    struct ts_gen_params gp;
    ts_gen_params_init(&gp);
    gp.prompt = "a red circle moving left on a blue background";
    gp.frames = 5;
    gp.steps = 2;
    gp.seed = 11;
    gp.out_path = argv[2];
    struct frames a = {0}, b = {0};
    gp.on_frame = on_frame, gp.frame_ud = &a;
    gp.progress = on_progress;
    enum ts_status st = ts_generate(ctx, &gp);
    char detail[256];
    snprintf(detail, sizeof detail, "%lld frames %dx%d", (long long)a.n, a.width, a.height);
    verdict("api.generate.file_and_callback", st == TS_OK && a.n == 5 && !a.out_of_order, detail);
    verdict("api.progress_callback", n_progress >= 2, "");
    verdict("api.log_callback", n_log_lines > 0, "");

    // the second generation of the process, callback only (no file)
    gp.out_path = NULL, gp.frame_ud = &b;
    st = ts_generate(ctx, &gp);
    verdict("api.generate.second_same_frames", st == TS_OK && b.bytes == a.bytes && !memcmp(a.data, b.data, a.bytes), "");

    // two failing calls: each reports its own error
    gp.frames = -1;
    st = ts_generate(ctx, &gp);
    char first[512];
    snprintf(first, sizeof first, "%s", ts_last_error());
    verdict("api.error.first", st == TS_ERR_ARG && strstr(first, "frames") != NULL, first);
    gp.frames = 5;
    gp.prompt = "   ";
    st = ts_generate(ctx, &gp);
    verdict("api.error.second_is_its_own", st == TS_ERR_ARG && strstr(ts_last_error(), "prompt") != NULL &&
                                               strcmp(first, ts_last_error()) != 0, ts_last_error());
    // and a good call after them clears the error
    gp.prompt = "a red circle moving left on a blue background";
    gp.frame_ud = &b, b.bytes = 0, b.n = 0, b.next = 0;
    st = ts_generate(ctx, &gp);
    verdict("api.error.cleared_by_next_call", st == TS_OK && ts_last_error()[0] == '\0', "");

    // a second context in the same process gives the same video
    ts_ctx_free(&ctx);
    st = ts_ctx_new(argv[1], NULL, &ctx);
    gp.frame_ud = &b, b.bytes = 0, b.n = 0, b.next = 0;
    if (st == TS_OK) st = ts_generate(ctx, &gp);
    verdict("api.second_context_same_frames", st == TS_OK && b.bytes == a.bytes && !memcmp(a.data, b.data, a.bytes),
            ts_last_error());

    FILE * f = fopen(argv[3], "wb");
    if (!f || fwrite(a.data, 1, a.bytes, f) != a.bytes) failures++;
    if (f) fclose(f);
    ts_ctx_free(&ctx);
    free(a.data);
    free(b.data);
    printf("%d passed, %d failed\n", 8 - failures, failures);
    return failures ? 1 : 0;
}
