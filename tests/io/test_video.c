// Tests of src/io/video.c: an MP4 of 17 frames checked with ffprobe (frame
// count, size, rate, pixel format) and for faststart (moov before mdat), read
// back with the reader; bad codec, odd size, unwritable path, abandoned
// writes; PNG round trip. Encoders that must be flushed before they are freed (SVT-AV1 hung in
// its deinit), names that are not one video file (images, image sequences, HLS), codecs a
// container takes or refuses (PNG in Matroska, GIF), and libav's log lines kept out of stderr.
// usage: test_io_video TMP_DIR [FFPROBE]
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    CHECK_OK(ts_image_read(tpath("img.png"), &back, &bw, &bh, NULL), "read it back");
    VERDICT(back && bw == w && bh == h && memcmp(back, img, sizeof img) == 0, "PNG round trip exact (%dx%d)", bw, bh);
    free(back);
    VERDICT(!ts_test_file_exists(tpath("img.png.tmp")), "no temporary left");
    char p[1200];
    snprintf(p, sizeof p, "%s/no/such/dir/x.png", dir);
    CHECK_ERR(ts_image_write_png(p, img, w, h), TS_ERR_IO, "no/such/dir", "PNG to an unwritable path");
    CHECK_ERR(ts_image_read(tpath("nothing.png"), &back, &bw, &bh, NULL), TS_ERR_IO, "nothing.png", "missing image");
    ts_test_write_file(tpath("junk.png"), "\x89PNG junk junk junk", 19);
    CHECK_ERR(ts_image_read(tpath("junk.png"), &back, &bw, &bh, NULL), TS_ERR_FORMAT, "junk.png", "corrupt PNG");
    VERDICT(back == NULL, "no pixels after a failed read");
}


// A call that never returns (SVT-AV1 freed without its end waited forever) fails the test.
static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "  FAIL  hung: an encoder was freed without being flushed (60 s)\ntest_io_video: FAILED\n";
    if (write(1, msg, sizeof msg - 1) < 0) _exit(1);
    _exit(1);
}

static void test_svtav1(const char * ffprobe) {
    printf("SVT-AV1 (an encoder that hangs when freed without its end)\n");
    ts_error_clear();
    if (ts_video_output_check(tpath("svt.mp4"), "libsvtav1") != TS_OK) {
        printf("  skip  libsvtav1: %s\n", ts_last_error());
        return;
    }
    signal(SIGALRM, on_alarm);
    alarm(60);
    CHECK_OK(ts_video_encoder_check(tpath("svt.mp4"), 64, 64, 12, "libsvtav1", -1), "encoder check (opened, freed)");
    CHECK_OK(ts_video_encoder_check(tpath("svt.mkv"), 64, 64, 12, "libsvtav1", 40), "encoder check, --crf 40, .mkv");
    CHECK_OK(write_clip(tpath("svt.mp4"), 64, 64, 12, 3, "libsvtav1", -1, 1), "write 3 frames 64x64");
    CHECK_OK(write_clip(tpath("svt0.mp4"), 64, 64, 12, 0, "libsvtav1", -1, 0), "open, then abandon with no frame");
    CHECK_OK(write_clip(tpath("svt2.mp4"), 64, 64, 12, 2, "libsvtav1", -1, 0), "2 frames, then abandon");
    alarm(0);
    VERDICT(!ts_test_file_exists(tpath("svt0.mp4")) && !ts_test_file_exists(tpath("svt0.mp4.tmp")) &&
                !ts_test_file_exists(tpath("svt2.mp4")) && !ts_test_file_exists(tpath("svt2.mp4.tmp")),
            "abandoned: no file, no temporary");
    if (ffprobe && ffprobe[0]) {
        char codec[64] = "", n[64] = "";
        probe(ffprobe, tpath("svt.mp4"), "codec_name", codec, sizeof codec);
        probe(ffprobe, tpath("svt.mp4"), "nb_read_frames", n, sizeof n);
        VERDICT(!strcmp(codec, "av1") && !strcmp(n, "3"), "ffprobe: codec %s (want av1), %s frames (want 3)", codec, n);
    }
}

// No file and no temporary under any name the output could have made.
static int nothing_left(const char * const * names) {
    for (; *names; names++)
        if (ts_test_file_exists(tpath(*names))) return 0;
    return 1;
}

