// Video and still images through FFmpeg's libraries: an encoder that writes
// frames as they arrive to a temporary file and renames it on commit, a
// decoder to RGB24, and PNG read/write.
#include "io/video.h"

#include <errno.h>
#include <pthread.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"

#define TS_VIDEO_MAX_DIM 16384

static const char * const hint_encoders = "see 'ffmpeg -encoders' for the encoder names this FFmpeg offers";

// libav's log: never printed as it comes (the README promises one error line and one hint). Its
// error lines are kept (the first since the last av_quiet, the cause) for the engine's error
// message to give the reason ("Invalid argument" alone does not); at the engine's debug level
// its errors and warnings also go out as debug lines.
static pthread_mutex_t av_log_mu = PTHREAD_MUTEX_INITIALIZER;  // encoder threads log too
static char av_last_error[256];                                 // "": none kept

static void av_route(void * avcl, int level, const char * fmt, va_list vl) {
    const int debug = ts_log_get_level() >= TS_LOG_DEBUG;
    if (level > AV_LOG_ERROR && !(debug && level <= AV_LOG_WARNING)) return;
    int prefix = 1;
    char line[256];
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
    line[strcspn(line, "\n")] = '\0';
    const char * msg = line;
    if (msg[0] == '[' && strstr(msg, "] ")) msg = strstr(msg, "] ") + 2;  // "[mjpeg @ 0x...] " off
    if (!msg[0]) return;
    if (level <= AV_LOG_ERROR) {
        pthread_mutex_lock(&av_log_mu);
        if (!av_last_error[0]) snprintf(av_last_error, sizeof av_last_error, "%s", msg);  // the first: the cause
        pthread_mutex_unlock(&av_log_mu);
    }
    if (debug) ts_log(TS_LOG_DEBUG, "libav: %s", line);
}

static void av_route_install(void) {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(av_route);
}

// Before each call into libav: its log routed (once), the kept error forgotten.
static void av_quiet(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, av_route_install);
    pthread_mutex_lock(&av_log_mu);
    av_last_error[0] = '\0';
    pthread_mutex_unlock(&av_log_mu);
}

static const char * av_errstr(int err, char * buf, size_t n) {
    if (av_strerror(err, buf, n) < 0) snprintf(buf, n, "error %d", err);
    return buf;
}

// The error line libav logged since av_quiet, into buf: 1, or 0 when none.
static int av_kept(char * buf, size_t n) {
    int kept = 0;
    pthread_mutex_lock(&av_log_mu);
    if (av_last_error[0]) kept = snprintf(buf, n, "%s", av_last_error) > 0;
    pthread_mutex_unlock(&av_log_mu);
    return kept;
}

// Why a libav call failed: the error line libav logged (since av_quiet), else err's text.
static const char * av_reason(int err, char * buf, size_t n) {
    return av_kept(buf, n) ? buf : av_errstr(err, buf, n);
}

static char * tmp_name(const char * path) {
    size_t n = strlen(path) + 5;
    char * t = ts_malloc(n);
    TS_ASSERT(ts_video_tmp_path(path, t, n) == 0);
    return t;
}

// ---- writer -------------------------------------------------------------------

struct ts_video_writer {
    AVFormatContext * oc;   // owned (with its AVIOContext)
    AVCodecContext * enc;   // owned
    AVStream * st;          // owned by oc
    struct SwsContext * sws;
    AVFrame * frame;        // (height, width) in the encoder's pixel format
    uint8_t * rgb;          // (height, width, 3) + padding, owned: swscale's SIMD reads up to
                            // 16 bytes past the last pixel, so the caller's frame is copied here
    AVPacket * pkt;
    int width, height;
    int64_t next_pts;       // in the encoder time base (1/fps): frame number
    int header_written;
    int failed;             // a write failed: committing is refused
    char * path;            // final name (owned)
    char * tmp;             // temporary name (owned)
};

// Frees an encoder, after sending it its end and taking (and dropping) every packet it still
// holds: SVT-AV1 (libsvtav1) otherwise waits forever in its deinit for an end it was never sent.
// SVT-AV1 also waits forever for the end of a stream of no frames: one that was sent none
// (frames_sent 0) is sent one black frame first.
static void encoder_free(AVCodecContext ** penc, int frames_sent) {
    AVCodecContext * enc = *penc;
    if (enc && avcodec_is_open(enc)) {
        AVPacket * pkt = av_packet_alloc();
        TS_ASSERT(pkt);
        if (!frames_sent) {
            AVFrame * f = av_frame_alloc();
            TS_ASSERT(f);
            f->format = enc->pix_fmt;
            f->width = enc->width;
            f->height = enc->height;
            f->color_range = enc->color_range;
            ptrdiff_t ls[4];
            if (av_frame_get_buffer(f, 0) < 0) TS_ASSERT(!"out of memory");
            for (int i = 0; i < 4; i++) ls[i] = f->linesize[i];
            av_image_fill_black(f->data, ls, enc->pix_fmt, enc->color_range, enc->width, enc->height);
            f->pts = 0;
            if (avcodec_send_frame(enc, f) == AVERROR(EAGAIN))  // full: take its packets, then once more
                while (avcodec_receive_packet(enc, pkt) >= 0) av_packet_unref(pkt);
            av_frame_free(&f);
        }
        avcodec_send_frame(enc, NULL);  // AVERROR_EOF when it had its end already: the loop ends at once
        while (avcodec_receive_packet(enc, pkt) >= 0) av_packet_unref(pkt);
        av_packet_free(&pkt);
    }
    avcodec_free_context(penc);
}

static void writer_free(ts_video_writer * vw, int remove_tmp) {
    if (!vw) return;
    if (vw->oc) {
        if (vw->oc->pb) avio_closep(&vw->oc->pb);
        avformat_free_context(vw->oc);
    }
    encoder_free(&vw->enc, vw->next_pts > 0);
    sws_freeContext(vw->sws);
    av_frame_free(&vw->frame);
    av_packet_free(&vw->pkt);
    free(vw->rgb);
    if (remove_tmp && vw->tmp) unlink(vw->tmp);
    free(vw->tmp);
    free(vw->path);
    free(vw);
}

