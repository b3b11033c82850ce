// The timeshard command: generate, info, devices, bench, --version, --help.
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"  // cli_error, cli_fail, the progress printer (the public header comes with it)
#include "core/common.h"  // ts_output_check: the library's rule for outputs and inputs, on the inputs it does not see


int ts_cli_fail(void) {
    cli_fail();
    return 1;
}

// Under mpirun every rank runs the command. For those that only report (info, devices,
// --version, --help, --explain-prompt) rank 0 prints; the others do the same work with
// stdout and stderr silenced (reading a latents file starts MPI, which every rank of a
// job must) and exit with the same status.
static void report_on_rank0_only(void) {
    if (cli_launcher_rank() == 0) return;
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) exit(1);
}

static void usage_main(FILE * f) {
    fprintf(f,
            "usage: timeshard <command> [options]\n"
            "\n"
            "Long videos from text with a latent video diffusion transformer whose frames are\n"
            "spread over ranks (run under mpirun or srun for several).\n"
            "\n"
            "commands:\n"
            "  generate     make a video from a prompt (timeshard generate --help)\n"
            "  info PATH    describe a model, latents, checkpoint or frames file\n"
            "  devices      list the backends and devices this build can use\n"
            "  bench        time the DiT forward against the machine's sgemm peak\n"
            "  interpolate  raise a video's frame rate (timeshard interpolate --help)\n"
            "\n"
            "  -h, --help     this help\n"
            "  -V, --version  print the version\n");
}