static void test_output_names(void) {
    printf("output names and containers\n");
    ts_video_writer * vw = NULL;
    // image muxers (image2) write files of their own: refused before anything is made
    const char * images[][2] = {{"f%02d.png", "png"}, {"one.png", "png"}, {"one.jpg", NULL}, {"list.m3u8", NULL}};
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) {
        ts_error_clear();
        enum ts_status st = ts_video_encoder_check(tpath(images[i][0]), 64, 48, 12, images[i][1], -1);
        VERDICT(st == TS_ERR_ARG && strstr(ts_last_error(), images[i][0]) && !strstr(ts_last_error(), ".tmp") &&
                    strstr(ts_last_hint(), "FILE.h5") && strstr(ts_last_hint(), ".mp4"),
                "check '%s': refused, names it, hint FILE.h5 / .mp4: %s / %s", images[i][0], ts_last_error(),
                ts_last_hint());
        CHECK_ERR(ts_video_writer_open(tpath(images[i][0]), 64, 48, 12, images[i][1], -1, &vw), TS_ERR_ARG,
                  images[i][0], "writer '%s' refused", images[i][0]);
    }
    static const char * const left[] = {"f%02d.png", "f%02d.png.tmp", "f01.png.tmp", "f01.png", "one.png",
                                        "one.png.tmp", "one.jpg",      "one.jpg.tmp", "list.m3u8", "list.m3u8.tmp",
                                        NULL};
    VERDICT(nothing_left(left), "no file, no temporary, no numbered image");

    // GIF: the muxer takes GIF only; libx264 (the default) refused up front with the way out
    ts_error_clear();
    enum ts_status st = ts_video_encoder_check(tpath("x.gif"), 64, 48, 12, NULL, -1);
    VERDICT(st == TS_ERR_ARG && strstr(ts_last_error(), "gif") && strstr(ts_last_error(), "libx264") &&
                !strstr(ts_last_error(), ".tmp") && strstr(ts_last_hint(), "--codec gif"),
            "check x.gif (libx264): refused, hint --codec gif: %s / %s", ts_last_error(), ts_last_hint());
    CHECK_ERR(write_clip(tpath("x.gif"), 64, 48, 12, 3, NULL, -1, 1), TS_ERR_ARG, "gif container", "writer x.gif (libx264)");
    VERDICT(!strstr(ts_last_error(), ".tmp"), "no temporary name in the message: %s", ts_last_error());
    CHECK_OK(ts_video_encoder_check(tpath("x.gif"), 64, 48, 12, "gif", -1), "check x.gif --codec gif");
    CHECK_OK(write_clip(tpath("x.gif"), 64, 48, 12, 3, "gif", -1, 1), "write x.gif --codec gif");
    // Matroska holds PNG (avformat_query_codec says 0 at the normal compliance level all the same)
    CHECK_OK(ts_video_encoder_check(tpath("png.mkv"), 64, 48, 12, "png", -1), "check png.mkv --codec png");
    CHECK_OK(write_clip(tpath("png.mkv"), 64, 48, 12, 3, "png", -1, 1), "write png.mkv --codec png");
    // what the container definitely cannot hold
    CHECK_ERR(ts_video_encoder_check(tpath("x.webm"), 64, 48, 12, NULL, -1), TS_ERR_ARG, "webm container cannot hold",
              "x.webm with libx264");
    static const char * const left2[] = {"x.gif.tmp", "png.mkv.tmp", "x.webm", "x.webm.tmp", NULL};
    VERDICT(nothing_left(left2) && ts_test_file_exists(tpath("x.gif")) && ts_test_file_exists(tpath("png.mkv")),
            "the GIF and the MKV, no temporaries");
}

// libav's own lines (e.g. "[png @ 0x...] chunk too big") never reach stderr: the reason goes into
// the one error message.
static void test_av_log(void) {
    printf("libav's log\n");
    const char * junk = tpath("chunk.png");
    ts_test_write_file(junk, "\x89PNG\r\n\x1a\n\x00\xff\xff\xffIHDRjunkjunkjunk", 27);
    const char * errf = tpath("stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    FILE * f = fopen(errf, "w");
    if (saved < 0 || !f) {
        VERDICT(0, "redirect stderr");
        return;
    }
    dup2(fileno(f), 2);
    uint8_t * rgb = NULL;
    int w, h;
    ts_error_clear();
    enum ts_status st = ts_image_read(junk, &rgb, &w, &h, NULL);
    enum ts_status st2 = ts_video_encoder_check(tpath("one.png"), 64, 48, 12, "png", -1);
    enum ts_status st3 = write_clip(tpath("x2.gif"), 64, 48, 12, 2, NULL, -1, 1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(f);
    free(rgb);
    char buf[512] = "";
    FILE * r = fopen(errf, "r");
    size_t n = r ? fread(buf, 1, sizeof buf - 1, r) : 0;
    if (r) fclose(r);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    VERDICT(st != TS_OK && st2 != TS_OK && st3 != TS_OK, "the three calls fail");
    VERDICT(n == 0, "nothing on stderr (got '%s')", buf);
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
    test_svtav1(argc > 2 ? argv[2] : NULL);
    test_output_names();
    test_av_log();
    return ts_test_finish("test_io_video");
}