// Sends frame (NULL: flush) and writes every packet the encoder returns.
static enum ts_status writer_encode(ts_video_writer * vw, AVFrame * frame) {
    char eb[256];
    int ret = avcodec_send_frame(vw->enc, frame);
    if (ret < 0)
        return ts_error(TS_ERR_IO, NULL, "video '%s': encoding failed: %s", vw->path, av_reason(ret, eb, sizeof eb));
    for (;;) {
        ret = avcodec_receive_packet(vw->enc, vw->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return TS_OK;
        if (ret < 0)
            return ts_error(TS_ERR_IO, NULL, "video '%s': encoding failed: %s", vw->path, av_reason(ret, eb, sizeof eb));
        // libx264 leaves duration 0, and the MP4 edit list then drops the last
        // frame: every frame lasts one tick of the 1/fps time base.
        if (vw->pkt->duration <= 0) vw->pkt->duration = 1;
        av_packet_rescale_ts(vw->pkt, vw->enc->time_base, vw->st->time_base);
        vw->pkt->stream_index = vw->st->index;
        ret = av_interleaved_write_frame(vw->oc, vw->pkt);  // unrefs pkt
        if (ret < 0)
            return ts_error(TS_ERR_IO, "is the disk full?", "cannot write video '%s': %s", vw->path,
                            av_reason(ret, eb, sizeof eb));
    }
}

// The container's own video encoder ("" when libavcodec has none), for a hint.
static const char * container_codec(const AVOutputFormat * ofmt) {
    const AVCodec * c = ofmt->video_codec != AV_CODEC_ID_NONE ? avcodec_find_encoder(ofmt->video_codec) : NULL;
    return c ? c->name : "";
}

static enum ts_status container_refuses(const AVOutputFormat * ofmt, const char * cname, const char * why) {
    char hint[160];
    const char * own = container_codec(ofmt);
    if (own[0] && strcmp(own, cname))
        snprintf(hint, sizeof hint, "choose another codec (this container's own is --codec %s) or container (.mp4, .mkv)", own);
    else
        snprintf(hint, sizeof hint, "choose another codec or container (.mp4, .mkv)");
    return ts_error(TS_ERR_ARG, hint, "the %s container cannot hold codec '%s'%s%s", ofmt->name, cname, why ? ": " : "",
                    why ? why : "");
}

enum ts_status ts_video_output_check(const char * path, const char * codec) {
    av_quiet();
    const char * cname = codec && codec[0] ? codec : "libx264";
    const AVOutputFormat * ofmt = av_guess_format(NULL, path, NULL);
    if (!ofmt)
        return ts_error(TS_ERR_ARG, "name the video with a container's extension, e.g. out.mp4 or out.mkv",
                        "cannot tell the container format of '%s' from its name", path);
    // muxers that open files of their own (image2: .png, .jpg, 'f%02d.png'; HLS, DASH): not one
    // file, so neither written under a temporary name nor removed when the run fails
    if (ofmt->flags & AVFMT_NOFILE) {
        const char * hint = "write a video, --out NAME.mp4 or NAME.mkv, or (generate) the frames, --out FILE.h5";
        if (!strcmp(ofmt->name, "image2"))
            return ts_error(TS_ERR_ARG, hint, "'%s' names an image (or a numbered sequence of images), not a video file",
                            path);
        return ts_error(TS_ERR_ARG, hint, "'%s' names an output of the %s muxer, which writes several files, not one video file",
                        path, ofmt->name);
    }
    const AVCodec * c = avcodec_find_encoder_by_name(cname);
    if (!c) return ts_error(TS_ERR_ARG, hint_encoders, "unknown video codec '%s'", cname);
    if (c->type != AVMEDIA_TYPE_VIDEO) return ts_error(TS_ERR_ARG, hint_encoders, "codec '%s' is not a video encoder", cname);
    // 0 only where the muxer says no at any compliance level (Matroska says 0 for PNG at the normal
    // level, and writes it all the same); "don't know" (negative) is tried by ts_video_encoder_check
    if (avformat_query_codec(ofmt, c->id, FF_COMPLIANCE_EXPERIMENTAL) == 0) return container_refuses(ofmt, cname, NULL);
    return TS_OK;
}

void ts_video_color_default(struct ts_video_color * c) {
    c->range = AVCOL_RANGE_MPEG;
    c->matrix = AVCOL_SPC_SMPTE170M;
    c->primaries = AVCOL_PRI_BT709;
    c->transfer = AVCOL_TRC_BT709;
}

// The YCbCr matrices swscale has (sws_getCoefficients takes H.273's numbers).
static int matrix_supported(int m) {
    return m == AVCOL_SPC_BT709 || m == AVCOL_SPC_FCC || m == AVCOL_SPC_BT470BG || m == AVCOL_SPC_SMPTE170M ||
           m == AVCOL_SPC_SMPTE240M || m == AVCOL_SPC_BT2020_NCL;
}

// FFmpeg's yuvj formats: full range whatever the tags say.
static int pix_fmt_full_range(int fmt) {
    return fmt == AV_PIX_FMT_YUVJ420P || fmt == AV_PIX_FMT_YUVJ422P || fmt == AV_PIX_FMT_YUVJ444P ||
           fmt == AV_PIX_FMT_YUVJ440P || fmt == AV_PIX_FMT_YUVJ411P;
}

// Encoders that would otherwise choose their threads from the machine: a fixed
// count and the settings that keep their output repeatable.
static enum ts_status writer_set_threads(AVCodecContext * enc, const char * cname) {
    char v[160];
    const char * key = NULL;
    if (!strcmp(cname, "libx264") || !strcmp(cname, "libx264rgb")) {
        // frame threads (sliced threads change the bitstream's slices), lookahead
        // threads fixed rather than derived, deterministic multithreading (x264's
        // default, said out loud)
        key = "x264-params";
        int n = snprintf(v, sizeof v, "threads=%d:lookahead-threads=1:sliced-threads=0:deterministic=1",
                         TS_VIDEO_ENCODER_THREADS);
#if defined(__x86_64__) || defined(__i386__)
        // x264's AVX-512 code (core 164) reads memory it never wrote: with
        // MB-tree on, a 64x64 video's bytes changed with what the heap held
        // (MALLOC_PERTURB_). Its AVX2 code does not; with these flags the CPU
        // has all the AVX2 level names.
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            __builtin_cpu_supports("bmi2"))
            snprintf(v + n, sizeof v - (size_t)n, ":asm=AVX2");
#endif
    } else if (!strcmp(cname, "libx265")) {
        key = "x265-params";  // x265 sizes its thread pool and frame threads by the cores it finds
        // and its own log (it prints to stderr, not through av_log) to errors only
        snprintf(v, sizeof v, "pools=%d:frame-threads=1:log-level=error", TS_VIDEO_ENCODER_THREADS);
    } else if (!strcmp(cname, "libsvtav1")) {
        // SVT-AV1 prints to stderr itself (not through av_log), its banner and settings and its
        // reasons for refusing: fatal lines only, unless SVT_LOG says otherwise (the error line's
        // hint says how to see its reasons)
        setenv("SVT_LOG", "0", 0);
    }
    if (key && (!enc->priv_data || av_opt_set(enc->priv_data, key, v, 0) < 0))
        return ts_error(TS_ERR_ARG, hint_encoders, "codec '%s': cannot set '%s=%s'", cname, key, v);
    return TS_OK;
}