// ---- generate ------------------------------------------------------------------------
static void usage_generate(FILE * f) {
    fprintf(f,
            "usage: timeshard generate --prompt TEXT [options]\n"
            "       mpirun -np 4 timeshard generate --prompt TEXT [options]\n"
            "\n"
            "  -m, --model PATH          weights file (HDF5 or safetensors), or a Wan2.1 diffusers directory or\n"
            "                            single file (default: the shipped model)\n"
            "  -p, --prompt TEXT         what the video shows; word::1.5 and (some words)::0.7 weight words\n"
            "      --storyboard FILE     one prompt per stretch of frames: lines 'FIRST-LAST: prompt'\n"
            "      --blend N             storyboard: mix the prompts over N frames at each boundary (default: 0)\n"
            "  -n, --frames N            video length in frames (default: 32; Wan2.1: 81)\n"
            "  -s, --steps S             sampler steps (default: the model's: 20 for the shipped one, 50 for Wan2.1)\n"
            "  -g, --cfg G               classifier-free guidance scale (default: the model's: 4, Wan2.1 5)\n"
            "      --seed K              noise seed (default: 0)\n"
            "      --fps F               frame rate the model generates at (default: the model's: 12, Wan2.1 16)\n"
            "      --fps-out F           interpolate the video to F frames per second (motion-compensated)\n"
            "  -o, --out FILE.mp4        video output (default: out.mp4; 'none' to skip); FILE.h5 writes the\n"
            "                            decoded frames to HDF5 instead (/frames uint8 (T, H, W, 3), no FFmpeg)\n"
            "      --codec NAME          libavcodec encoder (default: libx264)\n"
            "      --crf Q               constant rate factor (default: the codec's, 23 for x264)\n"
            "      --latents FILE.h5     also write the final latents to HDF5\n"
            "      --checkpoint FILE.h5  checkpoint file (written on SIGTERM, and every K steps with\n"
            "                            --checkpoint-every)\n"
            "      --checkpoint-every K  checkpoint every K steps (default: 0, only on SIGTERM)\n"
            "      --resume FILE.h5      continue from a checkpoint (any rank count)\n"
            "      --image FIRST.png     image-to-video: the first frame (the model's resolution); an alpha\n"
            "                            channel is ignored (the colours under transparent pixels are used,\n"
            "                            with a warning)\n"
            "      --path \"F:X,Y ...\"    motion control: the object's centre (pixels, origin top-left, y down)\n"
            "                            at generated frames F (from 0, before --fps-out), increasing; linear\n"
            "                            between keys, held before the first and after the last\n"
            "      --motion DX,DY        motion control: pixels per generated frame, a straight path planned\n"
            "                            through the frame's centre (or on from a path before it; not with --path)\n"
            "      --gravity G           motion control: pixels/s^2 downwards (>= 0) at the generation rate\n"
            "      --bounce E            motion control: restitution in [0, 1]; with --gravity, a fall planned\n"
            "                            from the upper left (thrown at --motion's velocity when given) that\n"
            "                            bounces on the bottom edge\n"
            "      --growth R            motion control: size(t) = size(0) * exp(R t), t in seconds, planned\n"
            "                            as a radius per frame, the object held at the frame's centre\n"
            "                            (the motion controls need a model trained with them, as the shipped\n"
            "                            one is; it follows growth's direction, and its rate on half the\n"
            "                            clips measured: see docs/controls.md; storyboard lines take\n"
            "                            them after '|', e.g.\n"
            "                            '0-23: a red circle | gravity=125 bounce=0.8')\n"
            "      --control-scale S     guidance of the motion controls: the prediction pushed away from the\n"
            "                            prompt's without them by S (default: 2 for the shipped model; 1: no\n"
            "                            push, and no third forward per step; range [0, 20])\n"
            "      --width W --height H  frame size in pixels (default: the model's; the default model has one)\n"
            "      --negative-prompt TEXT  the unconditional prompt of guidance (default: empty)\n"
            "      --sampler NAME        unipc or euler, for models that offer them (default: the model's)\n"
            "      --shift X             the sampler schedule's shift (default: the model's)\n"
            "      --window W            latent frames each side that attention sees, for models with global\n"
            "                            attention (default: the whole video)\n"
            "      --noise FILE.h5       the initial noise instead of the seed's: /noise float32 (T, h, w, C),\n"
            "                            latent frames, time-major and channels-last like --latents\n"
            "      --text-encoder PATH, --vae PATH, --tokenizer PATH\n"
            "                            parts a single-file model does not hold\n"
            "      --config PRESET       run preset: a name in configs/ or a file of 'key = value' lines\n"
            "                            (keys are these long flag names; flags on the command line win)\n"
            "  -t, --threads N           CPU threads per rank (default, or 0: the cores this rank may use,\n"
            "                            shared by the ranks on its node)\n"
            "      --backend NAME        cpu or cuda (default: cuda where this build has it and a GPU is\n"
            "                            present, else cpu)\n"
            "      --dtype NAME          fp32 (default); with cuda also tf32, bf16, fp16 for the GEMMs (bf16\n"
            "                            and fp16 also run the spatial attention on tensor cores)\n"
            "      --halo MODE           what neighbouring ranks trade each block: qkv (the edge frames'\n"
            "                            projected rows, 3x the bytes, nothing recomputed; default on cpu)\n"
            "                            or act (their activations, keys/values recomputed; default on cuda);\n"
            "                            the default family only (refused for Wan2.1, whose ranks gather)\n"
            "      --explain-prompt      print the prompt's tokens, weights and unknown words, then exit\n"
            "      --dry-run             check the settings and the input files (--image, --noise, --resume,\n"
            "                            --storyboard: read and matched against the run as it would), print\n"
            "                            them with the memory each rank will need, then exit (loads the\n"
            "                            model's headers; nothing is sampled or written)\n"
            "  -q, --quiet               errors only (no settings, progress or summary lines)\n"
            "  -h, --help                this help\n");
}

struct gen_opts {
    struct ts_gen_params gp;
    struct ts_ctx_params cp;
    const char * model;
    char * owned[64];  // strdup'd values from presets
    int n_owned;
    char preset_path[PATH_MAX];  // the --config file read ("" when none)
    int seed_given;              // --seed (flag or preset)
};

static enum ts_status parse_int(const char * flag, const char * v, long long lo, long long hi, long long * out) {
    char * end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!v[0] || *end)
        return cli_error(TS_ERR_ARG, "see 'timeshard generate --help'", "%s expects an integer, got '%s'", flag, v);
    if (errno == ERANGE || x < lo || x > hi)
        return cli_error(TS_ERR_ARG, "see 'timeshard generate --help'", "%s must be in [%lld, %lld], got %s", flag, lo,
                         hi, v);
    *out = x;
    return TS_OK;
}

static enum ts_status parse_float(const char * flag, const char * v, double lo, double hi, double * out) {
    char * end = NULL;
    double x = strtod(v, &end);
    if (!v[0] || *end)
        return cli_error(TS_ERR_ARG, "see 'timeshard generate --help'", "%s expects a number, got '%s'", flag, v);
    if (!(x >= lo && x <= hi))
        return cli_error(TS_ERR_ARG, "see 'timeshard generate --help'", "%s must be in [%g, %g], got %g", flag, lo, hi, x);
    *out = x;
    return TS_OK;
}

