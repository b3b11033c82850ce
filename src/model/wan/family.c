// Wan2.1 behind the model-family interface (model/family.h): a diffusers
// pipeline directory (model_index.json, transformer/, text_encoder/,
// tokenizer/, vae/, scheduler/) or a single-file transformer with the other
// parts named by --text-encoder, --vae and --tokenizer.
//
// Units: --frames counts video frames (4k+1; latent frames (F-1)/4 + 1),
// --window latent frames (0: the whole video, as trained). Ranks own at least
// one latent frame. Storyboard ranges and --blend count video frames; latent
// frame j is conditioned as its first video frame, max(0, 4j-3), would be
// (wan_story_plan). Prompt weights are log-biases on the text keys in umT5 and
// in the DiT's cross-attention. The text encoder runs on rank 0 only, once per
// run (every prompt and the negative prompt in one batch); its rows (512 x
// text_dim floats per prompt) are broadcast through the halo communicator and
// its weights are unmapped before sampling; the other ranks read only its
// headers at load (to check it against the transformer), never its weights.
// The decoder of a rank first fetches its left halo of latent frames
// (ts_wan_vae_range_start) from the ranks before it through the halo
// communicator's gather, then streams its own frames one latent frame at a time.
#define _GNU_SOURCE  // strdup
#include <errno.h>
#include <jansson.h>  // a transformer folder's config.json (info)
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "model/family.h"
#include "model/wan/tokenizer.h"
#include "model/wan/umt5.h"
#include "model/wan/wan.h"
#include "model/wan/wan_vae.h"
#include "sample/flow_sched.h"

#define WAN_DEFAULT_FRAMES 81
#define WAN_DEFAULT_WIDTH 832
#define WAN_DEFAULT_HEIGHT 480
#define WAN_SINGLE_FILE_SHIFT 5.0  // Wan's own default (a single file has no scheduler config)

struct wan_model {
    ts_wan_model * dit;             // owned
    ts_wan_vae * vae;               // owned
    ts_wan_tokenizer_t tok;         // owned
    ts_umt5_t enc;                  // owned; NULL once a run has encoded its prompts (reloaded on demand)
    char * enc_path;                // owned: the text encoder's directory or file
    struct ts_flow_sched_config sched;  // the directory's scheduler (Wan's UniPC for a single file)
    char label[160];
    int64_t n_params;               // DiT + text encoder + VAE
    ts_backend_t be;                // not owned
};

// ---- probe ------------------------------------------------------------------------------------