// yuv420p when the encoder takes it, else its closest format to RGB24.
// An odd width or height (no 2x2 chroma blocks): yuv444p where the encoder takes it, else its first
// format without subsampled chroma.
static enum AVPixelFormat encoder_pix_fmt(const AVCodec * c, int width, int height) {
    enum AVPixelFormat pix = AV_PIX_FMT_YUV420P;
    if (c->pix_fmts && ((width | height) & 1)) {
        enum AVPixelFormat full = AV_PIX_FMT_NONE;
        for (const enum AVPixelFormat * p = c->pix_fmts; *p != AV_PIX_FMT_NONE; p++) {
            const AVPixFmtDescriptor * d = av_pix_fmt_desc_get(*p);
            if (*p == AV_PIX_FMT_YUV444P) return *p;
            if (full == AV_PIX_FMT_NONE && d && !d->log2_chroma_w && !d->log2_chroma_h && !(d->flags & AV_PIX_FMT_FLAG_PAL) &&
                !(d->flags & AV_PIX_FMT_FLAG_HWACCEL))
                full = *p;
        }
        if (full != AV_PIX_FMT_NONE) return full;
    }
    if (c->pix_fmts) {
        int has420 = 0;
        for (const enum AVPixelFormat * p = c->pix_fmts; *p != AV_PIX_FMT_NONE; p++) has420 |= *p == AV_PIX_FMT_YUV420P;
        if (!has420) pix = avcodec_find_best_pix_fmt_of_list(c->pix_fmts, AV_PIX_FMT_RGB24, 0, NULL);
    }
    return pix;
}

static enum ts_status encoder_pix_check(const char * path, const char * cname, int width, int height,
                                        const AVPixFmtDescriptor * desc) {
    if (!desc) return ts_error(TS_ERR_ARG, hint_encoders, "codec '%s' offers no usable pixel format", cname);
    if ((desc->log2_chroma_w && (width & 1)) || (desc->log2_chroma_h && (height & 1)))
        return ts_error(TS_ERR_ARG, "use an even width and height", "video '%s': %dx%d frames must have an even width and height for %s",
                        path, width, height, desc->name);
    return TS_OK;
}

