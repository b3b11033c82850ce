// Fuzz target: what the Wan2.1 loader does with a diffusers directory's JSON
// (transformer/config.json: sizes, patch, norms; model_index.json: classes)
// beside a small valid transformer (tests/fixtures/wan/c1_hd16). The first
// byte chooses the file the rest replaces: even config.json, odd model_index.json.
#include <ftw.h>
#include <sys/stat.h>

#include "backend/registry.h"  // ts_backend_reg_find
#include "fuzz.h"
#include "model/wan/wan.h"  // ts_wan_load

static char dir[64];
static ts_backend_t be;

static int rm_one(const char * p, const struct stat * sb, int type, struct FTW * ftw) { return remove(p); }
static void cleanup(void) {
    ts_backend_free(&be);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void put(const char * name, const uint8_t * data, size_t size) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE * f = fopen(p, "wb");
    if (!f || fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}

static const char model_index[] =
    "{\"_class_name\": \"WanPipeline\", \"transformer\": [\"diffusers\", \"WanTransformer3DModel\"]}\n";
static uint8_t * config;
static size_t config_n;

int LLVMFuzzerInitialize(int * argc, char *** argv) {
    fuzz_quiet();
    snprintf(dir, sizeof dir, "/dev/shm/ts_fuzz_wan_XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/ts_fuzz_wan_XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    char p[256];
    snprintf(p, sizeof p, "%s/transformer", dir);
    mkdir(p, 0700);
#define FX TS_SOURCE_DIR "/tests/fixtures/wan/c1_hd16/transformer"
    snprintf(p, sizeof p, "%s/transformer/diffusion_pytorch_model.safetensors", dir);
    if (symlink(FX "/diffusion_pytorch_model.safetensors", p) != 0) abort();
    FILE * f = fopen(FX "/config.json", "rb");
    if (!f) abort();
    config = malloc(1 << 16);
    config_n = fread(config, 1, 1 << 16, f);
    fclose(f);
    struct ts_backend_init init = {.threads = 1, .dtype = TS_DTYPE_FP32, .device = 0};
    be = ts_backend_reg_find(TS_BACKEND_CPU)->create(&init);
    if (!be) abort();
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    if (size < 1) return 0;
    int index = data[0] & 1;
    put("transformer/config.json", index ? config : data + 1, index ? config_n : size - 1);
    put("model_index.json", index ? data + 1 : (const uint8_t *)model_index, index ? size - 1 : sizeof model_index - 1);
    ts_wan_model * m = NULL;
    enum ts_status st = ts_wan_load(dir, be, &m);
    fuzz_why("wan", st);
    if (st == TS_OK) ts_wan_free(&m);
    return 0;
}
