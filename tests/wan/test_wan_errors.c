// What users get wrong when loading a Wan2.1 transformer: each is one clear
// error (status and message naming the problem, with a hint), never a crash.
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "model/wan/wan.h"
#include "ts_test.h"

static const char * fixtures;
static const char * tmp;
static ts_backend_t be;

static void copy_file(const char * src, const char * dst) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    if (!a || !b) abort();
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
}

static void write_bytes(const char * path, const void * p, size_t n) {
    FILE * f = fopen(path, "wb");
    if (!f) abort();
    fwrite(p, 1, n, f);
    fclose(f);
}

// A fresh copy of fixture config `cfg` as <tmp>/<case>/transformer/...; returns the pipeline dir.
static const char * copy_model(const char * cfg, const char * name) {
    static char dir[1024];
    char src[1024], sub[1100], from[1400], to[1400];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    snprintf(sub, sizeof sub, "%s/transformer", dir);
    mkdir(tmp, 0755);
    mkdir(dir, 0755);
    mkdir(sub, 0755);
    snprintf(src, sizeof src, "%s/%s/transformer", fixtures, cfg);
    DIR * d = opendir(src);
    if (!d) abort();
    struct dirent * e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(from, sizeof from, "%s/%s", src, e->d_name);
            snprintf(to, sizeof to, "%s/%s", sub, e->d_name);
            copy_file(from, to);
        }
    closedir(d);
    return dir;
}

// Sets key to a JSON value (given as JSON text) in the JSON file at path.
static void json_set(const char * path, const char * key, const char * value) {
    json_t * root = json_load_file(path, 0, NULL);
    json_t * v = json_loads(value, JSON_DECODE_ANY, NULL);
    if (!root || !v) abort();
    json_object_set_new(root, key, v);
    json_dump_file(root, path, JSON_INDENT(2));
    json_decref(root);
}

// Loading `path` fails with status `want` and a message containing `needle`.
static void expect_error(const char * name, const char * path, enum ts_status want, const char * needle) {
    ts_error_clear();
    ts_wan_model * m = NULL;
    enum ts_status st = ts_wan_load(path, be, &m);
    char buf[600];
    snprintf(buf, sizeof buf, "%s | hint: %s", ts_last_error(), ts_last_hint());
    int ok = st == want && m == NULL && strstr(ts_last_error(), needle) != NULL && ts_last_hint()[0];
    ts_verdict(name, ok, buf);
    ts_wan_free(&m);
}

