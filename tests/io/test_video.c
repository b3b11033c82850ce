// Tests of src/io/video.c: an MP4 of 17 frames checked with ffprobe (frame
// count, size, rate, pixel format) and for faststart (moov before mdat), read
// back with the reader; bad codec, odd size, unwritable path, abandoned
// writes; PNG round trip.
// usage: test_io_video TMP_DIR [FFPROBE]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/video.h"
#include "ts_test.h"

static char dir[1024];

static const char * tpath(const char * name) {
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

// Frame i of a test clip: four flat colour quadrants and a white bar moving right.
static void make_frame(uint8_t * rgb, int w, int h, int i) {
    static const uint8_t q[4][3] = {{220, 30, 30}, {30, 200, 40}, {40, 50, 210}, {230, 220, 40}};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t * c = q[(y >= h / 2) * 2 + (x >= w / 2)];
            uint8_t * p = rgb + ((size_t)y * w + x) * 3;
            int bar = x >= (i * 3) % w && x < (i * 3) % w + 4 && y < 6;
            p[0] = bar ? 255 : c[0];
            p[1] = bar ? 255 : c[1];
            p[2] = bar ? 255 : c[2];
        }
}

static enum ts_status write_clip(const char * path, int w, int h, double fps, int frames, const char * codec, int crf,
                                 int commit) {
    ts_video_writer * vw = NULL;
    TS_TRY(ts_video_writer_open(path, w, h, fps, codec, crf, &vw));
    uint8_t * rgb = malloc((size_t)w * h * 3);
    enum ts_status st = TS_OK;
    for (int i = 0; i < frames && st == TS_OK; i++) {
        make_frame(rgb, w, h, i);
        st = ts_video_writer_add(vw, rgb);
    }
    free(rgb);
    enum ts_status st2 = ts_video_writer_close(&vw, st == TS_OK && commit);
    return st != TS_OK ? st : st2;
}

// Order of the top-level MP4 atoms: 1 if moov comes before mdat.
static int moov_before_mdat(const char * path) {
    FILE * f = fopen(path, "rb");
    if (!f) return 0;
    long moov = -1, mdat = -1, pos = 0;
    unsigned char hdr[16];
    while (fread(hdr, 1, 8, f) == 8) {
        uint64_t size = ((uint64_t)hdr[0] << 24) | ((uint64_t)hdr[1] << 16) | ((uint64_t)hdr[2] << 8) | hdr[3];
        int hl = 8;
        if (size == 1) {  // 64-bit size follows
            if (fread(hdr + 8, 1, 8, f) != 8) break;
            size = 0;
            for (int i = 8; i < 16; i++) size = (size << 8) | hdr[i];
            hl = 16;
        }
        if (memcmp(hdr + 4, "moov", 4) == 0 && moov < 0) moov = pos;
        if (memcmp(hdr + 4, "mdat", 4) == 0 && mdat < 0) mdat = pos;
        if (size < (uint64_t)hl) break;  // 0: to the end of the file
        pos += (long)size;
        if (fseek(f, pos, SEEK_SET) != 0) break;
    }
    fclose(f);
    return moov >= 0 && mdat >= 0 && moov < mdat;
}

// Runs ffprobe on the first video stream and looks up one key's value.
static int probe(const char * ffprobe, const char * path, const char * key, char * out, size_t n) {
    char cmd[3000], line[256];
    snprintf(cmd, sizeof cmd,
             "'%s' -v error -count_frames -select_streams v:0 -show_entries "
             "stream=nb_read_frames,width,height,r_frame_rate,pix_fmt,codec_name -of default=noprint_wrappers=1 '%s'",
             ffprobe, path);
    FILE * p = popen(cmd, "r");
    if (!p) return 0;
    int found = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, p))
        if (!found && strncmp(line, key, kl) == 0 && line[kl] == '=') {
            snprintf(out, n, "%s", line + kl + 1);
            out[strcspn(out, "\r\n")] = '\0';
            found = 1;
        }
    pclose(p);
    return found;
}

