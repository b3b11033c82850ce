// Tests of src/io/video_none.c (built with -DTS_FFMPEG=OFF): every call fails
// cleanly with "built without FFmpeg" and leaves handles NULL.
#include <stdint.h>

#include "io/video.h"
#include "ts_test.h"

int main(void) {
    ts_video_writer * vw = (ts_video_writer *)&vw;
    ts_video_reader * vr = (ts_video_reader *)&vr;
    uint8_t px[3] = {0};
    uint8_t * rgb = px;
    int w, h, got = 1;
    CHECK_ERR(ts_video_writer_open("x.mp4", 64, 48, 12, NULL, -1, &vw), TS_ERR_ARG, "without FFmpeg", "writer open");
    VERDICT(vw == NULL, "writer handle NULL");
    CHECK_OK(ts_video_writer_close(&vw, 0), "writer close(abandon)");
    CHECK_ERR(ts_video_reader_open("x.mp4", &vr, &w, &h, NULL), TS_ERR_ARG, "without FFmpeg", "reader open");
    VERDICT(vr == NULL, "reader handle NULL");
    CHECK_ERR(ts_video_reader_next(NULL, px, &got), TS_ERR_ARG, "without FFmpeg", "reader next");
    VERDICT(got == 0, "no frame");
    ts_video_reader_close(&vr);
    CHECK_ERR(ts_image_read("x.png", &rgb, &w, &h, NULL), TS_ERR_ARG, "without FFmpeg", "image read");
    VERDICT(rgb == NULL, "no pixels");
    CHECK_ERR(ts_image_write_png("x.png", px, 1, 1), TS_ERR_ARG, "without FFmpeg", "PNG write");
    return ts_test_finish("test_io_video_none");
}
