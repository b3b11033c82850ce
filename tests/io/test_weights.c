// Tests of src/io/weights.c: the HDF5 and safetensors fixtures written by
// make_fixtures.py (values known from first principles), every kind of broken
// file, and ts_file_sha256 against known digests and sha256sum.
// usage: test_io_weights DATA_DIR TMP_DIR
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/weights.h"
#include "ts_test.h"

static char tmpdir[1024];

static const char * tmp_path(const char * name) {
    static char buf[8][1200];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

// Checks the tensors both fixtures share.
static void check_common_tensors(const ts_weights * w, const char * kind) {
    float buf[64];
    int64_t s34[2] = {3, 4}, s43[2] = {4, 3}, s23[2] = {2, 3}, s4[1] = {4}, s2222[4] = {2, 2, 2, 2};

    CHECK_OK(ts_weights_read(w, "blocks.0.attn_s.qkv.weight", 2, s34, buf), "%s read f32 (3, 4)", kind);
    int ok = 1;
    for (int i = 0; i < 12; i++) ok &= buf[i] == (float)i - 5.5f;
    VERDICT(ok, "%s f32 tensor == arange(12) - 5.5", kind);

    CHECK_OK(ts_weights_read(w, "blocks.0.attn_s.qkv.bias", 2, s23, buf), "%s read f16 (2, 3)", kind);
    ok = 1;
    for (int i = 0; i < 6; i++) ok &= buf[i] == (float)i * 0.5f - 1.0f;
    VERDICT(ok, "%s f16 tensor == arange(6) * 0.5 - 1", kind);

    CHECK_OK(ts_weights_read(w, "final.scale", 1, s4, buf), "%s read f16 extremes", kind);
    VERDICT(buf[0] == 65504.0f && buf[1] == ldexpf(1.0f, -24) && buf[2] == 0.0f && signbit(buf[2]) &&
              buf[3] == 1365.0f / 4096.0f,
          "%s f16 65504, 2^-24, -0, 1/3 -> %.9g %.9g %.9g %.9g", kind, buf[0], buf[1], buf[2], buf[3]);

    CHECK_OK(ts_weights_read(w, "patch.weight", 4, s2222, buf), "%s read f32 (2, 2, 2, 2)", kind);
    ok = 1;
    for (int i = 0; i < 16; i++) ok &= buf[i] == (float)i;
    VERDICT(ok, "%s 4-D tensor == arange(16)", kind);

    VERDICT(ts_weights_has(w, "final.scale") && !ts_weights_has(w, "final"), "%s ts_weights_has", kind);
    CHECK_ERR(ts_weights_read(w, "blocks.3.attn_t.qkv.w", 2, s34, buf), TS_ERR_MODEL, "has no tensor 'blocks.3.attn_t.qkv.w'",
              "missing tensor");
    ts_error_clear();
    enum ts_status st = ts_weights_read(w, "blocks.0.attn_s.qkv.weight", 2, s43, buf);
    const char * m = ts_last_error();
    VERDICT(st == TS_ERR_MODEL && strstr(m, "'blocks.0.attn_s.qkv.weight'") && strstr(m, "(3, 4)") && strstr(m, "(4, 3)") &&
              ts_last_hint()[0],
          "%s wrong shape names tensor and both shapes: %s", kind, m);
    ts_error_clear();

    // config
    int64_t iv = 0;
    double fv = 0;
    char sv[64];
    CHECK_OK(ts_weights_config_int(w, "depth", &iv), "config_int depth");
    VERDICT(iv == 2, "%s depth == 2 (%lld)", kind, (long long)iv);
    CHECK_OK(ts_weights_config_int(w, "width", &iv), "config_int width");
    VERDICT(iv == 64, "%s width == 64", kind);
    CHECK_OK(ts_weights_config_float(w, "shift", &fv), "config_float shift");
    VERDICT(fv == 3.5, "%s shift == 3.5", kind);
    CHECK_OK(ts_weights_config_float(w, "depth", &fv), "config_float of an int");
    VERDICT(fv == 2.0, "%s depth as float == 2", kind);
    CHECK_OK(ts_weights_config_int(w, "rope_theta", &iv), "config_int of an integral float");
    VERDICT(iv == 10000, "%s rope_theta as int == 10000", kind);
    CHECK_ERR(ts_weights_config_int(w, "shift", &iv), TS_ERR_MODEL, "'shift'", "config_int of 3.5");
    CHECK_OK(ts_weights_config_str(w, "name", sv, sizeof sv), "config_str name");
    VERDICT(strcmp(sv, "tiny-test") == 0, "%s name == tiny-test ('%s')", kind, sv);
    CHECK_ERR(ts_weights_config_int(w, "heads", &iv), TS_ERR_MODEL, "'heads'", "missing config key");
    VERDICT(ts_weights_config_has(w, "depth") && !ts_weights_config_has(w, "heads"), "%s config_has", kind);

    const char * const * words = NULL;
    int n = 0;
    CHECK_OK(ts_weights_vocab(w, &words, &n), "vocab");
    VERDICT(n == 6 && strcmp(words[0], "<pad>") == 0 && strcmp(words[3], "circle") == 0 &&
              strcmp(words[4], "caf\xc3\xa9") == 0 && strcmp(words[5], "moving") == 0,
          "%s vocab: 6 words, UTF-8 kept", kind);
}

static void test_hdf5(const char * data) {
    printf("HDF5 weights\n");
    char path[1200];
    snprintf(path, sizeof path, "%s/tiny_weights.h5", data);
    ts_weights * w = NULL;
    CHECK_OK(ts_weights_open(path, &w), "open tiny_weights.h5");
    if (!w) return;
    check_common_tensors(w, "h5");
    VERDICT(ts_weights_count(w) == 4, "h5 4 tensors (%d)", ts_weights_count(w));
    int ndim = 0;
    int64_t shape[TS_WEIGHTS_MAX_DIMS] = {0};
    const char * dtype = "";
    const char * name = ts_weights_name(w, 0, &ndim, shape, &dtype);
    VERDICT(name && strcmp(name, "blocks.0.attn_s.qkv.bias") == 0 && ndim == 2 && shape[0] == 2 && shape[1] == 3 &&
                strcmp(dtype, "f16") == 0,
          "h5 tensor 0 is the f16 (2, 3) bias (sorted by name)");
    VERDICT(ts_weights_name(w, 4, NULL, NULL, NULL) == NULL, "h5 tensor index past the end -> NULL");
    VERDICT(strcmp(ts_weights_path(w), path) == 0, "h5 path kept");
    ts_weights_close(&w);
    VERDICT(w == NULL, "close sets the handle to NULL");

    // broken files
    CHECK_ERR(ts_weights_open(tmp_path("no_such.h5"), &w), TS_ERR_IO, "no_such.h5", "missing file");
    VERDICT(w == NULL, "no handle after a failed open");

    FILE * f = fopen(path, "rb");
    static char whole[1 << 16];
    size_t n = f ? fread(whole, 1, sizeof whole, f) : 0;
    if (f) fclose(f);
    VERDICT(n > 2048 && n < sizeof whole, "fixture read (%zu bytes)", n);
    ts_test_write_file(tmp_path("trunc_half.h5"), whole, n / 2);
    CHECK_ERR(ts_weights_open(tmp_path("trunc_half.h5"), &w), TS_ERR_FORMAT, "truncated", "HDF5 truncated to half");
    ts_test_write_file(tmp_path("trunc_tail.h5"), whole, n - 16);
    CHECK_ERR(ts_weights_open(tmp_path("trunc_tail.h5"), &w), TS_ERR_FORMAT, "truncated", "HDF5 missing its last 16 bytes");
    ts_test_write_file(tmp_path("trunc_100.h5"), whole, 100);
    CHECK_ERR(ts_weights_open(tmp_path("trunc_100.h5"), &w), TS_ERR_FORMAT, "trunc_100.h5", "HDF5 truncated to 100 bytes");
    ts_test_write_file(tmp_path("trunc_8.h5"), whole, 8);
    CHECK_ERR(ts_weights_open(tmp_path("trunc_8.h5"), &w), TS_ERR_FORMAT, "trunc_8.h5", "HDF5 signature only");
    ts_test_write_file(tmp_path("garbage.bin"), "this is not a model file at all\n", 32);
    CHECK_ERR(ts_weights_open(tmp_path("garbage.bin"), &w), TS_ERR_FORMAT, "neither HDF5 nor safetensors", "garbage file");
    ts_test_write_file(tmp_path("empty.bin"), "", 0);
    CHECK_ERR(ts_weights_open(tmp_path("empty.bin"), &w), TS_ERR_FORMAT, "empty.bin", "empty file");
    VERDICT(w == NULL, "no handle after failed opens");
}

static void test_safetensors_good(const char * data) {
    printf("safetensors weights\n");
    char path[1200];
    snprintf(path, sizeof path, "%s/tiny_weights.safetensors", data);
    ts_weights * w = NULL;
    CHECK_OK(ts_weights_open(path, &w), "open tiny_weights.safetensors");
    if (!w) return;
    check_common_tensors(w, "st");
    float buf[4];
    int64_t s22[2] = {2, 2};
    CHECK_OK(ts_weights_read(w, "bf.weight", 2, s22, buf), "st read BF16 (2, 2)");
    VERDICT(buf[0] == 1.0f && buf[1] == -2.0f && buf[2] == 0.5f && buf[3] == 3.0f, "st bf16 == [1, -2, 0.5, 3]");
    VERDICT(ts_weights_count(w) == 5, "st 5 tensors");
    ts_weights_close(&w);
}

// Writes a safetensors file: header length `hlen` (the JSON's length when
// UINT64_MAX), the JSON, then `ndata` bytes of data.
static const char * write_st(const char * name, const char * json, uint64_t hlen, size_t ndata) {
    const char * p = tmp_path(name);
    size_t jn = strlen(json);
    if (hlen == UINT64_MAX) hlen = jn;
    size_t n = 8 + jn + ndata;
    unsigned char * b = calloc(1, n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, json, jn);
    for (size_t i = 0; i < ndata; i++) b[8 + jn + i] = (unsigned char)i;
    ts_test_write_file(p, b, n);
    free(b);
    return p;
}

static void test_safetensors_bad(void) {
    printf("broken safetensors\n");
    ts_weights * w = NULL;
    const uint64_t L = UINT64_MAX;
    const char * good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    float buf[4];
    int64_t s22[2] = {2, 2};
    CHECK_OK(ts_weights_open(write_st("ok.safetensors", good, L, 16), &w), "minimal good file");
    CHECK_OK(w ? ts_weights_read(w, "a", 2, s22, buf) : TS_ERR_ARG, "read it");
    VERDICT(w && ts_weights_vocab(w, &(const char * const *){NULL}, &(int){0}) == TS_ERR_MODEL, "no vocab -> error");
    ts_error_clear();
    ts_weights_close(&w);

    ts_test_write_file(tmp_path("short.safetensors"), "\x10\x00\x00", 3);
    CHECK_ERR(ts_weights_open(tmp_path("short.safetensors"), &w), TS_ERR_FORMAT, NULL, "3-byte file");
    CHECK_ERR(ts_weights_open(write_st("trunc_json.safetensors", "{\"a\":{\"dtype\":\"F32\",\"sha", L, 0), &w), TS_ERR_FORMAT,
              "bad JSON", "truncated JSON header");
    CHECK_ERR(ts_weights_open(write_st("past_eof.safetensors", good, 4000, 16), &w), TS_ERR_FORMAT, "past the end of the file",
              "header length past EOF");
    CHECK_ERR(ts_weights_open(write_st("absurd_len.safetensors", good, (uint64_t)1 << 62, 16), &w), TS_ERR_FORMAT, "absurd",
              "absurd header length");
    CHECK_ERR(ts_weights_open(write_st("past_end.safetensors",
                                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}",
                                       L, 20),
                              &w),
              TS_ERR_FORMAT, "past the end of the data", "offsets past end");
    CHECK_ERR(ts_weights_open(write_st("absurd_shape.safetensors",
                                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[4000000000,4000000000,4000000000],"
                                       "\"data_offsets\":[0,16]}}",
                                       L, 16),
                              &w),
              TS_ERR_FORMAT, "absurd shape", "absurd shape (overflow)");
    CHECK_ERR(ts_weights_open(write_st("huge_dim.safetensors",
                                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,16]}}",
                                       L, 16),
                              &w),
              TS_ERR_FORMAT, "absurd shape", "dimension past int64");
    CHECK_ERR(ts_weights_open(write_st("neg_dim.safetensors",
                                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2,2],\"data_offsets\":[0,16]}}", L, 16),
                              &w),
              TS_ERR_FORMAT, "absurd shape", "negative dimension");
    CHECK_ERR(ts_weights_open(write_st("size_shape.safetensors",
                                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", L, 16),
                              &w),
              TS_ERR_FORMAT, "needs 16", "size inconsistent with dtype*shape");
    CHECK_ERR(ts_weights_open(write_st("f16_size.safetensors",
                                       "{\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", L, 16),
                              &w),
              TS_ERR_FORMAT, "needs 8", "F16 size inconsistent");
    CHECK_ERR(ts_weights_open(write_st("backwards.safetensors",
                                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", L, 16),
                              &w),
              TS_ERR_FORMAT, "begin > end", "offsets begin > end");
    CHECK_ERR(ts_weights_open(write_st("dtype.safetensors",
                                       "{\"a\":{\"dtype\":\"I8\",\"shape\":[16],\"data_offsets\":[0,16]}}", L, 16),
                              &w),
              TS_ERR_FORMAT, "unsupported dtype 'I8'", "unknown dtype");
    CHECK_ERR(ts_weights_open(write_st("dup.safetensors",
                                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                                       L, 16),
                              &w),
              TS_ERR_FORMAT, "tensor 'a' twice", "duplicate tensor names");
    CHECK_ERR(ts_weights_open(write_st("badjson.safetensors", "{\"a\": }", L, 0), &w), TS_ERR_FORMAT, "bad JSON",
              "bad JSON value");
    CHECK_ERR(ts_weights_open(write_st("trailing.safetensors", "{} {}", L, 0), &w), TS_ERR_FORMAT, "trailing", "trailing JSON");
    CHECK_ERR(ts_weights_open(write_st("notobj.safetensors", "[1, 2]", L, 0), &w), TS_ERR_FORMAT, "start with '{'",
              "header not an object");
    CHECK_ERR(ts_weights_open(write_st("notobj2.safetensors", "{\"a\": 5}", L, 0), &w), TS_ERR_FORMAT, "not an object",
              "entry not an object");
    CHECK_ERR(ts_weights_open(write_st("meta.safetensors", "{\"__metadata__\":{\"depth\":2}}", L, 0), &w), TS_ERR_FORMAT,
              "not a string", "metadata value not a string");
    CHECK_ERR(ts_weights_open(write_st("nodtype.safetensors", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", L, 8), &w),
              TS_ERR_FORMAT, "lacks 'dtype'", "entry without dtype");
    char deep[600] = "";
    for (int i = 0; i < 100; i++) strcat(deep, "{\"a\":");
    CHECK_ERR(ts_weights_open(write_st("deep.safetensors", deep, L, 0), &w), TS_ERR_FORMAT, "too deep", "deep nesting");
    VERDICT(w == NULL, "no handle after failed opens");

    // escapes and spaces the reference writer pads with
    CHECK_OK(ts_weights_open(write_st("escapes.safetensors",
                                      "{\"__metadata__\":{\"name\":\"caf\\u00e9 \\\"q\\\" \\ud83d\\ude00\",\"vocab\":\"a\\nb\"},"
                                      "\"x.y\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}        ",
                                      L, 4),
                             &w),
             "JSON escapes, scalar tensor, trailing spaces");
    if (w) {
        char s[64];
        const char * const * words;
        int n;
        ts_weights_config_str(w, "name", s, sizeof s);
        VERDICT(strcmp(s, "caf\xc3\xa9 \"q\" \xf0\x9f\x98\x80") == 0, "\\u escapes decode to UTF-8 ('%s')", s);
        VERDICT(ts_weights_vocab(w, &words, &n) == TS_OK && n == 2 && strcmp(words[1], "b") == 0, "vocab split on newlines");
        VERDICT(ts_weights_has(w, "x.y"), "scalar tensor listed");
        ts_weights_close(&w);
    }
}

static void test_sha256(void) {
    printf("sha256\n");
    char hex[65];
    ts_test_write_file(tmp_path("abc.txt"), "abc", 3);
    CHECK_OK(ts_file_sha256(tmp_path("abc.txt"), hex), "sha256 of 'abc'");
    VERDICT(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "FIPS 180-2 vector: %s", hex);
    ts_test_write_file(tmp_path("empty.txt"), "", 0);
    CHECK_OK(ts_file_sha256(tmp_path("empty.txt"), hex), "sha256 of an empty file");
    VERDICT(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "empty: %s", hex);

    // 3 MB (crosses the 1 MiB read buffer) against the sha256sum command
    size_t n = 3000001;
    char * big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (char)(i * 7 + (i >> 9));
    ts_test_write_file(tmp_path("big.bin"), big, n);
    free(big);
    CHECK_OK(ts_file_sha256(tmp_path("big.bin"), hex), "sha256 of 3 MB");
    char cmd[1400], line[200] = "";
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", tmp_path("big.bin"));
    FILE * p = popen(cmd, "r");
    if (p) {
        if (!fgets(line, sizeof line, p)) line[0] = '\0';
        pclose(p);
    }
    if (line[0]) VERDICT(strncmp(line, hex, 64) == 0, "matches sha256sum (%.64s)", line);
    else printf("  skip  sha256sum not available\n");
    CHECK_ERR(ts_file_sha256(tmp_path("nope.bin"), hex), TS_ERR_IO, "nope.bin", "sha256 of a missing file");
}

int main(int argc, char ** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA_DIR TMP_DIR\n", argv[0]);
        return 2;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s", argv[2]);
    mkdir(tmpdir, 0755);
    test_hdf5(argv[1]);
    test_safetensors_good(argv[1]);
    test_safetensors_bad();
    test_sha256();
    return ts_test_finish("test_io_weights");
}