static void test_mp4(const char * ffprobe) {
    printf("MP4 writer\n");
    const char * out = tpath("clip.mp4");
    CHECK_OK(write_clip(out, 64, 48, 12.0, 17, NULL, -1, 1), "write 17 frames 64x48 at 12 fps (libx264)");
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    VERDICT(ts_test_file_exists(out) && !ts_test_file_exists(tmp), "file under its name, no temporary left");
    VERDICT(moov_before_mdat(out), "faststart: moov before mdat");
    if (ffprobe && ffprobe[0]) {
        struct {
            const char * key;
            const char * want;
        } exp[] = {{"nb_read_frames", "17"}, {"width", "64"},          {"height", "48"},
                   {"r_frame_rate", "12/1"}, {"pix_fmt", "yuv420p"}, {"codec_name", "h264"}};
        for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++) {
            char v[128] = "";
            int ok = probe(ffprobe, out, exp[i].key, v, sizeof v);
            VERDICT(ok && strcmp(v, exp[i].want) == 0, "ffprobe %s = %s (want %s)", exp[i].key, v, exp[i].want);
        }
    } else {
        printf("  skip  no ffprobe\n");
    }

    // read back
    ts_video_reader * vr = NULL;
    int w = 0, h = 0, got = 0, frames = 0;
    double fps = 0;
    CHECK_OK(ts_video_reader_open(out, &vr, &w, &h, &fps), "reader opens it");
    if (vr) {
        VERDICT(w == 64 && h == 48 && fps > 11.999 && fps < 12.001, "reader: 64x48 at %g fps", fps);
        uint8_t * rgb = malloc((size_t)w * h * 3), * ref = malloc((size_t)w * h * 3);
        double err0 = -1;
        enum ts_status st;
        while ((st = ts_video_reader_next(vr, rgb, &got)) == TS_OK && got) {
            if (frames == 0) {
                make_frame(ref, w, h, 0);
                double s = 0;
                for (int i = 0; i < w * h * 3; i++) s += abs(rgb[i] - ref[i]);
                err0 = s / (w * h * 3);
            }
            frames++;
        }
        VERDICT(st == TS_OK && frames == 17, "reader: 17 frames (%d)", frames);
        VERDICT(err0 >= 0 && err0 < 6.0, "reader: first frame close to what was written (mean |err| %.2f)", err0);
        VERDICT(ts_video_reader_next(vr, rgb, &got) == TS_OK && !got, "reader: stays at the end");
        free(rgb);
        free(ref);
        ts_video_reader_close(&vr);
        VERDICT(vr == NULL, "reader close NULLs the handle");
    }

    const char * ntsc = tpath("ntsc.mkv");
    CHECK_OK(write_clip(ntsc, 32, 32, 29.97, 5, "libx264", 30, 1), "write 5 frames at 29.97 fps, crf 30, .mkv");
    if (ts_video_reader_open(ntsc, &vr, &w, &h, &fps) == TS_OK) {
        uint8_t rgb[32 * 32 * 3];
        frames = 0;
        while (ts_video_reader_next(vr, rgb, &got) == TS_OK && got) frames++;
        VERDICT(frames == 5 && fps > 29.96 && fps < 29.98, "29.97 fps clip: %d frames at %g fps", frames, fps);
        ts_video_reader_close(&vr);
    } else {
        VERDICT(0, "open the 29.97 fps clip: %s", ts_last_error());
    }
    if (ffprobe && ffprobe[0]) {
        char v[64] = "";
        probe(ffprobe, ntsc, "r_frame_rate", v, sizeof v);
        VERDICT(strcmp(v, "2997/100") == 0 || strcmp(v, "30000/1001") == 0, "ffprobe r_frame_rate %s", v);
    }
}