// The encoder of a video: frame size, rate, pixel format, colours, threads and --crf set, opened
// (*out freed and NULL on an error).
static enum ts_status encoder_open(const AVCodec * c, const char * cname, int width, int height, double fps, int crf,
                                   enum AVPixelFormat pix, const struct ts_video_color * col, int global_header,
                                   AVCodecContext ** out) {
    char eb[256];
    const AVPixFmtDescriptor * desc = av_pix_fmt_desc_get(pix);
    AVCodecContext * enc = avcodec_alloc_context3(c);
    TS_ASSERT(enc);
    AVRational fr = av_d2q(fps, 100000);
    enc->width = width;
    enc->height = height;
    enc->pix_fmt = pix;
    enc->time_base = av_inv_q(fr);
    enc->framerate = fr;
    // a fixed thread count (never 0, "auto": x264 would follow the cores this
    // process may use, and its decisions its thread count)
    enc->thread_count = TS_VIDEO_ENCODER_THREADS;
    if (!(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
        enc->color_range = col->range;
        enc->colorspace = col->matrix;
    }
    enc->color_primaries = col->primaries;
    enc->color_trc = col->transfer;
    if (global_header) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    enum ts_status st = writer_set_threads(enc, cname);
    if (st == TS_OK && crf >= 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", crf);
        if (!enc->priv_data || av_opt_set(enc->priv_data, "crf", v, 0) < 0)
            st = ts_error(TS_ERR_ARG, "leave out --crf for this codec", "codec '%s' has no 'crf' option", cname);
    }
    int ret = 0;
    if (st == TS_OK) {
        ret = avcodec_open2(enc, c, NULL);
    }
    if (st == TS_OK && ret < 0) {
        char with_crf[24] = "";
        if (crf >= 0) snprintf(with_crf, sizeof with_crf, ", --crf %d", crf);
        const char * hint = hint_encoders;
        if (!strcmp(cname, "libsvtav1"))
            hint = "SVT-AV1 says why with SVT_LOG=1 in the environment; it takes frames of at least 64x64 (SVT-AV1 1.x)";
        st = ts_error(TS_ERR_ARG, hint, "cannot open video encoder '%s' (%dx%d, %s%s): %s", cname, width,
                      height, desc->name, with_crf, av_reason(ret, eb, sizeof eb));
    }
    if (st != TS_OK) avcodec_free_context(&enc);
    *out = enc;
    return st;
}

static enum ts_status writer_args_check(const char * path, int width, int height, double fps, const char * codec,
                                        int crf) {
    if (width < 1 || height < 1 || width > TS_VIDEO_MAX_DIM || height > TS_VIDEO_MAX_DIM)
        return ts_error(TS_ERR_ARG, NULL, "video '%s': bad frame size %dx%d", path, width, height);
    if (!(fps > 0 && fps <= 1000 && isfinite(fps)))
        return ts_error(TS_ERR_ARG, "--fps takes a rate in frames per second, e.g. 24 or 29.97", "bad frame rate %g", fps);
    if (crf > 63) return ts_error(TS_ERR_ARG, "x264's CRF runs from 0 (lossless) to 51; 23 is its default", "bad --crf %d", crf);
    // x264 (the default) takes any CRF and clamps it to 51: 52-63 would silently give the 51 file
    const int x264 = !codec || !strcmp(codec, "libx264") || !strcmp(codec, "libx264rgb");
    if (x264 && crf > 51)
        return ts_error(TS_ERR_ARG, "x264's CRF runs from 0 (lossless) to 51; 23 is its default",
                        "--crf %d is beyond x264's 51 (it would give the --crf 51 video)", crf);
    // x265 3.5 corrupts its heap closing some small videos (40x18, 36x24 and 48x30 of 12 frames, with
    // ffmpeg's own command line too); 64x64 and up were fine
    if (codec && !strcmp(codec, "libx265") && (width < 64 || height < 64))
        return ts_error(TS_ERR_ARG, "use libx264 (the default) or ffv1 for frames this small",
                        "video '%s': libx265 needs at least 64x64 frames here; these are %dx%d", path, width, height);
    return ts_video_output_check(path, codec);
}

// A seekable sink that keeps nothing (MP4 refuses an output it cannot seek): its position and size.
struct null_sink {
    int64_t pos, size;
};
#if LIBAVFORMAT_VERSION_MAJOR < 61  // the write callback's buffer became const in libavformat 61
static int null_sink_write(void * ud, uint8_t * buf, int n) {
#else
static int null_sink_write(void * ud, const uint8_t * buf, int n) {
#endif
    (void)buf;
    struct null_sink * z = ud;
    z->pos += n;
    if (z->pos > z->size) z->size = z->pos;
    return n;
}
static int64_t null_sink_seek(void * ud, int64_t off, int whence) {
    struct null_sink * z = ud;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return z->size;
    case SEEK_SET: z->pos = off; break;
    case SEEK_CUR: z->pos += off; break;
    case SEEK_END: z->pos = z->size + off; break;
    default: return AVERROR(EINVAL);
    }
    return z->pos < 0 ? AVERROR(EINVAL) : z->pos;
}

// The container's header written, to nowhere, for this encoder's stream: what the muxer refuses
// (a codec it cannot hold, GIF's "only a single video GIF stream") fails before any work.
static enum ts_status muxer_check(const AVOutputFormat * ofmt, const AVCodecContext * enc, const char * cname) {
    struct null_sink z = {0, 0};
    const int bufsize = 4096;
    uint8_t * buf = av_malloc(bufsize);
    AVFormatContext * oc = NULL;
    TS_ASSERT(buf);
    if (avformat_alloc_output_context2(&oc, ofmt, NULL, NULL) < 0 || !oc) TS_ASSERT(!"out of memory");
    oc->flags |= AVFMT_FLAG_BITEXACT;
    oc->pb = avio_alloc_context(buf, bufsize, 1, &z, NULL, null_sink_write, null_sink_seek);
    AVStream * s = avformat_new_stream(oc, NULL);
    TS_ASSERT(oc->pb && s);
    if (avcodec_parameters_from_context(s->codecpar, enc) < 0) TS_ASSERT(!"out of memory");
    s->time_base = enc->time_base;
    s->avg_frame_rate = enc->framerate;
    char eb[256];
    int ret = avformat_write_header(oc, NULL);
    enum ts_status st = ret < 0 ? container_refuses(ofmt, cname, av_reason(ret, eb, sizeof eb)) : TS_OK;
    av_freep(&oc->pb->buffer);
    avio_context_free(&oc->pb);
    avformat_free_context(oc);
    return st;
}

enum ts_status ts_video_encoder_check(const char * path, int width, int height, double fps, const char * codec,
                                      int crf) {
    av_quiet();
    TS_TRY(writer_args_check(path, width, height, fps, codec, crf));
    const char * cname = codec && codec[0] ? codec : "libx264";
    const AVCodec * c = avcodec_find_encoder_by_name(cname);
    enum AVPixelFormat pix = encoder_pix_fmt(c, width, height);
    TS_TRY(encoder_pix_check(path, cname, width, height, av_pix_fmt_desc_get(pix)));
    struct ts_video_color col;
    ts_video_color_default(&col);
    if (pix_fmt_full_range(pix)) col.range = AVCOL_RANGE_JPEG;
    const AVOutputFormat * ofmt = av_guess_format(NULL, path, NULL);
    AVCodecContext * enc = NULL;
    TS_TRY(encoder_open(c, cname, width, height, fps, crf, pix, &col, ofmt->flags & AVFMT_GLOBALHEADER, &enc));
    enum ts_status st = muxer_check(ofmt, enc, cname);
    encoder_free(&enc, 0);
    return st;
}

enum ts_status ts_video_writer_open(const char * path, int width, int height, double fps, const char * codec, int crf,
                                    ts_video_writer ** out) {
    return ts_video_writer_open_color(path, width, height, fps, codec, crf, NULL, out);
}

enum ts_status ts_video_writer_open_color(const char * path, int width, int height, double fps, const char * codec,
                                          int crf, const struct ts_video_color * color, ts_video_writer ** out) {
    TS_ASSERT(path && out);
    *out = NULL;
    av_quiet();
    char eb[256];
    const char * cname = codec && codec[0] ? codec : "libx264";
    TS_TRY(writer_args_check(path, width, height, fps, codec, crf));
    const AVOutputFormat * ofmt = av_guess_format(NULL, path, NULL);
    const AVCodec * c = avcodec_find_encoder_by_name(cname);
    enum AVPixelFormat pix = encoder_pix_fmt(c, width, height);
    const AVPixFmtDescriptor * desc = av_pix_fmt_desc_get(pix);
    TS_TRY(encoder_pix_check(path, cname, width, height, desc));

    // the colours: what was asked, the default where it says nothing
    struct ts_video_color col;
    ts_video_color_default(&col);
    if (color) {
        if (color->range == AVCOL_RANGE_MPEG || color->range == AVCOL_RANGE_JPEG) col.range = color->range;
        if (matrix_supported(color->matrix)) col.matrix = color->matrix;
        if (color->primaries != AVCOL_PRI_UNSPECIFIED && av_color_primaries_name(color->primaries))
            col.primaries = color->primaries;
        if (color->transfer != AVCOL_TRC_UNSPECIFIED && av_color_transfer_name(color->transfer))
            col.transfer = color->transfer;
    }
    if (pix_fmt_full_range(pix)) col.range = AVCOL_RANGE_JPEG;

    ts_video_writer * vw = ts_calloc(1, sizeof *vw);
    vw->path = ts_malloc(strlen(path) + 1);
    memcpy(vw->path, path, strlen(path) + 1);
    vw->tmp = tmp_name(path);
    vw->width = width;
    vw->height = height;
    enum ts_status st = TS_OK;
    int ret;
    AVDictionary * opts = NULL;

    // the muxer is chosen from the final name; it writes (and, for faststart,
    // re-reads) the temporary one
    if (avformat_alloc_output_context2(&vw->oc, ofmt, NULL, vw->tmp) < 0 || !vw->oc) TS_ASSERT(!"out of memory");
    // no random or version-dependent fields in the container (Matroska wrote a
    // random segment UID: the same frames gave other bytes at each run)
    vw->oc->flags |= AVFMT_FLAG_BITEXACT;
    vw->st = avformat_new_stream(vw->oc, NULL);
    vw->frame = av_frame_alloc();
    vw->pkt = av_packet_alloc();
    TS_ASSERT(vw->st && vw->frame && vw->pkt);

    AVRational fr = av_d2q(fps, 100000);
    const int is_yuv = !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3;
    if ((st = encoder_open(c, cname, width, height, fps, crf, pix, &col, vw->oc->oformat->flags & AVFMT_GLOBALHEADER,
                           &vw->enc)) != TS_OK)
        goto fail;
    if ((st = muxer_check(ofmt, vw->enc, cname)) != TS_OK) goto fail;  // before the file is made
    if (avcodec_parameters_from_context(vw->st->codecpar, vw->enc) < 0) TS_ASSERT(!"out of memory");
    vw->st->time_base = vw->enc->time_base;
    vw->st->avg_frame_rate = fr;

    if ((ret = avio_open(&vw->oc->pb, vw->tmp, AVIO_FLAG_WRITE)) < 0) {
        st = ts_error(TS_ERR_IO, "check that the output directory exists and is writable", "cannot create video file '%s': %s",
                      vw->path, av_reason(ret, eb, sizeof eb));
        goto fail;
    }
    av_dict_set(&opts, "movflags", "+faststart", 0);
    ret = avformat_write_header(vw->oc, &opts);
    av_dict_free(&opts);
    if (ret < 0) {
        st = ts_error(TS_ERR_IO, NULL, "cannot write video header to '%s': %s", vw->path, av_reason(ret, eb, sizeof eb));
        goto fail;
    }
    vw->header_written = 1;

    vw->frame->format = pix;
    vw->frame->width = width;
    vw->frame->height = height;
    if (av_frame_get_buffer(vw->frame, 0) < 0) TS_ASSERT(!"out of memory");
    // chroma averaged over each 2x2 block (area): a frame the reader made
    // (chroma repeated over its block) gets its own chroma samples back
    vw->rgb = ts_calloc((size_t)width * height * 3 + AV_INPUT_BUFFER_PADDING_SIZE, 1);
    vw->sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, pix, SWS_AREA | SWS_ACCURATE_RND, NULL,
                             NULL, NULL);
    if (!vw->sws) {
        st = ts_error(TS_ERR_ARG, NULL, "swscale cannot convert RGB24 to %s", desc->name);
        goto fail;
    }
    if (is_yuv) {  // RGB (full range by nature) to the tagged matrix and range
        const int * m = sws_getCoefficients(col.matrix);
        sws_setColorspaceDetails(vw->sws, m, 1, m, col.range == AVCOL_RANGE_JPEG, 0, 1 << 16, 1 << 16);
    }
    *out = vw;
    return TS_OK;
fail:
    writer_free(vw, 1);
    return st;
}

