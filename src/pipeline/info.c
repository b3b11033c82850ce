// timeshard info: a weights file's config, tensors and digest (a model of another
// family, or a part of one, as its family describes it), a latents / checkpoint
// file's shape and attributes, or a frames file's size and rate;
// timeshard devices; --explain-prompt.
#include <errno.h>
#include <hdf5.h>
#include <math.h>  // isfinite
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>  // access

#include "core/common.h"
#include "io/latents.h"
#include "io/weights.h"
#include "backend/registry.h"  // ts_backend_regs: timeshard devices
#include "model/family.h"      // the prompt explained by the model's family

static const char * CONFIG_KEYS[] = {
    "label", "text_len", "text_dim", "text_layers", "text_heads", "image_size", "vae_factor", "latent_channels",
    "vae_channels", "vae_groups", "vae_scale", "patch", "width", "depth", "heads", "mlp_ratio", "temporal_window",
    "causal", "rope_theta", "freq_dim", "shift", "default_steps", "default_cfg", "fps", "train_frames", "controls", NULL};

static int info_weights(ts_weights * w, const char * path) {
    printf("# weights file %s\n", path);
    char hex[65];
    if (ts_file_sha256(path, hex) == TS_OK) printf("sha256      %s\n", hex);
    printf("# config\n");
    for (int i = 0; CONFIG_KEYS[i]; i++) {
        if (!ts_weights_config_has(w, CONFIG_KEYS[i])) continue;
        char s[512];
        double f;
        if (ts_weights_config_str(w, CONFIG_KEYS[i], s, sizeof(s)) == TS_OK) printf("  %-16s %s\n", CONFIG_KEYS[i], s);
        else if ((ts_error_clear(), ts_weights_config_float(w, CONFIG_KEYS[i], &f)) == TS_OK)
            printf("  %-16s %g\n", CONFIG_KEYS[i], f);
        ts_error_clear();
    }
    const char * const * words = NULL;
    int nv = 0;
    if (ts_weights_vocab(w, &words, &nv) == TS_OK) {
        printf("# vocabulary (%d words)\n  ", nv);
        for (int i = 0; i < nv; i++) printf("%s%s", words[i], i + 1 < nv ? " " : "\n");
    }
    int n = ts_weights_count(w);
    int64_t total = 0;
    printf("# tensors (%d)\n", n);
    for (int i = 0; i < n; i++) {
        int nd = 0;
        int64_t sh[TS_WEIGHTS_MAX_DIMS] = {0};
        const char * dtype = "";
        const char * name = ts_weights_name(w, i, &nd, sh, &dtype);
        int64_t k = 1;
        char shape[96] = "(";
        for (int d = 0; d < nd; d++) {
            k *= sh[d];
            char t[24];
            snprintf(t, sizeof(t), "%s%lld", d ? ", " : "", (long long)sh[d]);
            strncat(shape, t, sizeof(shape) - strlen(shape) - 1);
        }
        strncat(shape, ")", sizeof(shape) - strlen(shape) - 1);
        total += k;
        printf("  %-44s %-16s %s\n", name, shape, dtype);
    }
    printf("# %lld parameters\n", (long long)total);
    return 0;
}

// A model of a family other than the default one (a Wan2.1 directory, ...): what
// its family says of it once loaded.
static int info_family(const struct ts_family * fam, const char * path) {
    ts_backend_t be = ts_backend_cpu_new(1);
    void * model = NULL;
    enum ts_status st = fam->load(path, NULL, be, &model);
    if (st == TS_OK) {
        struct ts_family_info in;
        struct ts_family_defaults df;
        fam->info(model, &in);
        fam->defaults(model, &df);
        printf("# %s model %s\n", fam->name, path);
        printf("  %-16s %s\n  %-16s %s\n  %-16s %.3fM\n", "label", in.label, "digest", in.digest, "parameters",
               in.n_params / 1e6);
        printf("  %-16s %d\n  %-16s %g\n  %-16s %g\n  %-16s %g\n", "default_steps", df.steps, "default_cfg", df.cfg,
               "fps", df.fps, "shift", df.shift);
        struct ts_shape sh;
        if (fam->shape(model, 0, 0, 0, 0, &sh) == TS_OK)
            printf("  %-16s %lld frames, %dx%d pixels, latents (%lld, %d, %d, %d)\n", "default_video",
                   (long long)sh.frames, sh.width, sh.height, (long long)sh.latent_frames, sh.lat_h, sh.lat_w, sh.lat_c);
    }
    if (model) fam->free(model);
    ts_backend_free(&be);
    return st == TS_OK ? 0 : ts_print_last_error();
}