static void test_mp4_errors(void) {
    printf("MP4 writer errors\n");
    ts_video_writer * vw = NULL;
    ts_error_clear();
    enum ts_status st = ts_video_writer_open(tpath("bad.mp4"), 64, 48, 12, "nosuchcodec", -1, &vw);
    VERDICT(st == TS_ERR_ARG && strstr(ts_last_error(), "'nosuchcodec'") && strstr(ts_last_hint(), "ffmpeg -encoders"),
          "unknown codec -> TS_ERR_ARG naming it, hint 'ffmpeg -encoders': %s / %s", ts_last_error(), ts_last_hint());
    VERDICT(vw == NULL && !ts_test_file_exists(tpath("bad.mp4")), "no writer, no file");
    CHECK_ERR(ts_video_writer_open(tpath("bad.mp4"), 64, 48, 12, "aac", -1, &vw), TS_ERR_ARG, "not a video encoder",
              "audio codec");
    // an odd size: 4:4:4 where the encoder has it (x264 does), refused where it has only 4:2:0 (mpeg4)
    CHECK_OK(write_clip(tpath("odd.mp4"), 65, 47, 12, 3, NULL, -1, 1), "odd width and height: written as yuv444p");
    CHECK_ERR(ts_video_writer_open(tpath("odd4.mp4"), 65, 48, 12, "mpeg4", -1, &vw), TS_ERR_ARG, "even",
              "odd width, mpeg4 (4:2:0 only)");
    CHECK_ERR(ts_video_writer_open(tpath("odd4.mp4"), 64, 47, 12, "mpeg4", -1, &vw), TS_ERR_ARG, "even",
              "odd height, mpeg4 (4:2:0 only)");
    CHECK_ERR(ts_video_writer_open(tpath("fps.mp4"), 64, 48, 0, NULL, -1, &vw), TS_ERR_ARG, "frame rate", "fps 0");
    CHECK_ERR(ts_video_writer_open(tpath("clip.xyz"), 64, 48, 12, NULL, -1, &vw), TS_ERR_ARG, "container", "unknown extension");
    CHECK_ERR(ts_video_writer_open(tpath("nocrf.mkv"), 64, 48, 12, "ffv1", 20, &vw), TS_ERR_ARG, "'crf'",
              "crf for a codec without one");
    VERDICT(!ts_test_file_exists(tpath("nocrf.mkv.tmp")), "no temporary after a failed open");

    char p[1200];
    snprintf(p, sizeof p, "%s/no/such/dir/out.mp4", dir);
    CHECK_ERR(ts_video_writer_open(p, 64, 48, 12, NULL, -1, &vw), TS_ERR_IO, "no/such/dir", "unwritable path -> TS_ERR_IO");
    VERDICT(vw == NULL && !ts_test_file_exists(p), "nothing written there");

    // abandon: the temporary disappears, an older file stays
    const char * out = tpath("keep.mp4");
    CHECK_OK(write_clip(out, 32, 32, 10, 3, NULL, -1, 1), "an older file");
    struct stat before, after;
    stat(out, &before);
    CHECK_OK(write_clip(out, 64, 48, 10, 4, NULL, -1, 0), "4 frames, then close(commit=0)");
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    VERDICT(!ts_test_file_exists(tmp) && stat(out, &after) == 0 && after.st_size == before.st_size, "abandoned: no temporary, old file kept");
    CHECK_OK(ts_video_writer_close(&vw, 1), "close(NULL) is harmless");

    CHECK_ERR(ts_video_reader_open(tpath("missing.mp4"), &(ts_video_reader *){NULL}, NULL, NULL, NULL), TS_ERR_IO,
              "missing.mp4", "reader: missing file");
    ts_test_write_file(tpath("text.mp4"), "not a video\n", 12);
    CHECK_ERR(ts_video_reader_open(tpath("text.mp4"), &(ts_video_reader *){NULL}, NULL, NULL, NULL), TS_ERR_FORMAT,
              "text.mp4", "reader: not a video");
}

static void test_png(void) {
    printf("PNG\n");
    const int w = 7, h = 5;  // odd sizes are fine for RGB
    uint8_t img[7 * 5 * 3];
    for (int i = 0; i < w * h * 3; i++) img[i] = (uint8_t)(i * 37 + 11);
    CHECK_OK(ts_image_write_png(tpath("img.png"), img, w, h), "write 7x5 PNG");
    uint8_t * back = NULL;
    int bw = 0, bh = 0;
    CHECK_OK(ts_image_read(tpath("img.png"), &back, &bw, &bh), "read it back");
    VERDICT(back && bw == w && bh == h && memcmp(back, img, sizeof img) == 0, "PNG round trip exact (%dx%d)", bw, bh);
    free(back);
    VERDICT(!ts_test_file_exists(tpath("img.png.tmp")), "no temporary left");
    char p[1200];
    snprintf(p, sizeof p, "%s/no/such/dir/x.png", dir);
    CHECK_ERR(ts_image_write_png(p, img, w, h), TS_ERR_IO, "no/such/dir", "PNG to an unwritable path");
    CHECK_ERR(ts_image_read(tpath("nothing.png"), &back, &bw, &bh), TS_ERR_IO, "nothing.png", "missing image");
    ts_test_write_file(tpath("junk.png"), "\x89PNG junk junk junk", 19);
    CHECK_ERR(ts_image_read(tpath("junk.png"), &back, &bw, &bh), TS_ERR_FORMAT, "junk.png", "corrupt PNG");
    VERDICT(back == NULL, "no pixels after a failed read");
}

int main(int argc, char ** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s TMP_DIR [FFPROBE]\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    mkdir(dir, 0755);
    test_mp4(argc > 2 ? argv[2] : NULL);
    test_mp4_errors();
    test_png();
    return ts_test_finish("test_io_video");
}