enum ts_status ts_video_writer_add(ts_video_writer * vw, const uint8_t * rgb) {
    TS_ASSERT(vw && rgb);
    av_quiet();
    if (vw->failed) return ts_error(TS_ERR_IO, NULL, "video '%s': writing failed earlier", vw->path);
    char eb[256];
    int ret = av_frame_make_writable(vw->frame);
    if (ret < 0) {
        vw->failed = 1;
        return ts_error(TS_ERR_IO, NULL, "video '%s': %s", vw->path, av_reason(ret, eb, sizeof eb));
    }
    memcpy(vw->rgb, rgb, (size_t)vw->width * vw->height * 3);
    const uint8_t * src[4] = {vw->rgb, NULL, NULL, NULL};
    const int stride[4] = {3 * vw->width, 0, 0, 0};
    sws_scale(vw->sws, src, stride, 0, vw->height, vw->frame->data, vw->frame->linesize);
    vw->frame->pts = vw->next_pts++;
    enum ts_status st = writer_encode(vw, vw->frame);
    if (st != TS_OK) vw->failed = 1;
    return st;
}

enum ts_status ts_video_writer_close(ts_video_writer ** pvw, int commit) {
    if (!pvw || !*pvw) return TS_OK;
    av_quiet();
    ts_video_writer * vw = *pvw;
    *pvw = NULL;
    enum ts_status st = TS_OK;
    if (commit) {
        char eb[256];
        int ret;
        if (vw->failed || !vw->header_written) st = ts_error(TS_ERR_IO, NULL, "video '%s': writing failed earlier", vw->path);
        if (st == TS_OK) st = writer_encode(vw, NULL);
        if (st == TS_OK && (ret = av_write_trailer(vw->oc)) < 0)
            st = ts_error(TS_ERR_IO, "is the disk full?", "cannot finish video '%s': %s", vw->path, av_reason(ret, eb, sizeof eb));
        if (st == TS_OK && (ret = avio_closep(&vw->oc->pb)) < 0)
            st = ts_error(TS_ERR_IO, "is the disk full?", "cannot finish video '%s': %s", vw->path, av_reason(ret, eb, sizeof eb));
        if (st == TS_OK && rename(vw->tmp, vw->path) != 0)
            st = ts_error(TS_ERR_IO, NULL, "cannot put video '%s' in place (from its temporary '%s'): %s", vw->path,
                          vw->tmp, strerror(errno));
    }
    writer_free(vw, !commit || st != TS_OK);
    return st;
}

