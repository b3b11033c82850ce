// timeshard interpolate: raises a video's frame rate with the motion-compensated
// interpolator, streaming (two input frames and one output frame in memory).
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "interp/interp.h"  // ts_interp_stream, ts_interp_timing_from_fps
#include "io/video.h"       // ts_video_reader, ts_video_writer

static void usage(FILE * f) {
    fprintf(f,
            "usage: timeshard interpolate IN --fps-out F [options]\n"
            "\n"
            "Raises the frame rate of a video (any format libavcodec reads) with motion-compensated\n"
            "interpolation: dense optical flow between neighbouring frames, warping from both sides\n"
            "with occlusion weights, blending. Output frame j is at input time j / F; the video\n"
            "ends at the last output time within the input, floor((N-1) * F/F0) + 1 frames for N\n"
            "input frames at F0: the last input frame when F/F0 is whole, up to 1/F before it when\n"
            "not. The input's frames are taken as 1/F0 apart (a warning when their times differ).\n"
            "\n"
            "  -r, --fps-out F      output frame rate, above the input's (required)\n"
            "      --fps-in F       the input's frame rate (default: from the file)\n"
            "  -o, --out FILE.mp4   output video (default: out.mp4)\n"
            "      --codec NAME     libavcodec encoder (default: libx264)\n"
            "      --crf Q          constant rate factor (default: the codec's, 23 for x264)\n"
            "  -t, --threads N      OpenMP threads (default, or 0: all cores)\n"
            "  -q, --quiet          no summary line\n"
            "  -h, --help           this help\n");
}

static enum ts_status parse_num(const char * flag, const char * v, double lo, double hi, double * out) {
    char * end = NULL;
    double x = strtod(v, &end);
    if (!v[0] || *end || !(x >= lo && x <= hi))
        return ts_error(TS_ERR_ARG, "see 'timeshard interpolate --help'", "%s expects a number in [%g, %g], got '%s'",
                        flag, lo, hi, v);
    *out = x;
    return TS_OK;
}

struct reader_src {
    ts_video_reader * vr;
};

static enum ts_status read_key(void * ud, int64_t g, uint8_t * rgb, int * got) {
    struct reader_src * s = ud;
    return ts_video_reader_next(s->vr, rgb, got);
}