// One setting by its long name (from the command line or a preset).
static enum ts_status set_option(struct gen_opts * o, const char * key, const char * v) {
    long long i = 0;
    double f = 0;
    struct ts_gen_params * g = &o->gp;
    if (!strcmp(key, "model")) o->model = v;
    else if (!strcmp(key, "prompt")) g->prompt = v;
    else if (!strcmp(key, "storyboard")) g->storyboard_path = v;
    else if (!strcmp(key, "blend")) { CLI_TRY(parse_int("--blend", v, 0, 1 << 20, &i)); g->blend = (int)i; }
    else if (!strcmp(key, "fps-out")) { CLI_TRY(parse_float("--fps-out", v, 0.001, 1000, &f)); g->fps_out = f; }
    else if (!strcmp(key, "frames")) { CLI_TRY(parse_int("--frames", v, 1, (1LL << 31) - 1, &i)); g->frames = i; }
    else if (!strcmp(key, "steps")) { CLI_TRY(parse_int("--steps", v, 1, 10000, &i)); g->steps = (int)i; }
    else if (!strcmp(key, "cfg")) { CLI_TRY(parse_float("--cfg", v, 0, 100, &f)); g->cfg = (float)f; }
    else if (!strcmp(key, "seed")) {
        char * end = NULL;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (!v[0] || *end || v[0] == '-')
            return cli_error(TS_ERR_ARG, "e.g. --seed 42", "--seed expects a non-negative integer, got '%s'", v);
        if (errno == ERANGE)
            return cli_error(TS_ERR_ARG, "seeds are 64-bit: at most 18446744073709551615", "--seed %s is too large", v);
        g->seed = s;
        o->seed_given = 1;
    } else if (!strcmp(key, "fps")) { CLI_TRY(parse_float("--fps", v, 0.001, 1000, &f)); g->fps = f; }
    else if (!strcmp(key, "out")) g->out_path = strcmp(v, "none") ? v : NULL;
    else if (!strcmp(key, "codec")) g->codec = v;
    else if (!strcmp(key, "crf")) { CLI_TRY(parse_int("--crf", v, 0, 63, &i)); g->crf = (int)i; }
    else if (!strcmp(key, "latents")) g->latents_path = v;
    else if (!strcmp(key, "checkpoint")) g->checkpoint_path = v;
    else if (!strcmp(key, "checkpoint-every")) { CLI_TRY(parse_int("--checkpoint-every", v, 0, 1 << 30, &i)); g->checkpoint_every = (int)i; }
    else if (!strcmp(key, "resume")) g->resume_path = v;
    else if (!strcmp(key, "image")) g->image_path = v;
    else if (!strcmp(key, "width")) { CLI_TRY(parse_int("--width", v, 16, 8192, &i)); g->width = (int)i; }
    else if (!strcmp(key, "height")) { CLI_TRY(parse_int("--height", v, 16, 8192, &i)); g->height = (int)i; }
    else if (!strcmp(key, "negative-prompt")) g->negative_prompt = v;
    else if (!strcmp(key, "sampler")) g->sampler = v;
    else if (!strcmp(key, "shift")) { CLI_TRY(parse_float("--shift", v, 0.01, 100, &f)); g->shift = (float)f; }
    else if (!strcmp(key, "window")) { CLI_TRY(parse_int("--window", v, 1, 1 << 20, &i)); g->window = (int)i; }
    else if (!strcmp(key, "noise")) g->noise_path = v;
    else if (!strcmp(key, "path")) g->motion_path = v;  // the motion controls: checked with the video's size
    else if (!strcmp(key, "motion")) g->motion = v;
    else if (!strcmp(key, "gravity")) g->gravity = v;
    else if (!strcmp(key, "bounce")) g->bounce = v;
    else if (!strcmp(key, "growth")) g->growth = v;
    else if (!strcmp(key, "control-scale")) {
        CLI_TRY(parse_float("--control-scale", v, 0, 20, &f));
        g->control_scale = (float)f;
    }
    else if (!strcmp(key, "text-encoder")) o->cp.text_encoder = v;
    else if (!strcmp(key, "vae")) o->cp.vae = v;
    else if (!strcmp(key, "tokenizer")) o->cp.tokenizer = v;
    else if (!strcmp(key, "threads")) { CLI_TRY(parse_int("--threads", v, 0, 4096, &i)); o->cp.threads = (int)i; }
    else if (!strcmp(key, "backend")) {
        int k = ts_backend_kind_from_str(v);
        if (k < 0) return cli_error(TS_ERR_ARG, "choose cpu or cuda ('timeshard devices')", "unknown --backend '%s'", v);
        o->cp.backend = (enum ts_backend_kind)k;
    } else if (!strcmp(key, "halo")) {
        int h = ts_halo_from_str(v);
        if (h <= 0) return cli_error(TS_ERR_ARG, "choose qkv or act", "unknown --halo '%s'", v);
        o->cp.halo = (enum ts_halo)h;
    } else if (!strcmp(key, "dtype")) {
        int t = ts_dtype_from_str(v);
        if (t < 0) return cli_error(TS_ERR_ARG, "choose fp32, tf32, bf16 or fp16", "unknown --dtype '%s'", v);
        o->cp.dtype = (enum ts_dtype)t;
    } else
        return cli_error(TS_ERR_ARG, "see 'timeshard generate --help'", "unknown setting '%s'", key);
    return TS_OK;
}