// ---- reader ---------------------------------------------------------------------

struct ts_video_reader {
    AVFormatContext * ic;     // owned
    AVCodecContext * dec;     // owned
    struct SwsContext * sws;  // owned; made for the first frame's format
    AVFrame * frame;
    AVPacket * pkt;
    int stream;
    int width, height;        // output size (the stream's coded size)
    int flushed;              // the decoder has been sent its end
    char * path;              // owned
    double t_prev;            // the last frame's time, s (NAN: none yet)
    double gap_min, gap_max;  // between successive frames' times, s (0: fewer than two timed frames)
    int64_t gaps;             // how many such gaps were seen
    int check_alpha;          // set by ts_image_read: look at the alpha channel of frames that have one
    int translucent;          // a frame had a pixel with alpha below opaque (only with check_alpha)
};

void ts_video_reader_close(ts_video_reader ** pvr) {
    if (!pvr || !*pvr) return;
    ts_video_reader * vr = *pvr;
    avformat_close_input(&vr->ic);
    avcodec_free_context(&vr->dec);
    sws_freeContext(vr->sws);
    av_frame_free(&vr->frame);
    av_packet_free(&vr->pkt);
    free(vr->path);
    free(vr);
    *pvr = NULL;
}

static enum ts_status reader_open(const char * path, int still, ts_video_reader ** out, int * width, int * height,
                                  double * fps) {
    TS_ASSERT(path && out);
    *out = NULL;
    av_quiet();
    char eb[256];
    if (access(path, R_OK) != 0)
        return ts_error(TS_ERR_IO, NULL, "cannot open %s '%s': %s", still ? "image" : "video", path, strerror(errno));
    ts_video_reader * vr = ts_calloc(1, sizeof *vr);
    vr->t_prev = NAN;
    vr->path = ts_malloc(strlen(path) + 1);
    memcpy(vr->path, path, strlen(path) + 1);
    enum ts_status st = TS_OK;
    AVDictionary * opts = NULL;
    if (still) av_dict_set(&opts, "pattern_type", "none", 0);  // image2: the name is a file, not a pattern
    int ret = avformat_open_input(&vr->ic, path, NULL, &opts);
    av_dict_free(&opts);
    if (ret < 0) {
        st = ts_error(ret == AVERROR(ENOENT) || ret == AVERROR(EACCES) ? TS_ERR_IO : TS_ERR_FORMAT, NULL,
                      "cannot read %s '%s': %s", still ? "image" : "video", path, av_reason(ret, eb, sizeof eb));
        goto fail;
    }
    if ((ret = avformat_find_stream_info(vr->ic, NULL)) < 0) {
        st = ts_error(TS_ERR_FORMAT, NULL, "cannot read '%s': %s", path, av_reason(ret, eb, sizeof eb));
        goto fail;
    }
    const AVCodec * c = NULL;
    vr->stream = av_find_best_stream(vr->ic, AVMEDIA_TYPE_VIDEO, -1, -1, &c, 0);
    if (vr->stream < 0 || !c) {
        st = ts_error(TS_ERR_FORMAT, NULL, "'%s' has no %s", path,
                      vr->stream == AVERROR_DECODER_NOT_FOUND ? "video stream this FFmpeg can decode" : "video stream");
        goto fail;
    }
    AVStream * s = vr->ic->streams[vr->stream];
    vr->dec = avcodec_alloc_context3(c);
    vr->frame = av_frame_alloc();
    vr->pkt = av_packet_alloc();
    TS_ASSERT(vr->dec && vr->frame && vr->pkt);
    if (avcodec_parameters_to_context(vr->dec, s->codecpar) < 0 || (ret = avcodec_open2(vr->dec, c, NULL)) < 0) {
        st = ts_error(TS_ERR_FORMAT, NULL, "cannot open the %s decoder for '%s'", c->name, path);
        goto fail;
    }
    vr->width = vr->dec->width;
    vr->height = vr->dec->height;
    if (vr->width < 1 || vr->height < 1) {
        int kept = av_kept(eb, sizeof eb);
        st = ts_error(TS_ERR_FORMAT, NULL, "cannot read '%s': no decodable frame size (corrupt file?)%s%s", path,
                      kept ? ": " : "", kept ? eb : "");
        goto fail;
    }
    if (width) *width = vr->width;
    if (height) *height = vr->height;
    if (fps) {
        AVRational r = s->avg_frame_rate.num > 0 && s->avg_frame_rate.den > 0 ? s->avg_frame_rate : s->r_frame_rate;
        *fps = r.num > 0 && r.den > 0 ? av_q2d(r) : 0.0;
    }
    *out = vr;
    return TS_OK;
fail:
    ts_video_reader_close(&vr);
    return st;
}

