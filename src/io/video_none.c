// Stubs for builds without FFmpeg (-DTS_FFMPEG=OFF): every video and image call
// fails with a clear error, so the rest of the engine links and runs.
#include "io/video.h"

#include <stddef.h>

#include "core/common.h"

static const char * const hint_noff = "rebuild with FFmpeg's libraries (cmake -DTS_FFMPEG=ON), or write --latents only";

static enum ts_status no_ffmpeg(const char * what) {
    return ts_error(TS_ERR_ARG, hint_noff, "%s: timeshard was built without FFmpeg", what);
}

enum ts_status ts_video_output_check(const char * path, const char * codec) { return no_ffmpeg("video output"); }
enum ts_status ts_video_encoder_check(const char * path, int width, int height, double fps, const char * codec,
                                      int crf) {
    (void)width, (void)height, (void)fps, (void)crf;
    return ts_video_output_check(path, codec);
}

enum ts_status ts_video_writer_open(const char * path, int width, int height, double fps, const char * codec, int crf,
                                    ts_video_writer ** out) {
    if (out) *out = NULL;
    return no_ffmpeg("video output");
}

enum ts_status ts_video_writer_open_color(const char * path, int width, int height, double fps, const char * codec,
                                          int crf, const struct ts_video_color * color, ts_video_writer ** out) {
    if (out) *out = NULL;
    return no_ffmpeg("video output");
}

void ts_video_color_default(struct ts_video_color * c) {
    c->range = 1;
    c->matrix = 6;
    c->primaries = 1;
    c->transfer = 1;
}

void ts_video_reader_color(const ts_video_reader * vr, struct ts_video_color * c) { ts_video_color_default(c); }
void ts_video_reader_gaps(const ts_video_reader * vr, double * gap_min, double * gap_max) {
    (void)vr;
    *gap_min = *gap_max = 0;
}

enum ts_status ts_video_writer_add(ts_video_writer * vw, const uint8_t * rgb) { return no_ffmpeg("video output"); }

enum ts_status ts_video_writer_close(ts_video_writer ** vw, int commit) {
    if (vw) *vw = NULL;
    return commit ? no_ffmpeg("video output") : TS_OK;
}

enum ts_status ts_video_reader_open(const char * path, ts_video_reader ** out, int * width, int * height, double * fps) {
    if (out) *out = NULL;
    return no_ffmpeg("video input");
}

enum ts_status ts_video_reader_next(ts_video_reader * vr, uint8_t * rgb, int * got) {
    if (got) *got = 0;
    return no_ffmpeg("video input");
}

void ts_video_reader_close(ts_video_reader ** vr) {
    if (vr) *vr = NULL;
}

enum ts_status ts_image_read(const char * path, uint8_t ** rgb, int * width, int * height, int * translucent) {
    if (rgb) *rgb = NULL;
    return no_ffmpeg("image input");
}

enum ts_status ts_image_write_png(const char * path, const uint8_t * rgb, int width, int height) {
    return no_ffmpeg("PNG output");
}