int main(int argc, char ** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FIXTURE_DIR TMP_DIR\n", argv[0]);
        return 2;
    }
    fixtures = argv[1];
    tmp = argv[2];
    be = ts_backend_cpu_new(1);
    char p[1400], q[1400];

    // the happy path of a transformer folder given directly, and of model_index.json
    const char * d = copy_model("c1_hd16", "ok");
    snprintf(p, sizeof p, "%s/model_index.json", d);
    const char * idx =
        "{\"_class_name\": \"WanPipeline\", \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"]}";
    write_bytes(p, idx, strlen(idx));
    ts_wan_model * m = NULL;
    ts_verdict("load.pipeline_dir_with_model_index", ts_wan_load(d, be, &m) == TS_OK, ts_last_error());
    ts_wan_free(&m);
    snprintf(p, sizeof p, "%s/transformer", d);
    ts_verdict("load.transformer_dir", ts_wan_load(p, be, &m) == TS_OK, ts_last_error());
    ts_wan_free(&m);

    d = copy_model("c2_hd32", "missing_shard");
    snprintf(p, sizeof p, "%s/transformer/diffusion_pytorch_model-00003-of-00006.safetensors", d);
    unlink(p);
    expect_error("error.missing_shard", d, TS_ERR_IO, "is missing");

    d = copy_model("c2_hd32", "index_names_absent_tensor");
    snprintf(p, sizeof p, "%s/transformer/diffusion_pytorch_model.safetensors.index.json", d);
    json_t * root = json_load_file(p, 0, NULL);
    json_object_set_new(json_object_get(root, "weight_map"), "blocks.7.attn1.to_q.weight",
                        json_string("diffusion_pytorch_model-00001-of-00006.safetensors"));
    json_dump_file(root, p, JSON_INDENT(2));
    json_decref(root);
    expect_error("error.index_names_absent_tensor", d, TS_ERR_FORMAT, "does not hold it");

    d = copy_model("c1_hd16", "misshapen_tensor");
    snprintf(p, sizeof p, "%s/transformer/config.json", d);
    json_set(p, "ffn_dim", "40");
    expect_error("error.misshapen_tensor", d, TS_ERR_MODEL, "expected (40, 32)");

    d = copy_model("c1_hd16", "unknown_class");
    snprintf(p, sizeof p, "%s/transformer/config.json", d);
    json_set(p, "_class_name", "\"FluxTransformer2DModel\"");
    expect_error("error.unknown_class_name", d, TS_ERR_MODEL, "FluxTransformer2DModel");

    d = copy_model("c1_hd16", "image_to_video");
    snprintf(p, sizeof p, "%s/transformer/config.json", d);
    json_set(p, "image_dim", "1280");
    expect_error("error.image_to_video_config", d, TS_ERR_MODEL, "image-to-video");

    d = copy_model("c1_hd16", "other_qk_norm");
    snprintf(p, sizeof p, "%s/transformer/config.json", d);
    json_set(p, "qk_norm", "\"rms_norm\"");
    expect_error("error.qk_norm_per_head", d, TS_ERR_MODEL, "qk_norm 'rms_norm'");

    d = copy_model("c1_hd16", "patch_2x2x2");
    snprintf(p, sizeof p, "%s/transformer/config.json", d);
    json_set(p, "patch_size", "[2, 2, 2]");
    expect_error("error.patch_size", d, TS_ERR_MODEL, "patch size (2, 2, 2)");

    d = copy_model("c1_hd16", "unknown_transformer_in_index");
    snprintf(p, sizeof p, "%s/model_index.json", d);
    const char * idx2 =
        "{\"_class_name\": \"WanPipeline\", \"transformer\": [\"diffusers\", \"SkyReelsV2Transformer3DModel\"]}";
    write_bytes(p, idx2, strlen(idx2));
    expect_error("error.model_index_other_transformer", d, TS_ERR_MODEL, "SkyReelsV2Transformer3DModel");

    // Wan2.2's pipelines name themselves WanPipeline too: a second transformer, a boundary
    // ratio or per-token timesteps say which (diffusers' own null/false entries are Wan2.1)
    const char * w22[][2] = {
        {"{\"_class_name\": \"WanPipeline\", \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"], "
         "\"transformer_2\": [\"diffusers\", \"WanTransformer3DModel\"], \"boundary_ratio\": 0.875}",
         "transformer_2"},
        {"{\"_class_name\": \"WanPipeline\", \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"], "
         "\"transformer_2\": [null, null], \"boundary_ratio\": 0.9}",
         "boundary_ratio"},
        {"{\"_class_name\": \"WanPipeline\", \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"], "
         "\"boundary_ratio\": null, \"expand_timesteps\": true}",
         "expand_timesteps"},
    };
    for (int i = 0; i < 3; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "wan22_%d", i);
        d = copy_model("c1_hd16", nm);
        snprintf(p, sizeof p, "%s/model_index.json", d);
        write_bytes(p, w22[i][0], strlen(w22[i][0]));
        snprintf(nm, sizeof nm, "error.wan22_%s", w22[i][1]);
        expect_error(nm, d, TS_ERR_MODEL, w22[i][1]);
    }
    d = copy_model("c1_hd16", "wan21_index_nulls");  // as diffusers writes a Wan2.1 pipeline's
    snprintf(p, sizeof p, "%s/model_index.json", d);
    const char * idx21 = "{\"_class_name\": \"WanPipeline\", \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"], "
                         "\"transformer_2\": [null, null], \"boundary_ratio\": null, \"expand_timesteps\": false}";
    write_bytes(p, idx21, strlen(idx21));
    ts_verdict("load.model_index_wan21_nulls", ts_wan_load(d, be, &m) == TS_OK, ts_last_error());
    ts_wan_free(&m);

    d = copy_model("c1_hd16", "missing_component");
    snprintf(p, sizeof p, "%s/transformer/diffusion_pytorch_model.safetensors", d);
    unlink(p);
    expect_error("error.no_transformer_weights", d, TS_ERR_IO, "no transformer weights");

    d = copy_model("c1_hd16", "bin_weights");  // diffusers' pickled weights instead of safetensors
    snprintf(p, sizeof p, "%s/transformer/diffusion_pytorch_model.safetensors", d);
    snprintf(q, sizeof q, "%s/transformer/diffusion_pytorch_model.bin", d);
    rename(p, q);
    expect_error("error.diffusers_bin_pickle", d, TS_ERR_FORMAT, "PyTorch pickle");

    d = copy_model("c1_hd16", "missing_tensor");  // a single file that lacks one block tensor
    snprintf(p, sizeof p, "%s/transformer/config.json", d);
    json_set(p, "num_layers", "2");
    expect_error("error.missing_tensor", d, TS_ERR_MODEL, "no tensor 'blocks.1.attn1.to_q.weight'");

    snprintf(p, sizeof p, "%s/model.pth", tmp);
    write_bytes(p, "PK\x03\x04pickle-in-a-zip", 20);
    expect_error("error.pth_pickle", p, TS_ERR_FORMAT, "PyTorch pickle");
    ts_verdict("error.pth_hint_names_converter", strstr(ts_last_hint(), "tools/wan/pth_to_safetensors.py") != NULL,
               ts_last_hint());

    snprintf(p, sizeof p, "%s/model.gguf", tmp);
    write_bytes(p, "GGUF\x03\0\0\0", 8);
    expect_error("error.gguf", p, TS_ERR_FORMAT, "GGUF");

    // an fp8 safetensors file
    const char * hdr =
        "{\"blocks.0.self_attn.q.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[2,2],\"data_offsets\":[0,4]}}";
    size_t hl = strlen(hdr);
    unsigned char buf[256] = {0};
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((hl >> (8 * i)) & 0xff);
    memcpy(buf + 8, hdr, hl);
    snprintf(p, sizeof p, "%s/fp8.safetensors", tmp);
    write_bytes(p, buf, 8 + hl + 4);
    expect_error("error.fp8", p, TS_ERR_FORMAT, "fp8");

    snprintf(q, sizeof q, "%s/absent", tmp);
    expect_error("error.no_such_path", q, TS_ERR_IO, "cannot open");

    // a file that is not a Wan transformer (the project's own tiny model)
    snprintf(p, sizeof p, "%s/../tiny.safetensors", fixtures);
    expect_error("error.not_wan", p, TS_ERR_MODEL, "holds no Wan transformer");

    // the video's size rules
    int64_t T;
    int h, w;
    ts_error_clear();
    ts_verdict("video.81_frames_832x480_21_ranks",
               ts_wan_check_video(81, 832, 480, 21, &T, &h, &w) == TS_OK && T == 21 && h == 60 && w == 104,
               ts_last_error());
    ts_verdict("video.480x832_1_frame", ts_wan_check_video(1, 480, 832, 1, &T, &h, &w) == TS_OK && T == 1 && h == 104,
               ts_last_error());
    struct {
        int64_t frames;
        int width, height, ranks;
        const char *needle, *hint, *name;
    } bad[] = {
        {80, 832, 480, 1, "80 is not one", "77 or 81", "video.frames_not_4k+1"},
        {0, 832, 480, 1, "0 is not one", "81", "video.zero_frames"},
        {2147483647, 832, 480, 1, "2147483647 is not one", "use --frames 2147483645", "video.frames_at_the_limit"},
        {81, 840, 480, 1, "not 840x480", "--width 832", "video.width_not_multiple_of_16"},
        {81, 832, 488, 1, "not 832x488", "--height 480", "video.height_not_multiple_of_16"},
        {9, 832, 480, 4, "4 ranks for 9 frames (3 latent frames)", "at most 3 ranks",
         "video.more_ranks_than_latent_frames"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ts_error_clear();
        enum ts_status st = ts_wan_check_video(bad[i].frames, bad[i].width, bad[i].height, bad[i].ranks, &T, &h, &w);
        char buf[400];
        snprintf(buf, sizeof buf, "%s | hint: %s", ts_last_error(), ts_last_hint());
        ts_verdict(bad[i].name,
                   st == TS_ERR_ARG && strstr(ts_last_error(), bad[i].needle) && strstr(ts_last_hint(), bad[i].hint),
                   buf);
    }
    ts_error_clear();  // at the command line's limit the next valid count is beyond it: not offered
    ts_wan_check_video(2147483647, 832, 480, 1, &T, &h, &w);
    ts_verdict("video.frames_hint_within_the_limit", !strstr(ts_last_hint(), "2147483649"), ts_last_hint());

    ts_backend_free(&be);
    return ts_test_finish("test_wan_errors");
}