static enum ts_status preset_kv(void * ud, const char * key, const char * value, const char * file, int line) {
    struct gen_opts * o = ud;
    if (!strcmp(key, "config"))
        return cli_error(TS_ERR_FORMAT, "copy the other preset's settings into this file", "%s:%d: presets cannot include other presets", file, line);
    if (o->n_owned == 64) return cli_error(TS_ERR_FORMAT, NULL, "%s: too many settings", file);
    char * v = strdup(value);
    o->owned[o->n_owned++] = v;
    enum ts_status st = set_option(o, key, v);
    if (st != TS_OK) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", cli_last_error());
        cli_error_clear();
        return cli_error(st, "fix the preset file", "%s:%d: %s", file, line, msg);
    }
    return TS_OK;
}

// A preset name (configs/NAME.cfg next to the binary or in the source tree) or a path.
static enum ts_status load_preset(struct gen_opts * o, const char * name) {
    char path[PATH_MAX];
    if (strchr(name, '/') || access(name, R_OK) == 0) {
        snprintf(path, sizeof(path), "%s", name);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        path[0] = '\0';
        if (n > 0) {
            exe[n] = '\0';
            char * slash = strrchr(exe, '/');
            if (slash) *slash = '\0';
            const char * rel[] = {"/../share/timeshard/configs/", "/../configs/", "/../../configs/"};
            for (int i = 0; i < 3 && !path[0]; i++) {
                char p[2 * PATH_MAX + 64];
                snprintf(p, sizeof(p), "%s%s%s.cfg", exe, rel[i], name);
                if (strlen(p) < sizeof(path) && access(p, R_OK) == 0) snprintf(path, sizeof(path), "%s", p);
            }
        }
        if (!path[0]) {
            char p[PATH_MAX];
            snprintf(p, sizeof(p), "%s/configs/%s.cfg", TS_SOURCE_DIR, name);
            if (access(p, R_OK) == 0) snprintf(path, sizeof(path), "%s", p);
        }
        if (!path[0])
            return cli_error(TS_ERR_IO, "presets live in configs/ (e.g. --config default)", "no preset named '%s'", name);
    }
    snprintf(o->preset_path, sizeof o->preset_path, "%s", path);
    return ts_kv_parse_file(path, preset_kv, o);
}

// No output replaces an input the run itself does not know: the model's parts given
// apart (files or folders) and the preset. The run checks the rest (--model, a
// model directory's every file, --storyboard, --image, --noise, --resume).
static enum ts_status check_outputs(const struct gen_opts * o) {
    const char * in[] = {o->cp.text_encoder, o->cp.vae, o->cp.tokenizer, o->preset_path[0] ? o->preset_path : NULL};
    const char * in_flag[] = {"--text-encoder", "--vae", "--tokenizer", "--config"};
    const char * out[] = {o->gp.out_path, o->gp.latents_path, o->gp.checkpoint_path};
    const char * out_flag[] = {"--out", "--latents", "--checkpoint"};
    for (int k = 0; k < 3; k++)
        for (int i = 0; out[k] && i < 4; i++)
            if (in[i]) CLI_TRY(ts_output_check(out[k], out_flag[k], in[i], in_flag[i]));
    return TS_OK;
}