// Under mpirun every rank would run this: rank 0 does the work and says what is
// wrong with the arguments (once), the others leave.
int ts_interpolate_command(int argc, char ** argv) {
    ts_error_clear();
    static const struct option opts[] = {
        {"fps-out", required_argument, 0, 'r'}, {"fps-in", required_argument, 0, 1},
        {"out", required_argument, 0, 'o'},     {"codec", required_argument, 0, 2},
        {"crf", required_argument, 0, 3},       {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    double fps_out = 0, fps_in = 0, v = 0;
    const char * out = "out.mp4", * codec = NULL, * in = NULL;
    int crf = -1, threads = 0, quiet = 0, ch;
    const int rank = ts_launcher_rank() < 0 ? 0 : ts_launcher_rank();
    enum ts_status st = TS_OK;
    opterr = 0;
    optind = 1;
    while (st == TS_OK && (ch = getopt_long(argc, argv, "r:o:t:qh", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            if (rank == 0) usage(stdout);
            return 0;
        case 'r': st = parse_num("--fps-out", optarg, 0.001, 1000, &fps_out); break;
        case 1: st = parse_num("--fps-in", optarg, 0.001, 1000, &fps_in); break;
        case 'o': out = optarg; break;
        case 2: codec = optarg; break;
        case 3: st = parse_num("--crf", optarg, 0, 63, &v); crf = (int)v; break;
        case 't': st = parse_num("--threads", optarg, 0, 4096, &v); threads = (int)v; break;
        case 'q': quiet = 1; break;
        default:
            st = ts_error(TS_ERR_ARG, "see 'timeshard interpolate --help'", "unknown or incomplete option '%s'",
                          argv[optind - 1]);
        }
    }
    if (st == TS_OK && optind < argc) in = argv[optind++];
    if (st == TS_OK && optind < argc)
        st = ts_error(TS_ERR_ARG, "one input video at a time", "unexpected argument '%s'", argv[optind]);
    if (st == TS_OK && !in) st = ts_error(TS_ERR_ARG, "timeshard interpolate IN.mp4 --fps-out 60", "no input video given");
    if (st == TS_OK && fps_out <= 0) st = ts_error(TS_ERR_ARG, "e.g. --fps-out 60", "--fps-out is required");
    if (st == TS_OK && ts_same_file(in, out))
        st = ts_error(TS_ERR_ARG, "write the output to another file", "--out '%s' is the input video: it would be replaced",
                      out);
    if (st == TS_OK) st = ts_output_dir_check(out, "--out");
    if (st != TS_OK) return rank == 0 ? ts_print_last_error() : 1;  // the same on every rank: said once
    if (rank != 0) return 0;
    if (threads > 0) omp_set_num_threads(threads);

    double t0 = ts_time();
    struct reader_src src = {NULL};
    ts_video_writer * vw = NULL;
    ts_interp_stream * s = NULL;
    uint8_t * frame = NULL;
    int w = 0, h = 0;
    double fps_file = 0;
    struct ts_interp_timing tm;
    int64_t n_out = 0, n_in = 0;
    st = ts_video_reader_open(in, &src.vr, &w, &h, &fps_file);
    const int fps_from_file = fps_in <= 0;  // --fps-in overrides the file's times on purpose
    if (st == TS_OK && fps_in <= 0) {
        fps_in = fps_file;
        if (!(fps_in > 0))
            st = ts_error(TS_ERR_FORMAT, "give it with --fps-in F", "'%s' does not say its frame rate", in);
    }
    if (st == TS_OK) st = ts_interp_timing_from_fps(fps_in, fps_out, &tm);
    struct ts_interp_params ip;
    ts_interp_params_init(&ip);
    if (st == TS_OK) st = ts_interp_stream_open(&ip, w, h, tm, 0, -1, read_key, &src, &s);
    // the output's colours are the input's: the same range, matrix, primaries
    // and transfer, so its keyframes decode as the input's frames do
    struct ts_video_color color;
    if (st == TS_OK) ts_video_reader_color(src.vr, &color);
    if (st == TS_OK) st = ts_video_writer_open_color(out, w, h, fps_out, codec, crf, &color, &vw);
    if (st == TS_OK) {
        frame = ts_malloc((size_t)w * h * 3);
        int got = 1;
        while ((st = ts_interp_stream_next(s, frame, NULL, &got)) == TS_OK && got) {
            st = ts_video_writer_add(vw, frame);
            if (st != TS_OK) break;
            n_out++;
        }
        ts_interp_stream_counts(s, &n_in, NULL);
        if (st == TS_OK && n_in == 0) st = ts_error(TS_ERR_FORMAT, "is it a video?", "'%s' has no frames", in);
        // the interpolator places the input's frames 1/fps apart: say so when their own times are not
        double g0 = 0, g1 = 0;
        ts_video_reader_gaps(src.vr, &g0, &g1);
        if (st == TS_OK && fps_from_file && g1 > 0 && (g0 < 0.75 / fps_in || g1 > 1.25 / fps_in))
            TS_WARN("'%s' has a variable frame rate (its frames are %.3g to %.3g s apart): they were taken as "
                    "evenly spaced at %g fps, so the output's timing differs from the input's (convert it to a "
                    "constant rate first, e.g. ffmpeg -i IN -fps_mode cfr -r RATE OUT)",
                    in, g0, g1, fps_in);
    }
    if (vw) {
        enum ts_status cst = ts_video_writer_close(&vw, st == TS_OK);
        if (st == TS_OK) st = cst;
    }
    ts_interp_stream_free(&s);
    ts_video_reader_close(&src.vr);
    free(frame);
    if (st != TS_OK) return ts_print_last_error();
    if (!quiet)
        fprintf(stderr, "timeshard: %s: %lld frames at %g fps -> %s: %lld frames at %g fps (%dx%d, %.1f s)\n", in,
                (long long)n_in, fps_in, out, (long long)n_out, fps_out, w, h, ts_time() - t0);
    return 0;
}