enum ts_status ts_video_reader_open(const char * path, ts_video_reader ** out, int * width, int * height, double * fps) {
    return reader_open(path, 0, out, width, height, fps);
}

// 1 when frame f has an alpha channel with a value below opaque (read as RGBA, so every
// format with alpha counts alike: RGBA, gray + alpha, a palette with transparency, ...).
static int frame_translucent(const AVFrame * f) {
    const AVPixFmtDescriptor * d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    if (!d || !(d->flags & AV_PIX_FMT_FLAG_ALPHA)) return 0;
    struct SwsContext * c = sws_getContext(f->width, f->height, (enum AVPixelFormat)f->format, f->width, f->height,
                                           AV_PIX_FMT_RGBA, SWS_POINT, NULL, NULL, NULL);
    if (!c) return 0;
    uint8_t * buf = ts_malloc((size_t)f->width * f->height * 4);
    uint8_t * dst[4] = {buf, NULL, NULL, NULL};
    int stride[4] = {4 * f->width, 0, 0, 0};
    sws_scale(c, (const uint8_t * const *)f->data, f->linesize, 0, f->height, dst, stride);
    int any = 0;
    for (size_t i = 0, n = (size_t)f->width * f->height; i < n && !any; i++) any = buf[4 * i + 3] != 255;
    free(buf);
    sws_freeContext(c);
    return any;
}

// The decoded frame as RGB24 (vr->height, vr->width, 3); an alpha channel is dropped
// (vr->translucent says whether it held anything but opaque, when vr->check_alpha).
static enum ts_status reader_convert(ts_video_reader * vr, uint8_t * rgb) {
    AVFrame * f = vr->frame;
    const int W = vr->width, H = vr->height;
    if (vr->check_alpha && frame_translucent(f)) vr->translucent = 1;
    if (f->format == AV_PIX_FMT_RGB24 && f->width == W && f->height == H) {  // exact copy (PNG)
        for (int y = 0; y < H; y++) memcpy(rgb + (size_t)y * W * 3, f->data[0] + (size_t)y * f->linesize[0], (size_t)W * 3);
        return TS_OK;
    }
    // swscale's exact path (accurate rounding, chroma repeated over its block
    // as FFmpeg's own conversion does): the inverse of the writer's, so a frame
    // read and written again gets its YCbCr samples back and decodes as the
    // input did. (FFmpeg's default fast path is off by up to 2 levels, which
    // a second trip doubles; SWS_ACCURATE_RND alone darkens: grey 100 -> 98.)
    vr->sws = sws_getCachedContext(vr->sws, f->width, f->height, (enum AVPixelFormat)f->format, W, H, AV_PIX_FMT_RGB24,
                                   SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_FULL_CHR_H_INP, NULL,
                                   NULL, NULL);
    if (!vr->sws)
        return ts_error(TS_ERR_FORMAT, NULL, "'%s': cannot convert %s frames to RGB", vr->path,
                        av_get_pix_fmt_name((enum AVPixelFormat)f->format));
    const AVPixFmtDescriptor * d = av_pix_fmt_desc_get((enum AVPixelFormat)f->format);
    if (d && !(d->flags & AV_PIX_FMT_FLAG_RGB)) {
        // as FFmpeg's scale filter does: the frame's range (untagged: limited,
        // except the yuvj formats) and matrix (untagged or one swscale lacks: BT.601)
        int full = f->color_range == AVCOL_RANGE_UNSPECIFIED ? pix_fmt_full_range(f->format)
                                                             : f->color_range == AVCOL_RANGE_JPEG;
        int cs = f->colorspace;
        if (cs < 1 || cs > 10 || cs == AVCOL_SPC_YCGCO) cs = AVCOL_SPC_BT470BG;
        const int * m = sws_getCoefficients(cs);
        int *inv, *tab, src_full, dst_full, bri, con, sat;
        sws_getColorspaceDetails(vr->sws, &inv, &src_full, &tab, &dst_full, &bri, &con, &sat);
        sws_setColorspaceDetails(vr->sws, m, full, m, dst_full, bri, con, sat);
    }
    uint8_t * dst[4] = {rgb, NULL, NULL, NULL};
    int stride[4] = {3 * W, 0, 0, 0};
    sws_scale(vr->sws, (const uint8_t * const *)f->data, f->linesize, 0, f->height, dst, stride);
    return TS_OK;
}

void ts_video_reader_gaps(const ts_video_reader * vr, double * gap_min, double * gap_max) {
    *gap_min = vr->gap_min, *gap_max = vr->gap_max;
}

void ts_video_reader_color(const ts_video_reader * vr, struct ts_video_color * c) {
    TS_ASSERT(vr && c);
    const AVCodecParameters * p = vr->ic->streams[vr->stream]->codecpar;
    c->range = p->color_range;
    if (c->range == AVCOL_RANGE_UNSPECIFIED && pix_fmt_full_range(p->format)) c->range = AVCOL_RANGE_JPEG;
    c->matrix = p->color_space;
    c->primaries = p->color_primaries;
    c->transfer = p->color_trc;
}