static int is_dir(const char * p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}
static int is_file(const char * p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char * path_join(const char * a, const char * b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char * s = ts_malloc(n);
    snprintf(s, n, "%s/%s", a, b);
    return s;
}

// A safetensors file whose header names Wan's patch embedding (either layout,
// with or without ComfyUI's prefix): reads the header only.
static int safetensors_is_wan(const char * path) {
    FILE * f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char len8[8];
    int yes = 0;
    if (fread(len8, 1, 8, f) == 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
        if (n > 0 && n < (64u << 20)) {
            char * h = malloc(n + 1);
            if (h && fread(h, 1, n, f) == n) {
                h[n] = '\0';
                yes = strstr(h, "\"patch_embedding.weight\"") || strstr(h, ".patch_embedding.weight\"");
            }
            free(h);
        }
    }
    fclose(f);
    return yes;
}

static int wan_probe(const char * path) {
    if (is_dir(path)) {
        char * a = path_join(path, "model_index.json");
        char * b = path_join(path, "transformer/config.json");
        int yes = is_file(a) || is_file(b);
        free(a);
        free(b);
        return yes;
    }
    size_t n = strlen(path);
    return n > 12 && !strcmp(path + n - 12, ".safetensors") && safetensors_is_wan(path);
}

// ---- load -------------------------------------------------------------------------------------

static void wan_free(void * model) {
    struct wan_model * m = model;
    if (!m) return;
    ts_wan_free(&m->dit);
    ts_wan_vae_free(&m->vae);
    ts_wan_tokenizer_free(&m->tok);
    ts_umt5_free(&m->enc);
    free(m->enc_path);
    free(m);
}

static int64_t umt5_params(const struct ts_umt5_config * c) {
    int64_t inner = (int64_t)c->heads * c->d_kv, d = c->d_model;
    int64_t layer = 4 * d * inner + 3 * d * c->d_ff + 2 * d + (int64_t)c->buckets * c->heads;
    return (int64_t)c->vocab * d + c->layers * layer + d;
}

static int64_t vae_params_approx(const struct ts_wan_vae_config * c) {
    // Wan2.1's VAE has 127M parameters at base_dim 96; it scales with base_dim^2
    double s = (double)c->base_dim / 96.0;
    return (int64_t)(126.9e6 * s * s);
}

static enum ts_status wan_load_parts(const char * path, const struct ts_load_opts * o, struct wan_model * m) {
    const int dir = is_dir(path);
    const char * te = o ? o->text_encoder : NULL, * vae = o ? o->vae : NULL, * tk = o ? o->tokenizer : NULL;
    if (!dir && (!te || !vae)) {
        const char * miss = !te && !vae ? "--text-encoder and --vae" : !te ? "--text-encoder" : "--vae";
        return ts_error(TS_ERR_ARG,
                        "give --text-encoder umt5_xxl_*.safetensors (or a text_encoder/ folder) and --vae "
                        "wan_2.1_vae.safetensors (or a vae/ folder); --tokenizer if the text encoder carries none",
                        "'%s' is a single-file Wan2.1 transformer: it needs %s (its text encoder and VAE are not in it)",
                        path, miss);
    }
    TS_TRY(ts_wan_load(path, m->be, &m->dit));
    char * vae_path = vae ? NULL : path_join(path, "vae");
    enum ts_status st = ts_wan_vae_load(m->be, vae ? vae : vae_path, &m->vae);
    free(vae_path);
    TS_TRY(st);
    m->enc_path = te ? strdup(te) : path_join(path, "text_encoder");
    ts_backend_t enc_be = !strcmp(m->be->ops->name, "cpu") ? m->be : NULL;
    TS_TRY(ts_umt5_load(m->enc_path, enc_be, &m->enc));
    const struct ts_umt5_config * ec = ts_umt5_config(m->enc);
    if (ec->d_model != m->dit->cfg.text_dim)
        return ts_error(TS_ERR_MODEL, "give the text encoder this transformer was trained with (umT5-XXL for Wan2.1)",
                        "the text encoder '%s' makes %d-wide rows; the transformer reads %d", m->enc_path, ec->d_model,
                        m->dit->cfg.text_dim);
    if (tk) {
        TS_TRY(ts_wan_tokenizer_load(tk, &m->tok));
    } else if (dir) {
        char * tp = path_join(path, "tokenizer");
        st = ts_wan_tokenizer_load(tp, &m->tok);
        free(tp);
        TS_TRY(st);
    } else {
        const void * b = NULL;
        size_t nb = 0;
        if (!ts_umt5_spiece(m->enc, &b, &nb))
            return ts_error(TS_ERR_ARG, "give --tokenizer DIR (a tokenizer/ folder with spiece.model) or a spiece.model file",
                            "the text encoder '%s' carries no tokenizer", m->enc_path);
        TS_TRY(ts_wan_tokenizer_load_bytes(b, nb, 300, m->enc_path, &m->tok));
    }
    if (ts_wan_tokenizer_vocab_size(m->tok) > ec->vocab)
        return ts_error(TS_ERR_MODEL, "give the tokenizer of this text encoder",
                        "the tokenizer has %d ids; the text encoder '%s' embeds %d", ts_wan_tokenizer_vocab_size(m->tok),
                        m->enc_path, ec->vocab);
    // the sampler: the directory's scheduler config, else Wan's own UniPC
    char * sp = dir ? path_join(path, "scheduler/scheduler_config.json") : NULL;
    if (sp && is_file(sp)) {
        st = ts_flow_sched_config_load(sp, &m->sched);
    } else {
        if (sp) TS_WARN("'%s' has no scheduler/scheduler_config.json: using Wan2.1's UniPC, shift %g", path,
                        WAN_SINGLE_FILE_SHIFT);
        ts_flow_sched_config_wan(&m->sched, TS_FLOW_SCHED_UNIPC, WAN_SINGLE_FILE_SHIFT);
        st = TS_OK;
    }
    free(sp);
    TS_TRY(st);
    const struct ts_wan_config * c = &m->dit->cfg;
    m->n_params = m->dit->n_params + umt5_params(ec) + vae_params_approx(ts_wan_vae_get_config(m->vae));
    snprintf(m->label, sizeof m->label, "Wan2.1 %s: DiT %d x %d (%.3gM), umT5 %d x %d, VAE base %d",
             ts_wan_layout_name(m->dit->layout), c->layers, c->dim, m->dit->n_params / 1e6, ec->layers, ec->d_model,
             ts_wan_vae_get_config(m->vae)->base_dim);
    // checked and described from its headers: closed again (its weights never read here); the
    // rank that encodes reopens it (wan_cond_new), the others never do
    ts_umt5_free(&m->enc);
    return TS_OK;
}

static enum ts_status wan_load(const char * path, const struct ts_load_opts * opts, ts_backend_t be, void ** model) {
    *model = NULL;
    if (strcmp(be->ops->name, "cpu") != 0)
        return ts_error(TS_ERR_ARG, "run Wan2.1 with --backend cpu for now",
                        "Wan2.1 runs on the CPU backend only in this build (asked for '%s')", be->ops->name);
    struct wan_model * m = ts_calloc(1, sizeof(*m));
    m->be = be;
    enum ts_status st = wan_load_parts(path, opts, m);
    if (st != TS_OK) {
        wan_free(m);
        return st;
    }
    *model = m;
    return TS_OK;
}

static void wan_info(const void * model, struct ts_family_info * out) {
    const struct wan_model * m = model;
    out->path = m->dit->path;
    out->label = m->label;
    out->digest = m->dit->digest;
    out->n_params = m->n_params;
    out->mapped_bytes = (int64_t)ts_st_mapped_bytes(m->dit->st);
}

static void wan_defaults(const void * model, struct ts_family_defaults * out) {
    const struct wan_model * m = model;
    out->steps = 50;
    out->cfg = 5.0f;
    out->fps = 16.0;
    out->shift = (float)m->sched.shift;
    out->control_scale = 1.0f;  // takes no controls
}

static enum ts_status wan_shape(const void * model, int64_t frames, int width, int height, int window,
                                struct ts_shape * out) {
    (void)model;
    if (frames == 0) frames = WAN_DEFAULT_FRAMES;
    if (width == 0) width = WAN_DEFAULT_WIDTH;
    if (height == 0) height = WAN_DEFAULT_HEIGHT;
    if (window < 0) return ts_error(TS_ERR_ARG, "use --window 0 (the whole video) or a positive count of latent frames",
                                    "--window %d is negative", window);
    int64_t T = 0;
    int h = 0, w = 0;
    TS_TRY(ts_wan_check_video(frames, width, height, 1, &T, &h, &w));
    memset(out, 0, sizeof(*out));
    out->frames = frames;
    out->latent_frames = T;
    out->width = width, out->height = height;
    out->lat_h = h, out->lat_w = w, out->lat_c = ((const struct wan_model *)model)->dit->cfg.in_channels;
    out->min_frames_per_rank = 1;
    out->window = window;
    return TS_OK;
}

static enum ts_status wan_sampler_new(const void * model, int steps, const char * name, float shift, int64_t n,
                                      ts_sampler ** out) {
    const struct wan_model * m = model;
    struct ts_flow_sched_config cfg = m->sched;
    TS_TRY(ts_flow_sched_config_override(&cfg, name, shift));
    return ts_sampler_flow_new(&cfg, steps, n, out);
}

// The DiT's activations over a rank's tokens and the K|V rows of every frame it
// attends to, the two text contexts, the latents (x, two velocities, host
// copy, the scheduler's history) and the streamed VAE decoder's caches.
static int64_t wan_mem_bytes(const void * model, const struct ts_shape * sh, int64_t Tn) {
    const struct wan_model * m = model;
    const struct ts_wan_config * c = &m->dit->cfg;
    int64_t N = (int64_t)(sh->lat_h / 2) * (sh->lat_w / 2), D = c->dim;
    int64_t kv_frames = sh->window > 0 ? (Tn + 2 * (int64_t)sh->window < sh->latent_frames ? Tn + 2 * sh->window
                                                                                         : sh->latent_frames)
                                       : sh->latent_frames;
    int64_t act = Tn * N * (8 * D + c->ffn_dim) + kv_frames * N * 2 * D;
    // each prompt's encoder rows, and in the work space its embedded rows and every
    // block's keys and values (per segment a forward uses) plus one hidden layer
    int64_t prompts = sh->prompts > 0 ? sh->prompts : 2;
    int64_t text = prompts * (int64_t)TS_WAN_TEXT_LEN * (c->text_dim + 3 * D) + (int64_t)TS_WAN_TEXT_LEN * D;
    int64_t lat = (int64_t)sh->lat_h * sh->lat_w * sh->lat_c * (Tn + 38) * 8;
    int64_t vae = (int64_t)sh->width * sh->height * ts_wan_vae_get_config(m->vae)->base_dim * 4 * 6;
    return (act + text + lat + vae) * (int64_t)sizeof(float);
}

// ---- conditioning -------------------------------------------------------------------------------

// The prompts' encoder rows and key biases, and the per-frame plan of one rank.
struct wan_cond {
    int n;               // prompts: the storyboard's segments, then the negative prompt (last)
    float * ctx;         // owned (n, 512, text_dim): umT5's rows of each prompt
    float ** bias;       // owned (n), each owned (512) or NULL: log-weights on the text keys
    int *seg_a, *seg_b;  // owned (Tn + 1): the segment of each owned latent frame, the one blended in
    float * alpha;       // owned (Tn + 1): the blend weight of seg_b
};

static void wan_cond_free(const void * model, void * cp) {
    (void)model;
    struct wan_cond * c = cp;
    if (!c) return;
    for (int i = 0; c->bias && i < c->n; i++) free(c->bias[i]);
    free(c->bias);
    free(c->ctx);
    free(c->seg_a);
    free(c->seg_b);
    free(c->alpha);
    free(c);
}

// A prompt's weights as the bias on its text keys in the DiT's cross-attention,
// as umT5 takes them: log w on the prompt's tokens (-inf for w = 0: that key is
// masked), 0 on the padding rows. NULL when every weight is 1 (the unweighted
// path, bit for bit).
static float * wan_key_bias(const struct ts_wan_tokens * t) {
    int any = 0;
    for (int i = 0; i < t->n_valid; i++) any |= t->weight[i] != 1.0f;
    if (!any) return NULL;
    float * b = ts_calloc(TS_WAN_TEXT_LEN, sizeof(float));
    for (int i = 0; i < t->n_valid; i++) b[i] = t->weight[i] > 0.0f ? logf(t->weight[i]) : -INFINITY;
    return b;
}

// umT5 over the n tokenised prompts in one batch into c->ctx (this rank's work
// when it encodes); the encoder is loaded for it and unmapped right after.
static enum ts_status wan_encode(struct wan_model * m, const struct ts_wan_tokens * t, struct wan_cond * c) {
    const size_t rows = (size_t)TS_WAN_TEXT_LEN * m->dit->cfg.text_dim;
    enum ts_status st = TS_OK;
    if (!m->enc) st = ts_umt5_load(m->enc_path, !strcmp(m->be->ops->name, "cpu") ? m->be : NULL, &m->enc);
    if (st == TS_OK) {
        struct ts_umt5_prompt * p = ts_calloc((size_t)c->n, sizeof(*p));
        for (int i = 0; i < c->n; i++)
            p[i] =
                (struct ts_umt5_prompt){t[i].ids, t[i].n_valid, t[i].weighted ? t[i].weight : NULL, c->ctx + i * rows};
        st = ts_umt5_encode_batch(m->enc, p, c->n);
        free(p);
    }
    ts_umt5_free(&m->enc);  // its weights are not needed again in this run
    return st;
}

// The encoder's rows from the rank that encoded them (rank 0) to the others:
// rank 0's status first, so that a failure there ends every rank's wait.
static enum ts_status wan_share(ts_comm_t comm, int rank, enum ts_status mine, float * ctx, size_t bytes) {
    if (!comm->ops->bcast)
        return ts_error(TS_ERR_ARG, "run Wan2.1 with the MPI communicator", "the '%s' communicator cannot broadcast",
                        comm->ops->name);
    int32_t st0 = (int32_t)mine;
    TS_TRY(comm->ops->bcast(comm, &st0, sizeof st0, 0));
    if (st0 != TS_OK)
        return rank == 0 ? mine
                         : ts_error(TS_ERR_DIST, "see rank 0's error above", "rank 0 could not encode the prompts");
    return comm->ops->bcast(comm, ctx, bytes, 0);
}

// The storyboard in latent frames. Its ranges count video frames; latent frame
// j decodes to video frame 0 (j = 0) or to 4j-3..4j, and is conditioned as its
// first video frame, max(0, 4j-3), would be: that frame's segment and, with
// --blend N (video frames, centred on each boundary), its blend partner and
// weight (ts_storyboard_frames). So a latent frame whose video frames span two
// segments takes the segment of the first. seg_a, seg_b, alpha (T) for the
// whole video; keep (n): the segments some latent frame uses, in order (*n_keep).
static void wan_story_plan(const struct ts_storyboard * sb, int blend, int64_t T, int * seg_a, int * seg_b,
                           float * alpha, int * keep, int * n_keep) {
    int * used = ts_calloc((size_t)sb->n, sizeof(int));
    for (int64_t j = 0; j < T; j++) {
        ts_storyboard_frames(sb, blend, j == 0 ? 0 : 4 * j - 3, 1, &seg_a[j], &seg_b[j], &alpha[j]);
        used[seg_a[j]] = 1;
        if (alpha[j] > 0.0f) used[seg_b[j]] = 1;
    }
    int * index = ts_calloc((size_t)sb->n, sizeof(int));  // a segment's place among the kept ones
    *n_keep = 0;
    for (int i = 0; i < sb->n; i++)
        if (used[i]) index[i] = *n_keep, keep[(*n_keep)++] = i;
    for (int64_t j = 0; j < T; j++) seg_a[j] = index[seg_a[j]], seg_b[j] = index[seg_b[j]];
    free(index);
    free(used);
}

// The plan on rank 0's log: which latent frames each segment conditions, and the segments none does.
static void wan_story_print(const struct ts_storyboard * sb, const int * seg_a, int64_t T, const int * keep,
                            int n_keep) {
    for (int k = 0, i = 0; i < sb->n; i++) {
        if (k < n_keep && keep[k] == i) {
            int64_t a = -1, b = -1;
            for (int64_t j = 0; j < T; j++)
                if (seg_a[j] == k) b = j, a = a < 0 ? j : a;
            if (a >= 0)
                TS_INFO("  segment %d (video frames %lld-%lld): latent frames %lld-%lld", i + 1,
                        (long long)sb->seg[i].first, (long long)sb->seg[i].last, (long long)a, (long long)b);
            else
                TS_INFO("  segment %d (video frames %lld-%lld): blended into its neighbours only", i + 1,
                        (long long)sb->seg[i].first, (long long)sb->seg[i].last);
            k++;
        } else {
            TS_WARN(
                "storyboard segment %d (video frames %lld-%lld) holds no latent frame's first video frame "
                "(latent frame j covers video frames 4j-3..4j): its prompt is not used",
                i + 1, (long long)sb->seg[i].first, (long long)sb->seg[i].last);
        }
    }
}

static enum ts_status wan_cond_new(const void * model, const struct ts_cond_request * req, const struct ts_shape * sh,
                                   int64_t g0, int64_t Tn, void ** out) {
    struct wan_model * m = (struct wan_model *)model;  // the encoder is loaded and freed here
    *out = NULL;
    // refusals first, alike on every rank (nothing collective has started)
    if (req->image)
        return ts_error(TS_ERR_ARG, "leave out --image: Wan2.1 runs text-to-video here",
                        "--image (image-to-video) is not supported for Wan2.1 yet");
    const struct ts_storyboard * sb = req->story;
    const int64_t T = sh->latent_frames;
    struct wan_cond * c = ts_calloc(1, sizeof(*c));
    *out = c;
    int *sa = ts_calloc((size_t)T, sizeof(int)), *sbb = ts_calloc((size_t)T, sizeof(int));
    int * keep = ts_calloc((size_t)sb->n, sizeof(int));
    float * al = ts_calloc((size_t)T, sizeof(float));
    int n_keep = 0;
    wan_story_plan(sb, req->blend, T, sa, sbb, al, keep, &n_keep);
    if (req->rank == 0 && sb->n > 1) wan_story_print(sb, sa, T, keep, n_keep);
    c->seg_a = ts_calloc((size_t)Tn + 1, sizeof(int));
    c->seg_b = ts_calloc((size_t)Tn + 1, sizeof(int));
    c->alpha = ts_calloc((size_t)Tn + 1, sizeof(float));
    memcpy(c->seg_a, sa + g0, (size_t)Tn * sizeof(int));
    memcpy(c->seg_b, sbb + g0, (size_t)Tn * sizeof(int));
    memcpy(c->alpha, al + g0, (size_t)Tn * sizeof(float));
    free(sa), free(sbb), free(al);
    c->n = n_keep + 1;
    c->bias = ts_calloc((size_t)c->n, sizeof(*c->bias));
    // every rank tokenises (the biases are its own), one rank encodes
    struct ts_wan_tokens * t = ts_calloc((size_t)c->n, sizeof(*t));
    enum ts_status st = TS_OK;
    for (int i = 0; i < c->n && st == TS_OK; i++) {
        const char * p = i < c->n - 1 ? sb->seg[keep[i]].prompt : req->negative ? req->negative : "";
        st = ts_wan_tokenize(m->tok, p, &t[i]);
        if (st == TS_OK) c->bias[i] = wan_key_bias(&t[i]);
    }
    free(keep);
    if (st != TS_OK) {  // alike on every rank
        free(t);
        return st;
    }
    const size_t rows = (size_t)TS_WAN_TEXT_LEN * m->dit->cfg.text_dim;
    c->ctx = ts_malloc((size_t)c->n * rows * sizeof(float));
    if (!req->comm || req->rank == 0) st = wan_encode(m, t, c);
    free(t);
    if (req->comm) st = wan_share(req->comm, req->rank, st, c->ctx, (size_t)c->n * rows * sizeof(float));
    return st;
}

// ---- denoiser ---------------------------------------------------------------------------------------

struct wan_dn {
    ts_wan_ws * ws;     // owned
    enum ts_status st;  // of ts_wan_ws_new (reported by the first denoise)
    double wait;        // seconds in the communicator's waits during forwards
};

static void * wan_denoiser_new(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn,
                               const struct ts_denoise_opts * opts) {
    const struct wan_model * m = model;
    (void)opts;
    struct wan_dn * d = ts_calloc(1, sizeof(*d));
    d->st = ts_wan_ws_new(m->dit, sh->latent_frames, g0, Tn, sh->lat_h, sh->lat_w, sh->window, TS_WAN_TEXT_LEN, &d->ws);
    return d;
}

static void wan_denoiser_free(const void * model, void * dn) {
    (void)model;
    struct wan_dn * d = dn;
    if (!d) return;
    ts_wan_ws_free(&d->ws);
    free(d);
}

static enum ts_status wan_denoise(void * dn, const void * model, float * v, const float * x, float t, const void * cond,
                                  enum ts_pass pass, ts_comm_t comm) {
    const struct wan_model * m = model;
    struct wan_dn * d = dn;
    const struct wan_cond * c = cond;
    if (d->st != TS_OK || !d->ws) return d->st != TS_OK ? d->st : TS_ERR_ARG;  // ts_wan_ws_new said why
    double w0 = comm ? comm->wait_seconds : 0.0;
    const size_t rows = (size_t)TS_WAN_TEXT_LEN * m->dit->cfg.text_dim;
    const float * const * bias = (const float * const *)c->bias;
    struct ts_wan_text tx = {c->ctx, bias, c->n - 1, c->seg_a, c->seg_b, c->alpha};  // the storyboard's segments
    TS_ASSERT(pass != TS_PASS_NO_CONTROLS);  // the family takes no controls
    if (pass == TS_PASS_UNCOND) tx = (struct ts_wan_text){c->ctx + (size_t)(c->n - 1) * rows, bias + c->n - 1, 1, NULL, NULL, NULL};
    enum ts_status st = ts_wan_forward_text(d->ws, m->dit, v, x, t, &tx, comm);
    if (comm) d->wait += comm->wait_seconds - w0;
    return st;
}

static double wan_denoiser_wait(const void * dn) { return ((const struct wan_dn *)dn)->wait; }

// ---- decoder -------------------------------------------------------------------------------------------

static int64_t wan_frames_out(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn) {
    (void)model, (void)sh;
    return ts_wan_vae_frames(g0 + Tn) - ts_wan_vae_frames(g0);
}

struct wan_dec {
    ts_wan_vae_dec * d;  // owned
    float * lat;         // owned: latent frames [s, g0 + Tn) (halo, then this rank's)
    int64_t n_lat, next_lat;
    float * buf;         // owned: up to 4 decoded frames (8h, 8w, 3)
    int n_buf, next_buf;
    size_t frame, cell;
};

static void wan_decoder_free(const void * model, void * dec) {
    (void)model;
    struct wan_dec * d = dec;
    if (!d) return;
    ts_wan_vae_dec_free(&d->d);
    free(d->lat);
    free(d->buf);
    free(d);
}

static enum ts_status wan_decoder_new(const void * model, const struct ts_shape * sh, int64_t g0, int64_t Tn,
                                      const float * x, ts_comm_t comm, void ** out) {
    const struct wan_model * m = model;
    struct wan_dec * d = ts_calloc(1, sizeof(*d));
    *out = d;
    d->cell = (size_t)sh->lat_h * sh->lat_w * sh->lat_c;
    d->frame = (size_t)sh->width * sh->height * 3;
    const int64_t s = comm ? ts_wan_vae_range_start(m->vae, g0) : g0;
    d->n_lat = g0 + Tn - s;
    d->lat = ts_malloc((d->n_lat > 0 ? (size_t)d->n_lat : 1) * d->cell * sizeof(float));
    d->buf = ts_malloc(4 * d->frame * sizeof(float));
    if (comm) {
        // the halo [s, g0): every rank's needed range of the video's latents, gathered (collective)
        if (!comm->ops->gather_post)
            return ts_error(TS_ERR_ARG, "run Wan2.1 with the MPI communicator", "the '%s' communicator cannot gather",
                            comm->ops->name);
        const size_t fb = d->cell * sizeof(float);
        memcpy(d->lat + (size_t)(g0 - s) * d->cell, x, (size_t)Tn * fb);
        TS_TRY(comm->ops->gather_post(comm, d->lat, (size_t)g0 * fb, (size_t)Tn * fb, (size_t)s * fb,
                                      (size_t)d->n_lat * fb));
        TS_TRY(comm->ops->gather_wait(comm));
    } else {
        memcpy(d->lat, x, (size_t)Tn * d->cell * sizeof(float));
    }
    TS_TRY(ts_wan_vae_dec_new(m->vae, sh->lat_h, sh->lat_w, &d->d));
    ts_wan_vae_dec_skip_before(d->d, g0 - s);
    return TS_OK;
}

static enum ts_status wan_decode_next(void * dec, const void * model, uint8_t * rgb) {
    (void)model;
    struct wan_dec * d = dec;
    while (d->next_buf >= d->n_buf) {
        TS_ASSERT(d->next_lat < d->n_lat);  // the pipeline asks for frames_out frames only
        d->n_buf = ts_wan_vae_dec_push(d->d, d->lat + (size_t)d->next_lat++ * d->cell, TS_WAN_VAE_MODEL_SPACE, d->buf);
        d->next_buf = 0;
    }
    // as WanPipeline's output_type "np" scaled to uint8: round(255 * clamp((x + 1) / 2, 0, 1))
    const float * f = d->buf + (size_t)d->next_buf++ * d->frame;
    for (size_t i = 0; i < d->frame; i++) {
        float u = f[i] * 0.5f + 0.5f;
        u = u < 0.0f ? 0.0f : u > 1.0f ? 1.0f : u;
        rgb[i] = (uint8_t)lrintf(u * 255.0f);
    }
    return TS_OK;
}

static enum ts_status wan_explain(const void * model, const char * prompt, FILE * f) {
    const struct wan_model * m = model;
    struct ts_wan_tokens * t = ts_calloc(1, sizeof(*t));
    enum ts_status st = ts_wan_tokenize(m->tok, prompt, t);
    if (st == TS_OK) {  // as the default family's: one line per token (its piece, id and weight)
        fprintf(f, "# prompt: \"%s\"\n# %d tokens (with </s>)%s; pieces start a word with U+2581\n", prompt, t->n_valid,
                t->truncated ? ", truncated to 512" : "");
        fprintf(f, "#  pos  %-16s %6s  weight\n", "piece", "id");
        const int unk = ts_wan_tokenizer_unknown_id(m->tok);
        for (int i = 0; i < t->n_valid; i++) {
            const char * p = ts_wan_tokenizer_piece(m->tok, t->ids[i]);
            int cols = 0;  // padded by characters, not bytes (U+2581 is 3 bytes wide in UTF-8)
            for (const char * c = p; *c; c++) cols += ((unsigned char)*c & 0xC0) != 0x80;
            fprintf(f, "  %4d  %s%*s %6d  %6.3g%s\n", i, p, cols < 16 ? 16 - cols : 0, "", t->ids[i], t->weight[i],
                    t->ids[i] == unk ? "  (text no piece covers)" : "");
        }
    }
    free(t);
    return st;
}

// ---- info on a transformer alone ---------------------------------------------------------------

// A Wan2.1 transformer without its pipeline: one .safetensors file, or a diffusers
// transformer/ folder (its config.json names a WanTransformer3DModel).
static int wan_transformer_alone(const char * path) {
    if (!is_dir(path)) return wan_probe(path);
    if (wan_probe(path)) return 0;  // a whole pipeline
    char * cp = path_join(path, "config.json");
    json_t * root = is_file(cp) ? json_load_file(cp, 0, NULL) : NULL;
    const char * cls = root ? json_string_value(json_object_get(root, "_class_name")) : NULL;
    const int yes = cls && !strcmp(cls, "WanTransformer3DModel");
    json_decref(root);
    free(cp);
    return yes;
}

// A stored dtype as info prints the other weights files' ("bf16").
static void dtype_lower(enum ts_st_dtype dt, char out[16]) {
    snprintf(out, 16, "%s", ts_st_dtype_name(dt));
    for (char * q = out; *q; q++) *q = (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
}

// Its config (given or inferred from the shapes), tensors with their stored dtypes,
// and parameters by dtype, from the headers (the weights stay mapped, unread).
static enum ts_status wan_describe_part(const char * path, FILE * f, int * is_part) {
    *is_part = wan_transformer_alone(path);
    if (!*is_part) return TS_OK;
    ts_backend_t be = ts_backend_cpu_new(1);
    ts_wan_model * m = NULL;
    enum ts_status st = ts_wan_load(path, be, &m);
    if (st == TS_OK) {
        const struct ts_wan_config * c = &m->cfg;
        fprintf(f, "# wan transformer %s (%s naming; %s)\n", path, ts_wan_layout_name(m->layout),
                is_dir(path) ? "to generate, give --model the pipeline folder that holds it"
                             : "to generate, it needs --text-encoder and --vae");
        fprintf(f, "  %-16s %s\n", "digest", m->digest);
        fprintf(f, "# config (%s)\n", m->config_path ? m->config_path : "inferred from the tensors' shapes");
        const char * keys[] = {"dim", "ffn_dim", "heads", "head_dim", "layers", "in_channels", "out_channels",
                               "text_dim", "freq_dim"};
        const int vals[] = {c->dim, c->ffn_dim, c->heads, c->head_dim, c->layers, c->in_channels, c->out_channels,
                            c->text_dim, c->freq_dim};
        for (int i = 0; i < 9; i++) fprintf(f, "  %-16s %d\n", keys[i], vals[i]);
        fprintf(f, "  %-16s (%d, %d, %d)\n  %-16s %g\n", "patch", c->patch[0], c->patch[1], c->patch[2], "eps", c->eps);
        const int n = ts_st_count(m->st);
        int64_t total = 0, by_dtype[TS_ST_DTYPE_COUNT] = {0};
        char dt[16];
        fprintf(f, "# tensors (%d)\n", n);
        for (int i = 0; i < n; i++) {
            const struct ts_st_tensor * t = ts_st_at(m->st, i);
            char shape[96] = "(";
            for (int d = 0; d < t->ndim; d++) {
                char x[24];
                snprintf(x, sizeof x, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
                strncat(shape, x, sizeof(shape) - strlen(shape) - 1);
            }
            strncat(shape, ")", sizeof(shape) - strlen(shape) - 1);
            dtype_lower(t->dtype, dt);
            fprintf(f, "  %-44s %-16s %s\n", t->name, shape, dt);
            total += t->numel;
            by_dtype[t->dtype] += t->numel;
        }
        fprintf(f, "# %lld parameters (", (long long)total);
        for (int k = 0, first = 1; k < TS_ST_DTYPE_COUNT; k++) {
            if (!by_dtype[k]) continue;
            dtype_lower((enum ts_st_dtype)k, dt);
            fprintf(f, "%s%s %lld", first ? "" : ", ", dt, (long long)by_dtype[k]);
            first = 0;
        }
        if (m->n_params != total) fprintf(f, "; the model reads %lld", (long long)m->n_params);
        fprintf(f, ")\n");
    }
    ts_wan_free(&m);
    ts_backend_free(&be);
    return st;
}

const struct ts_family ts_family_wan = {
    .name = "wan",
    .probe = wan_probe,
    .load = wan_load,
    .free = wan_free,
    .info = wan_info,
    .defaults = wan_defaults,
    .shape = wan_shape,
    .sampler_new = wan_sampler_new,
    .mem_bytes = wan_mem_bytes,
    .cond_new = wan_cond_new,
    .cond_free = wan_cond_free,
    .denoiser_new = wan_denoiser_new,
    .denoiser_free = wan_denoiser_free,
    .denoise = wan_denoise,
    .denoiser_wait = wan_denoiser_wait,
    .frames_out = wan_frames_out,
    .decoder_new = wan_decoder_new,
    .decoder_free = wan_decoder_free,
    .decode_next = wan_decode_next,
    .explain = wan_explain,
    .describe_part = wan_describe_part,
};