static const struct option gen_long[] = {
    {"model", required_argument, 0, 'm'},   {"prompt", required_argument, 0, 'p'},
    {"frames", required_argument, 0, 'n'},  {"steps", required_argument, 0, 's'},
    {"cfg", required_argument, 0, 'g'},     {"seed", required_argument, 0, 1},
    {"fps", required_argument, 0, 2},       {"out", required_argument, 0, 'o'},
    {"codec", required_argument, 0, 3},     {"crf", required_argument, 0, 4},
    {"latents", required_argument, 0, 5},   {"checkpoint", required_argument, 0, 6},
    {"checkpoint-every", required_argument, 0, 7}, {"resume", required_argument, 0, 8},
    {"image", required_argument, 0, 9},     {"config", required_argument, 0, 10},
    {"threads", required_argument, 0, 't'}, {"backend", required_argument, 0, 11},
    {"dtype", required_argument, 0, 12},    {"quiet", no_argument, 0, 'q'},
    {"explain-prompt", no_argument, 0, 13}, {"storyboard", required_argument, 0, 14},
    {"blend", required_argument, 0, 15},    {"fps-out", required_argument, 0, 16},
    {"halo", required_argument, 0, 17},     {"width", required_argument, 0, 18},
    {"height", required_argument, 0, 19},   {"negative-prompt", required_argument, 0, 20},
    {"sampler", required_argument, 0, 21},  {"shift", required_argument, 0, 22},
    {"window", required_argument, 0, 23},   {"noise", required_argument, 0, 24},
    {"text-encoder", required_argument, 0, 25}, {"vae", required_argument, 0, 26},
    {"tokenizer", required_argument, 0, 27}, {"dry-run", no_argument, 0, 28},
    {"path", required_argument, 0, 29},     {"motion", required_argument, 0, 30},
    {"gravity", required_argument, 0, 31},  {"bounce", required_argument, 0, 32},
    {"growth", required_argument, 0, 33},   {"control-scale", required_argument, 0, 34},
    {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
};

static int cmd_generate(int argc, char ** argv) {
    struct gen_opts o;
    memset(&o, 0, sizeof(o));
    ts_gen_params_init(&o.gp);
    ts_ctx_params_init(&o.cp);
    o.cp.signals = 1;  // the command: fatal signals end the whole job, SIGTERM checkpoints
    o.gp.out_path = "out.mp4";
    // pass 1: help and preset; pass 2: every flag (command line wins over the preset)
    opterr = 0;
    optind = 1;
    int ch, explain = 0, quiet = 0;
    const char * preset = NULL;
    while ((ch = getopt_long(argc, argv, "m:p:n:s:g:o:t:qh", gen_long, NULL)) != -1) {
        if (ch == 'h') {
            usage_generate(stdout);
            return 0;
        }
        if (ch == 10) preset = optarg;
    }
    enum ts_status st = TS_OK;
    if (preset) st = load_preset(&o, preset);
    opterr = 0;
    optind = 1;
    while (st == TS_OK && (ch = getopt_long(argc, argv, "m:p:n:s:g:o:t:qh", gen_long, NULL)) != -1) {
        const char * key = NULL;
        for (const struct option * lo = gen_long; lo->name; lo++)
            if (lo->val == ch) key = lo->name;
        if (ch == '?') {
            st = cli_error(TS_ERR_ARG, "see 'timeshard generate --help'", "unknown or incomplete option '%s'",
                          argv[optind - 1]);
        } else if (ch == 'q') {
            quiet = 1;
        } else if (ch == 13) {
            explain = 1;
        } else if (ch == 28) {
            o.gp.dry_run = 1;
        } else if (ch == 10) {
            // handled in pass 1
        } else if (key) {
            st = set_option(&o, key, optarg);
        }
    }
    if (st == TS_OK && optind < argc)
        st = cli_error(TS_ERR_ARG, "quote the prompt: --prompt \"a red circle ...\"", "unexpected argument '%s'",
                      argv[optind]);
    if (st == TS_OK && !o.gp.prompt && !o.gp.storyboard_path)
        st = cli_error(TS_ERR_ARG, "give --prompt \"a red circle moving left on a blue background\"",
                      "no prompt given");
    if (st == TS_OK && o.gp.prompt && o.gp.storyboard_path)
        st = cli_error(TS_ERR_ARG, "a storyboard holds the prompts", "give --prompt or --storyboard, not both");
    if (st == TS_OK && o.gp.blend > 0 && !o.gp.storyboard_path)
        st = cli_error(TS_ERR_ARG, "--blend mixes storyboard segments", "--blend needs --storyboard");
    if (st == TS_OK && explain && !o.gp.prompt)
        st = cli_error(TS_ERR_ARG, "explain one prompt at a time: --explain-prompt --prompt \"...\"", "--explain-prompt needs --prompt");
    if (st == TS_OK && o.gp.checkpoint_every > 0 && !o.gp.checkpoint_path)
        st = cli_error(TS_ERR_ARG, "add --checkpoint FILE.h5", "--checkpoint-every needs --checkpoint");
    if (st == TS_OK && !explain) st = check_outputs(&o);
    if (st == TS_OK && o.seed_given && o.gp.noise_path && !quiet && cli_launcher_rank() == 0)
        fprintf(stderr, "timeshard: warning: --seed is not used: the initial noise is --noise's (%s)\n",
                o.gp.noise_path);
    if (st == TS_OK && explain) {  // no ranks, no sampling: load the model and print
        report_on_rank0_only();
        st = ts_prompt_explain_model(o.model, o.gp.prompt, stdout);
        for (int i = 0; i < o.n_owned; i++) free(o.owned[i]);
        return st == TS_OK ? 0 : cli_fail();
    }
    // -q: errors only (no settings table, no progress, no summary)
    if (quiet) ts_set_log_level(TS_LOG_ERROR);
    struct cli_progress pr;
    cli_progress_init(&pr);
    if (!quiet) {
        o.gp.progress = cli_progress_print;
        o.gp.progress_ud = &pr;
    }
    ts_ctx_t ctx = NULL;
    if (st == TS_OK) st = ts_ctx_new(o.model, &o.cp, &ctx);
    if (st == TS_OK) st = ts_generate(ctx, &o.gp);
    int rank = ctx ? ts_ctx_rank(ctx) : cli_launcher_rank();
    int rc = 0;
    if (st != TS_OK) {
        // every rank knows the outcome and rank 0 has the message of the first rank
        // that failed (ts_parallel_agree): it alone prints
        if (rank == 0) cli_fail();
        rc = st == TS_ERR_INTERRUPTED ? 3 : 1;
    }
    ts_ctx_free(&ctx);
    for (int i = 0; i < o.n_owned; i++) free(o.owned[i]);
    return rc;
}

// ---- info --------------------------------------------------------------------------------
// A command given more than it takes: one error line, exit 1.
static int extra_args(const char * usage, const char * first) {
    fprintf(stderr, "timeshard: error: unexpected argument '%s'\n---> HINT: the command is 'timeshard %s'\n", first,
            usage);
    return 1;
}

static int cmd_info(int argc, char ** argv) {
    report_on_rank0_only();
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("usage: timeshard info PATH\n\nDescribes a weights file (config, tensors, SHA-256; a Wan2.1 pipeline\n"
               "directory, or its transformer alone: one .safetensors file or the transformer/ folder),\n"
               "a latents or checkpoint file (shape and attributes), or a frames file of\n"
               "'generate --out FILE.h5' (frames, size, fps).\n");
        return argc < 2 ? 1 : 0;
    }
    if (argc > 2) return extra_args("info PATH", argv[2]);
    return ts_info_command(argv[1]);
}