enum ts_status ts_video_reader_next(ts_video_reader * vr, uint8_t * rgb, int * got) {
    TS_ASSERT(vr && rgb && got);
    av_quiet();
    *got = 0;
    char eb[256];
    for (;;) {
        int ret = avcodec_receive_frame(vr->dec, vr->frame);
        if (ret == 0) {
            if (vr->frame->best_effort_timestamp != AV_NOPTS_VALUE) {
                double t = (double)vr->frame->best_effort_timestamp * av_q2d(vr->ic->streams[vr->stream]->time_base);
                if (!isnan(vr->t_prev)) {
                    double d = t - vr->t_prev;
                    if (vr->gaps == 0 || d < vr->gap_min) vr->gap_min = d;
                    if (vr->gaps++ == 0 || d > vr->gap_max) vr->gap_max = d;
                }
                vr->t_prev = t;
            }
            enum ts_status st = reader_convert(vr, rgb);
            av_frame_unref(vr->frame);
            if (st == TS_OK) *got = 1;
            return st;
        }
        if (ret == AVERROR_EOF) return TS_OK;
        if (ret != AVERROR(EAGAIN))
            return ts_error(TS_ERR_FORMAT, NULL, "cannot decode '%s': %s", vr->path, av_reason(ret, eb, sizeof eb));
        if (vr->flushed) return TS_OK;
        ret = av_read_frame(vr->ic, vr->pkt);
        if (ret == AVERROR_EOF) {
            avcodec_send_packet(vr->dec, NULL);
            vr->flushed = 1;
            continue;
        }
        if (ret < 0) return ts_error(TS_ERR_FORMAT, NULL, "cannot read '%s': %s", vr->path, av_reason(ret, eb, sizeof eb));
        if (vr->pkt->stream_index == vr->stream) ret = avcodec_send_packet(vr->dec, vr->pkt);
        av_packet_unref(vr->pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN))
            return ts_error(TS_ERR_FORMAT, "the file may be truncated or damaged", "cannot decode '%s': %s", vr->path,
                            av_reason(ret, eb, sizeof eb));
    }
}

// ---- still images ------------------------------------------------------------------

enum ts_status ts_image_read(const char * path, uint8_t ** rgb, int * width, int * height, int * translucent) {
    TS_ASSERT(path && rgb && width && height);
    *rgb = NULL;
    if (translucent) *translucent = 0;
    ts_video_reader * vr = NULL;
    int w, h, got = 0;
    TS_TRY(reader_open(path, 1, &vr, &w, &h, NULL));
    vr->check_alpha = translucent != NULL;
    uint8_t * buf = ts_malloc((size_t)w * h * 3);
    enum ts_status st = ts_video_reader_next(vr, buf, &got);
    if (st == TS_OK && !got) st = ts_error(TS_ERR_FORMAT, NULL, "image '%s' holds no picture", path);
    if (translucent) *translucent = vr->translucent;
    ts_video_reader_close(&vr);
    if (st != TS_OK) {
        free(buf);
        return st;
    }
    *rgb = buf;
    *width = w;
    *height = h;
    return TS_OK;
}

enum ts_status ts_image_write_png(const char * path, const uint8_t * rgb, int width, int height) {
    TS_ASSERT(path && rgb);
    av_quiet();
    if (width < 1 || height < 1 || width > TS_VIDEO_MAX_DIM || height > TS_VIDEO_MAX_DIM)
        return ts_error(TS_ERR_ARG, NULL, "image '%s': bad size %dx%d", path, width, height);
    const AVCodec * c = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (!c) return ts_error(TS_ERR_ARG, NULL, "this FFmpeg has no PNG encoder");
    char eb[256];
    enum ts_status st = TS_OK;
    AVCodecContext * enc = avcodec_alloc_context3(c);
    AVFrame * frame = av_frame_alloc();
    AVPacket * pkt = av_packet_alloc();
    TS_ASSERT(enc && frame && pkt);
    enc->width = width;
    enc->height = height;
    enc->pix_fmt = AV_PIX_FMT_RGB24;
    enc->time_base = (AVRational){1, 1};
    int ret = avcodec_open2(enc, c, NULL);
    if (ret < 0) {
        st = ts_error(TS_ERR_ARG, NULL, "cannot open the PNG encoder: %s", av_reason(ret, eb, sizeof eb));
        goto done;
    }
    frame->format = AV_PIX_FMT_RGB24;
    frame->width = width;
    frame->height = height;
    if (av_frame_get_buffer(frame, 0) < 0) TS_ASSERT(!"out of memory");
    for (int y = 0; y < height; y++)
        memcpy(frame->data[0] + (size_t)y * frame->linesize[0], rgb + (size_t)y * width * 3, (size_t)width * 3);
    frame->pts = 0;
    if ((ret = avcodec_send_frame(enc, frame)) < 0 || (ret = avcodec_send_frame(enc, NULL)) < 0 ||
        (ret = avcodec_receive_packet(enc, pkt)) < 0) {
        st = ts_error(TS_ERR_IO, NULL, "PNG encoding of '%s' failed: %s", path, av_reason(ret, eb, sizeof eb));
        goto done;
    }
    char * tmp = tmp_name(path);
    FILE * f = fopen(tmp, "wb");
    if (!f) {
        st = ts_error(TS_ERR_IO, "check that the output directory exists and is writable", "cannot create image '%s': %s",
                      path, strerror(errno));
    } else {
        int ok = fwrite(pkt->data, 1, (size_t)pkt->size, f) == (size_t)pkt->size;
        ok &= fclose(f) == 0;
        if (!ok) st = ts_error(TS_ERR_IO, "is the disk full?", "cannot write image '%s'", path);
        else if (rename(tmp, path) != 0)
            st = ts_error(TS_ERR_IO, NULL, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        if (st != TS_OK) unlink(tmp);
    }
    free(tmp);
done:
    av_packet_free(&pkt);
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    return st;
}
