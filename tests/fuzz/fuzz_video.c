// Fuzz target: what `interpolate` does with what libavformat and libavcodec
// hand back: ts_video_reader_open on any bytes, then the interpolation stream
// (2x frame rate) over the decoded frames, as src/interp/command.c runs it
// (odd sizes, one frame, zero frames, frames that change size mid-stream).
#include "fuzz.h"
#include "interp/interp.h"  // ts_interp_stream_open
#include "io/video.h"       // ts_video_reader_open

static enum ts_status read_key(void * ud, int64_t g, uint8_t * rgb, int * got) {
    return ts_video_reader_next(ud, rgb, got);
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    ts_video_reader * vr = NULL;
    int w = 0, h = 0;
    double fps = 0;
    if (ts_video_reader_open(path, &vr, &w, &h, &fps) == TS_OK) {
        if (w < 1 || h < 1) abort();  // the reader promises a usable size
        // Sizes above this are decoded by the project exactly as small ones; the
        // flow estimate is what makes them slow, not a different code path.
        if ((int64_t)w * h <= 128 * 128) {
            struct ts_interp_timing tm;
            struct ts_interp_params ip;
            ts_interp_params_init(&ip);
            ts_interp_stream * s = NULL;
            if (ts_interp_timing_from_fps(8, 16, &tm) == TS_OK &&
                ts_interp_stream_open(&ip, w, h, tm, 0, -1, read_key, vr, &s) == TS_OK) {
                uint8_t * frame = malloc((size_t)w * h * 3);
                int got = 1;
                for (int i = 0; i < 12 && ts_interp_stream_next(s, frame, NULL, &got) == TS_OK && got; i++) {
                }
                free(frame);
                ts_interp_stream_free(&s);
            }
        } else if ((int64_t)w * h <= (1 << 22)) {
            uint8_t * frame = malloc((size_t)w * h * 3);
            int got = 0;
            if (frame) (void)ts_video_reader_next(vr, frame, &got);
            free(frame);
        }
        ts_video_reader_close(&vr);
    }
    close(fd);
    return 0;
}