// The float width of a file's /latents (32 when it cannot be told; 0 when the file has
// no /latents dataset).
static int latents_bits(const char * path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int bits = 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return bits;
    hid_t d = H5Lexists(f, "latents", H5P_DEFAULT) > 0 ? H5Dopen2(f, "latents", H5P_DEFAULT) : H5I_INVALID_HID;
    if (d >= 0) {
        bits = 32;
        hid_t t = H5Dget_type(d);
        if (t >= 0) bits = (int)H5Tget_size(t) * 8, H5Tclose(t);
        H5Dclose(d);
    }
    H5Fclose(f);
    return bits;
}

// The frames file 'generate --out FILE.h5' writes (io/frames.h): /frames uint8
// (T, H, W, 3) RGB with an `fps` attribute. -1 when the file has no /frames
// (nothing printed); else the command's exit status.
static int info_frames(const char * path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    hid_t d = H5Lexists(f, "frames", H5P_DEFAULT) > 0 ? H5Dopen2(f, "frames", H5P_DEFAULT) : H5I_INVALID_HID;
    int rc = -1;
    if (d >= 0) {
        hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
        hsize_t dims[4] = {0, 0, 0, 0};
        const int ok = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1 && H5Sget_simple_extent_ndims(sp) == 4 &&
                       H5Sget_simple_extent_dims(sp, dims, NULL) == 4 && dims[3] == 3;
        double fps = 0;
        int has_fps = 0;
        hid_t a = H5Aexists(d, "fps") > 0 ? H5Aopen(d, "fps", H5P_DEFAULT) : H5I_INVALID_HID;
        if (a >= 0) {
            hid_t as = H5Aget_space(a), at = H5Aget_type(a);
            has_fps = H5Tget_class(at) == H5T_FLOAT && H5Sget_simple_extent_npoints(as) == 1 &&
                      H5Aread(a, H5T_NATIVE_DOUBLE, &fps) >= 0 && fps > 0 && isfinite(fps);
            H5Tclose(at), H5Sclose(as), H5Aclose(a);
        }
        if (!ok) {
            ts_error(TS_ERR_FORMAT, "frames files are written by 'timeshard generate --out FILE.h5'",
                     "file '%s': /frames is not uint8 (T, H, W, 3) RGB frames", path);
            rc = ts_print_last_error();
        } else {
            const long long T = (long long)dims[0];
            printf("# frames %s\n", path);
            printf("  frames           %lld\n  size             %llux%llu pixels\n", T, (unsigned long long)dims[2],
                   (unsigned long long)dims[1]);
            if (has_fps)
                printf("  fps              %g\n  duration         %.3f s\n", fps, T / fps);
            else
                printf("  fps              (no usable 'fps' attribute)\n");
            printf("  dataset          /frames uint8 (%lld, %llu, %llu, 3) RGB\n", T, (unsigned long long)dims[1],
                   (unsigned long long)dims[2]);
            rc = 0;
        }
        H5Sclose(sp), H5Tclose(t), H5Dclose(d);
    }
    H5Fclose(f);
    return rc;
}