static int cmd_devices(int argc, char ** argv) {
    report_on_rank0_only();
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: timeshard devices\n\nLists the backends this build has and the devices each can use.\n");
        return 0;
    }
    if (argc > 1) return extra_args("devices", argv[1]);
    ts_devices_print(stdout);
    return 0;
}

// A command's status as the process's; after a file HDF5 could not close (a full
// disk), ended here with _exit: HDF5's teardown at exit would crash on that file.
static int cmd_done(int rc) {
    if (!ts_exit_fast_pending()) return rc;
    fflush(NULL);
    _exit(rc ? rc : 1);
}

int main(int argc, char ** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage_main(stderr);
        return 1;
    }
    const char * cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        report_on_rank0_only();
        usage_main(stdout);
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        report_on_rank0_only();
        if (argc > 2) return extra_args("--version", argv[2]);
        printf("timeshard %s\n", TS_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "generate")) return cmd_done(cmd_generate(argc - 1, argv + 1));
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "devices")) return cmd_devices(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_done(ts_bench_command(argc - 1, argv + 1));
    if (!strcmp(cmd, "interpolate")) return cmd_done(ts_interpolate_command(argc - 1, argv + 1));
    fprintf(stderr, "timeshard: error: unknown command '%s'\n---> HINT: see 'timeshard --help'\n", cmd);
    return 1;
}
