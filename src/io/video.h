// Video and image files through FFmpeg's libraries: an MP4 writer that encodes
// frames as they arrive (bounded memory), a video reader, a still-image reader.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>  // snprintf

#include "timeshard/timeshard.h"

typedef struct ts_video_writer ts_video_writer;

// How a video's samples map to colours, as the codec tags them: the code
// points of ITU-T H.273 (the values of FFmpeg's AVColorRange, AVColorSpace,
// AVColorPrimaries, AVColorTransferCharacteristic), 0 range / 2 elsewhere when
// the file does not say. Untagged YUV is what FFmpeg decodes it as: limited
// range, BT.601 matrix, at any frame size.
struct ts_video_color {
    int range;      // 1 limited (tv), 2 full (pc), 0 unspecified
    int matrix;     // 1 BT.709, 5/6 BT.601, 9 BT.2020, 2 unspecified, ...
    int primaries;  // 1 BT.709, 6 SMPTE 170M, 9 BT.2020, 2 unspecified, ...
    int transfer;   // 1 BT.709, 13 sRGB, 2 unspecified, ...
};
// What the writer uses when nothing else is asked: limited range, BT.601
// matrix (SMPTE 170M), BT.709 primaries and transfer, all tagged.
void ts_video_color_default(struct ts_video_color * c);

// The encoder's threads: a fixed count, whatever the machine, the CPU
// affinity or the rank count, so the same frames give the same bytes.
#define TS_VIDEO_ENCODER_THREADS 4

// The container (from the name) and the codec (NULL: libx264) can make this
// video: checked before any work, so a bad name fails at once. Names whose muxer
// writes files of its own (image2: .png, .jpg, 'f%02d.png'; HLS, DASH) are
// refused; a codec only where libavformat says the container never holds it.
// No file is made.
enum ts_status ts_video_output_check(const char * path, const char * codec);
// That check, and the encoder opened with these frames, rate and --crf (< 0: the
// codec's default), as ts_video_writer_open would open it, the container's header
// written for it to nowhere, then the encoder flushed and freed: settings the
// encoder or the muxer refuses (GIF takes GIF only) fail before any work. No file is made.
enum ts_status ts_video_encoder_check(const char * path, int width, int height, double fps, const char * codec,
                                      int crf);

// Opens an encoder writing to a temporary name beside `path`; the file
// appears under `path` only when ts_video_writer_close(.., commit=1)
// succeeds. codec: an encoder name libavcodec knows ("libx264" default when
// NULL); crf < 0 means the codec's default. MP4: yuv420p, movflags=faststart.
// Width and height must be even for yuv420p (error otherwise). Colours as
// ts_video_color_default; TS_VIDEO_ENCODER_THREADS threads, deterministic
// settings (the bytes depend only on the frames and these arguments).
enum ts_status ts_video_writer_open(const char * path, int width, int height, double fps, const char * codec, int crf,
                                    ts_video_writer ** out);
// The same with the colours to convert to and tag (NULL: the default). An
// unspecified field takes the default's value; a matrix swscale cannot make
// becomes BT.601. The RGB given is converted with that range and matrix.
enum ts_status ts_video_writer_open_color(const char * path, int width, int height, double fps, const char * codec,
                                          int crf, const struct ts_video_color * color, ts_video_writer ** out);
// The temporary name ts_video_writer_open writes to for `path` ("<path>.tmp"),
// into buf (cap bytes). Returns 0, or -1 when it does not fit. For cleanups that
// must run in a signal handler: keep the name in a static buffer, then unlink it.
static inline int ts_video_tmp_path(const char * path, char * buf, size_t cap) {
    int n = snprintf(buf, cap, "%s.tmp", path);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

// One frame, RGB24 (height, width, 3), row stride width*3. Frames must come in order.
enum ts_status ts_video_writer_add(ts_video_writer * vw, const uint8_t * rgb);
// commit=1: flush, write the trailer, rename to the final name.
// commit=0: abandon, delete the temporary file. Frees and NULLs *vw.
enum ts_status ts_video_writer_close(ts_video_writer ** vw, int commit);

typedef struct ts_video_reader ts_video_reader;
enum ts_status ts_video_reader_open(const char * path, ts_video_reader ** out, int * width, int * height, double * fps);
// The stream's colour tags (range full also for FFmpeg's yuvj formats).
void ts_video_reader_color(const ts_video_reader * vr, struct ts_video_color * c);
// The shortest and the longest time between successive frames read so far, seconds, from their
// timestamps (0 and 0: fewer than two frames with one). Unequal: a variable frame rate.
void ts_video_reader_gaps(const ts_video_reader * vr, double * gap_min, double * gap_max);
// Next frame as RGB24 into rgb (height*width*3), converted as FFmpeg converts
// it: by the frame's range and matrix (untagged: limited, BT.601). *got = 0 at the end.
enum ts_status ts_video_reader_next(ts_video_reader * vr, uint8_t * rgb, int * got);
void ts_video_reader_close(ts_video_reader ** vr);

// Reads a still image (PNG, JPEG, ... anything libavformat's image2 reads) as
// RGB24; *rgb is malloc'd (caller frees). An alpha channel is dropped: the colours
// stored under transparent pixels are kept, as PIL's convert("RGB") does. *translucent
// (may be NULL) is 1 when the image had an alpha value below opaque.
enum ts_status ts_image_read(const char * path, uint8_t ** rgb, int * width, int * height, int * translucent);
// Writes RGB24 as PNG (for tests and contact sheets).
enum ts_status ts_image_write_png(const char * path, const uint8_t * rgb, int width, int height);