int ts_info_command(const char * path) {
    ts_error_clear();
    if (access(path, R_OK) != 0) {
        ts_error(TS_ERR_IO, "check the path", "cannot open '%s': %s", path, strerror(errno));
        return ts_print_last_error();
    }
    // a part of a model its family does not load alone (a Wan2.1 transformer): described by the family
    int n_fam = 0;
    const struct ts_family * const * fams = ts_families(&n_fam);
    for (int i = 0; i < n_fam; i++) {
        int is_part = 0;
        if (!fams[i]->describe_part) continue;
        enum ts_status pst = fams[i]->describe_part(path, stdout, &is_part);
        if (is_part) return pst == TS_OK ? 0 : ts_print_last_error();
    }
    const struct ts_family * fam = ts_family_for_path(path);
    if (fam && fam != &ts_family_stdit) return info_family(fam, path);
    ts_error_clear();
    ts_weights * w = NULL;
    enum ts_status st = ts_weights_open(path, &w);
    if (st == TS_OK) {
        int rc = info_weights(w, path);
        ts_weights_close(&w);
        return rc;
    }
    if (st == TS_ERR_IO) return ts_print_last_error();
    // not weights: latents or checkpoint?
    char werr[1024];
    snprintf(werr, sizeof(werr), "%s", ts_last_error());
    ts_error_clear();
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) MPI_Init(NULL, NULL);
    int64_t T = 0;
    int h = 0, wd = 0, c = 0;
    struct ts_latents_meta meta;
    st = ts_latents_read(path, MPI_COMM_SELF, &T, &h, &wd, &c, 0, 0, NULL, &meta);
    int rc = 0;
    if (st == TS_OK) {
        printf("# %s %s\n", meta.step >= 0 ? "checkpoint" : "latents", path);
        printf("  latents          (%lld, %d, %d, %d) float%d\n", (long long)T, h, wd, c, latents_bits(path));
        printf("  prompt           %s\n", meta.prompt);
        if (!strcmp(meta.noise, "file"))  // the seed was not used (and is not recorded)
            printf("  noise            from the file '%s' (--noise), sha256 %s\n", meta.noise_file, meta.noise_sha256);
        else
            printf("  seed             %llu\n", (unsigned long long)meta.seed);
        printf("  steps            %lld\n  cfg              %g\n  fps              %g\n", (long long)meta.steps,
               meta.cfg, meta.fps);
        if (meta.step >= 0) printf("  step             %lld\n", (long long)meta.step);
        struct ts_lat_group g = {.name = "sampler", .n_str = 2};
        g.str[0].name = "sampler", g.str[1].name = "config";
        int found = 0;
        int has_state = meta.step >= 0 && ts_latents_read_group(path, MPI_COMM_SELF, 0, 0, &g, &found) == TS_OK;
        if (meta.sampler[0])  // files since the sampler was recorded with the latents
            printf("  sampler          %s%s\n  shift            %g\n", meta.sampler_config,
                   has_state && found ? " (its multistep state in /sampler)" : "", meta.shift);
        else if (has_state)
            printf("  sampler          %s\n", found ? g.str[1].value : "no multistep state (an euler run's)");
        ts_error_clear();
        printf("  model_digest     %s\n  timeshard        %s\n", meta.model_digest, meta.version);
    } else if (latents_bits(path) > 0) {  // a latents file, but not a sound one: its own error
        rc = ts_print_last_error();
    } else {
        ts_error_clear();
        rc = info_frames(path);  // the frames of 'generate --out FILE.h5'? (-1: not those either)
        if (rc < 0) {
            ts_error(TS_ERR_FORMAT,
                     "timeshard info reads weights (HDF5, safetensors), latents/checkpoint HDF5 files and the "
                     "frames files of 'generate --out FILE.h5'",
                     "'%s' is neither a weights file (%s) nor a latents or frames file", path, werr);
            rc = ts_print_last_error();
        }
    }
    MPI_Finalize();
    return rc;
}

void ts_devices_print(FILE * f) {
    int n = 0;
    const struct ts_backend_reg * const * regs = ts_backend_regs(&n);
    fprintf(f, "# backend  device\n");
    for (int i = 0; i < n; i++) regs[i]->describe(f);
    if (!ts_backend_reg_find(TS_BACKEND_CUDA)) fprintf(f, "  cuda     not built (configure with -DTS_CUDA=ON)\n");
}

enum ts_status ts_prompt_explain_model(const char * model_path, const char * prompt, FILE * f) {
    ts_error_clear();
    const char * path = model_path ? model_path : ts_default_model_path();
    if (!path) return ts_error(TS_ERR_IO, "pass --model PATH", "the default model was not found");
    const struct ts_family * fam = ts_family_for_path(path);
    if (!fam) return TS_ERR_FORMAT;
    if (!fam->explain)
        return ts_error(TS_ERR_ARG, NULL, "--explain-prompt is not available for %s models", fam->name);
    ts_backend_t be = ts_backend_cpu_new(1);
    void * model = NULL;
    enum ts_status st = fam->load(path, NULL, be, &model);
    if (st == TS_OK) st = fam->explain(model, prompt, f);
    if (model) fam->free(model);
    ts_backend_free(&be);
    return st;
}
