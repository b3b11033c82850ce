// The Wan text path against transformers (fixtures by tools/wan/make_text_fixtures.py).
//   test_wan_text tokenizer DIR   every prompt of DIR/prompts.bin through DIR/tok_spm
//                                 (spiece.model) and DIR/tok_json (tokenizer.json only):
//                                 the cleaned text and the 512 ids and mask exactly as
//                                 AutoTokenizer(prompt_clean(p)); the prompts ftfy would
//                                 repair (mojibake) listed apart, equal
//                                 to ftfy without its encoding repair
//   test_wan_text weights DIR     prompt-weight syntax: ids as the text without it,
//                                 weights on the right pieces, bad weights refused
//   test_wan_text errors DIR      bad input: one clear error each
//   test_wan_text encoder DIR     umT5 against UMT5EncoderModel on each DIR/umt5_* (a
//                                 directory, sharded, one file, Wan's names), prompt weights
//   test_wan_text encoder_errors DIR  bad encoder files: one clear error each
//   test_wan_text memory X        a 105 MB bf16 umT5 (random): load converts nothing, encoding
//                                 holds a few matrices in float32, free unmaps it all
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts_test.h"
#include "core/common.h"
#include "model/wan/tokenizer.h"
#include "model/wan/umt5.h"

static const char * CAT[] = {"ascii",    "punct_digits", "accents", "cjk",  "emoji",      "whitespace",
                             "cleaning", "long",         "special", "edge", "ftfy_repair"};
#define N_CAT 11

static unsigned char * read_all(const char * path, size_t * n) {
    FILE * f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char * b = malloc((size_t)sz + 1);
    if (fread(b, 1, (size_t)sz, f) != (size_t)sz) sz = -1;
    fclose(f);
    if (sz < 0) return free(b), NULL;
    b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

struct cursor {
    const unsigned char *p, *end;
};
static uint32_t rd32(struct cursor * c) {
    uint32_t v = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 | (uint32_t)c->p[2] << 16 | (uint32_t)c->p[3] << 24;
    c->p += 4;
    return v;
}
static uint16_t rd16(struct cursor * c) {
    uint16_t v = (uint16_t)(c->p[0] | c->p[1] << 8);
    c->p += 2;
    return v;
}
static char * rdstr(struct cursor * c) {
    uint32_t n = rd32(c);
    char * s = malloc(n + 1);
    memcpy(s, c->p, n);
    s[n] = 0;
    c->p += n;
    return s;
}

static void show(const char * what, const char * s) {
    printf("      %s: \"", what);
    for (const unsigned char * p = (const unsigned char *)s; *p && p - (const unsigned char *)s < 160; p++)
        printf(*p < 32 ? "\\x%02x" : "%c", *p);
    printf("\"\n");
}

// ---- tokenizer ----------------------------------------------------------------------

static void run_prompts(const char * dir, const char * prompts, const char * tok_dir, const char * label) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, prompts);
    size_t n;
    unsigned char * buf = read_all(path, &n);
    if (!buf || n < 12 || memcmp(buf, "TSWTOK01", 8) != 0) {
        ts_verdict("prompts.bin readable", 0, path);
        free(buf);
        return;
    }
    ts_wan_tokenizer_t tok;
    snprintf(path, sizeof path, "%s/%s", dir, tok_dir);
    if (ts_wan_tokenizer_load(path, &tok) != TS_OK) {
        ts_verdict(label, 0, ts_last_error());
        free(buf);
        return;
    }
    struct cursor c = {buf + 8, buf + n};
    uint32_t count = rd32(&c);
    int n_cat[N_CAT] = {0}, ok_cat[N_CAT] = {0}, clean_bad = 0, trunc_seen = 0, moj_differ = 0, shown = 0;
    for (uint32_t k = 0; k < count; k++) {
        int cat = *c.p++, trunc = *c.p++;
        int n_ids = rd16(&c), n_ref = rd16(&c);
        char * text = rdstr(&c);
        char * clean =
            c.p[0] == 0xFF && c.p[1] == 0xFF && c.p[2] == 0xFF && c.p[3] == 0xFF ? (c.p += 4, strdup(text)) : rdstr(&c);
        int32_t ids[TS_WAN_TEXT_LEN];
        for (int i = 0; i < n_ids; i++) ids[i] = rd16(&c);
        c.p += 2 * (size_t)n_ref;  // the full-ftfy reference, where it differs (mojibake)
        moj_differ += n_ref > 0;
        char * mine = NULL;
        int ok = ts_wan_prompt_clean(text, &mine) == TS_OK && strcmp(mine, clean) == 0;
        if (!ok) clean_bad++;
        struct ts_wan_tokens t;
        int same = ts_wan_tokenize(tok, text, &t) == TS_OK && t.n_valid == n_ids && t.truncated == trunc;
        for (int i = 0; same && i < TS_WAN_TEXT_LEN; i++)
            same = t.ids[i] == (i < n_ids ? ids[i] : 0) && t.mask[i] == (i < n_ids) && t.weight[i] == 1.0f;
        trunc_seen += same && trunc;
        n_cat[cat]++;
        ok_cat[cat] += ok && same;
        if (!(ok && same) && shown++ < 8) {
            printf("    case %u (%s) differs:\n", k, CAT[cat]);
            show("text   ", text);
            show("clean  ", clean);
            if (mine) show("mine   ", mine);
            printf("      ids    :");
            for (int i = 0; i < n_ids && i < 24; i++) printf(" %d", ids[i]);
            printf("\n      mine   :");
            for (int i = 0; i < t.n_valid && i < 24; i++) printf(" %d", t.ids[i]);
            printf("\n");
        }
        free(mine);
        free(text);
        free(clean);
    }
    int total = 0, total_ok = 0;
    for (int i = 0; i < N_CAT; i++) {
        char name[96], det[96];
        snprintf(name, sizeof name, "%s.%s", label, CAT[i]);
        snprintf(det, sizeof det, "ids matched %d/%d", ok_cat[i], n_cat[i]);
        if (i == N_CAT - 1)
            snprintf(det, sizeof det, "ids matched %d/%d (ftfy without its encoding repair; %d differ from full ftfy)",
                     ok_cat[i], n_cat[i], moj_differ);
        if (n_cat[i] > 0 || i != 7) ts_verdict(name, n_cat[i] > 0 && ok_cat[i] == n_cat[i], det);
        if (i < N_CAT - 1) total += n_cat[i], total_ok += ok_cat[i];
    }
    char name[96], det[128];
    snprintf(name, sizeof name, "%s.all", label);
    snprintf(det, sizeof det, "ids matched %d/%d (%d truncated to 511+</s>), cleaning differs on %d", total_ok, total,
             trunc_seen, clean_bad);
    ts_verdict(name, total_ok == total && (total >= 1000 || strcmp(prompts, "prompts.bin") != 0), det);
    ts_wan_tokenizer_free(&tok);
    free(buf);
}

static int copy_file(const char * from, const char * to);

// tokenizer_config.json's added_tokens_decoder: its special tokens are tokens in text
static void test_added_tokens(const char * dir) {
    char tmp[] = "/tmp/ts_wan_tok_XXXXXX", p[1024], q[1024];
    if (!mkdtemp(tmp)) return;
    snprintf(p, sizeof p, "%s/tok_spm/spiece.model", dir);
    snprintf(q, sizeof q, "%s/spiece.model", tmp);
    copy_file(p, q);
    snprintf(q, sizeof q, "%s/tokenizer_config.json", tmp);
    FILE * f = fopen(q, "w");
    fputs(
        "{\"extra_ids\": 0, \"added_tokens_decoder\": {\"3000\": {\"content\": \"<s>\", \"special\": true},"
        " \"3001\": {\"content\": \"<plain>\", \"special\": false}}}",
        f);
    fclose(f);
    ts_wan_tokenizer_t tok;
    struct ts_wan_tokens t, u;
    int ok = ts_wan_tokenizer_load(tmp, &tok) == TS_OK;
    ok = ok && ts_wan_tokenize(tok, "a<s>b <extra_id_0>", &t) == TS_OK && ts_wan_tokenize(tok, "a", &u) == TS_OK;
    int na = u.n_valid - 1, found = 0, extra = 0;
    for (int i = 0; ok && i < t.n_valid; i++)
        found |= i == na && t.ids[i] == 3000, extra |= t.ids[i] >= 3000 && i != na;
    ok = ok && found && !extra && ts_wan_tokenizer_vocab_size(tok) == 3001;
    ts_verdict("added_tokens_decoder specials", ok, "'<s>' is id 3000; extra_ids 0: '<extra_id_0>' is text");
    if (tok) ts_wan_tokenizer_free(&tok);
    unlink(q);
    snprintf(q, sizeof q, "%s/spiece.model", tmp);
    unlink(q);
    rmdir(tmp);
}

static int test_tokenizer(const char * dir) {
    printf("tokenizer: %s\n", dir);
    run_prompts(dir, "prompts.bin", "tok_spm", "spiece.model");
    run_prompts(dir, "prompts.bin", "tok_json", "tokenizer.json");
    // umT5's special ids (<s> 2, <unk> 3) and byte-fallback pieces: unknown text is id 2
    // as transformers' T5Tokenizer writes it
    run_prompts(dir, "prompts_umt5.bin", "tok_umt5", "umT5 layout");
    // the files themselves, not only the folders
    char path[1024];
    ts_wan_tokenizer_t a, b;
    snprintf(path, sizeof path, "%s/tok_spm/spiece.model", dir);
    int ok = ts_wan_tokenizer_load(path, &a) == TS_OK;
    snprintf(path, sizeof path, "%s/tok_json/tokenizer.json", dir);
    ok = ok && ts_wan_tokenizer_load(path, &b) == TS_OK;
    if (ok) {
        struct ts_wan_tokens ta, tb;
        ok = ts_wan_tokenize(a, "a cat <extra_id_7> runs", &ta) == TS_OK &&
             ts_wan_tokenize(b, "a cat <extra_id_7> runs", &tb) == TS_OK &&
             memcmp(ta.ids, tb.ids, sizeof ta.ids) == 0 &&
             ts_wan_tokenizer_vocab_size(a) == ts_wan_tokenizer_vocab_size(b);
        ts_wan_tokenizer_free(&a);
        ts_wan_tokenizer_free(&b);
    }
    ts_verdict("files: spiece.model == tokenizer.json", ok, ok ? "same ids, same vocab size" : ts_last_error());
    test_added_tokens(dir);
    return ts_test_finish("test_wan_text tokenizer");
}

// ---- prompt weights -----------------------------------------------------------------

static int same_ids(const struct ts_wan_tokens * a, const struct ts_wan_tokens * b) {
    return a->n_valid == b->n_valid && memcmp(a->ids, b->ids, sizeof a->ids) == 0;
}

static int test_weights(const char * dir) {
    printf("weights: %s\n", dir);
    char path[1024];
    snprintf(path, sizeof path, "%s/tok_spm", dir);
    ts_wan_tokenizer_t tok;
    if (ts_wan_tokenizer_load(path, &tok) != TS_OK) {
        ts_verdict("load", 0, ts_last_error());
        return ts_test_finish("test_wan_text weights");
    }
    struct ts_wan_tokens w, p, part;
    // (span)::w: the same ids as the text without the syntax; the span's pieces weighted
    int ok = ts_wan_tokenize(tok, "a dog (green field)::1.5 under the sun", &w) == TS_OK &&
             ts_wan_tokenize(tok, "a dog green field under the sun", &p) == TS_OK && same_ids(&w, &p) && w.weighted &&
             !p.weighted;
    ts_wan_tokenize(tok, "a dog", &part);
    int n0 = part.n_valid - 1;  // pieces of "a dog"
    ts_wan_tokenize(tok, "a dog green field", &part);
    int n1 = part.n_valid - 1;
    for (int i = 0; ok && i < w.n_valid; i++) ok = w.weight[i] == (i >= n0 && i < n1 ? 1.5f : 1.0f);
    char det[128];
    snprintf(det, sizeof det, "pieces %d..%d weighted 1.5 of %d", n0, n1 - 1, w.n_valid);
    ts_verdict("(span)::1.5", ok, det);
    // word::w, stacked with a span
    ok = ts_wan_tokenize(tok, "(a dog::2 runs)::0.5 fast", &w) == TS_OK &&
         ts_wan_tokenize(tok, "a dog runs fast", &p) == TS_OK && same_ids(&w, &p);
    ts_wan_tokenize(tok, "a", &part);
    int na = part.n_valid - 1;
    ts_wan_tokenize(tok, "a dog", &part);
    int nd = part.n_valid - 1;
    ts_wan_tokenize(tok, "a dog runs", &part);
    int nr = part.n_valid - 1;
    for (int i = 0; ok && i < w.n_valid; i++) {
        float e = i < na ? 0.5f : i < nd ? 1.0f : i < nr ? 0.5f : 1.0f;
        ok = w.weight[i] == e;
    }
    ts_verdict("word::2 inside (span)::0.5", ok, "a 0.5, dog 1.0, runs 0.5, fast 1");
    // no weight syntax: exactly the reference (plain '::' and parentheses are text)
    ok = ts_wan_tokenize(tok, "ratio a::b (x y) ::", &w) == TS_OK && !w.weighted;
    for (int i = 0; ok && i < TS_WAN_TEXT_LEN; i++) ok = w.weight[i] == 1.0f;
    ts_verdict("no syntax: no weights", ok, "'a::b', '(x y)', '::' stay text");
    ok = ts_wan_tokenize(tok, "a cat::11 runs", &w) == TS_ERR_ARG && strstr(ts_last_error(), "out of range");
    ts_verdict("weight above 10 refused", ok, ts_last_error());
    ts_error_clear();
    ok = ts_wan_tokenize(tok, "a cat::0 runs", &w) == TS_ERR_ARG;
    ts_verdict("weight 0 refused", ok, ts_last_error());
    ts_error_clear();
    // a weight that is 0 in float, and stacked weights whose product leaves float's range
    ok = ts_wan_tokenize(tok, "a::0.00000000000000000000000000000000000000000000000001", &w) == TS_ERR_ARG &&
         strstr(ts_last_error(), "out of range");
    ts_verdict("weight 1e-50 refused (0 in float)", ok, ts_last_error());
    ts_error_clear();
    char nest[512] = "";
    for (int i = 0; i < 40; i++) strcat(nest, "(");
    strcat(nest, "x");
    for (int i = 0; i < 40; i++) strcat(nest, ")::10");
    ok = ts_wan_tokenize(tok, nest, &w) == TS_ERR_ARG && strstr(ts_last_error(), "multiply to");
    ts_verdict("40 stacked ::10 refused (1e40: inf in float)", ok, ts_last_error());
    ts_error_clear();
    ok = ts_wan_tokenize(tok, "((a (cat)::10)::10 runs)::10", &w) == TS_OK;
    float wmax = 0.0f;
    for (int i = 0; ok && i < w.n_valid; i++) wmax = w.weight[i] > wmax ? w.weight[i] : wmax;
    ts_verdict("3 stacked ::10 kept (cat 1000)", ok && wmax == 1000.0f, ts_last_error());
    ts_error_clear();
    ts_wan_tokenizer_free(&tok);
    return ts_test_finish("test_wan_text weights");
}

// ---- bad input ----------------------------------------------------------------------

static void expect_error(const char * name, enum ts_status got, enum ts_status want, const char * needle) {
    const char * msg = ts_last_error();
    int ok = got == want && msg && strstr(msg, needle) != NULL;
    ts_verdict(name, ok, msg ? msg : "(no message)");
    ts_error_clear();
}

static int test_errors(const char * dir) {
    printf("errors: %s\n", dir);
    char tmp[] = "/tmp/ts_wan_text_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    ts_wan_tokenizer_t tok = NULL;
    expect_error("empty directory", ts_wan_tokenizer_load(tmp, &tok), TS_ERR_IO,
                 "neither spiece.model nor tokenizer.json");
    char path[1024];
    snprintf(path, sizeof path, "%s/missing", tmp);
    expect_error("missing path", ts_wan_tokenizer_load(path, &tok), TS_ERR_IO, "does not exist");
    snprintf(path, sizeof path, "%s/spiece.model", tmp);
    FILE * f = fopen(path, "w");
    fputs("not a model", f);
    fclose(f);
    expect_error("corrupt spiece.model", ts_wan_tokenizer_load(tmp, &tok), TS_ERR_FORMAT, "not a SentencePiece model");
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
    f = fopen(path, "w");
    fputs("{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}", f);
    fclose(f);
    expect_error("BPE tokenizer.json", ts_wan_tokenizer_load(tmp, &tok), TS_ERR_FORMAT, "no Unigram model");
    f = fopen(path, "w");
    fputs("{\"model\": ", f);
    fclose(f);
    expect_error("truncated tokenizer.json", ts_wan_tokenizer_load(tmp, &tok), TS_ERR_FORMAT, "not valid JSON");
    unlink(path);
    rmdir(tmp);
    snprintf(path, sizeof path, "%s/tok_spm", dir);
    if (ts_wan_tokenizer_load(path, &tok) == TS_OK) {
        struct ts_wan_tokens t;
        expect_error("prompt not UTF-8", ts_wan_tokenize(tok, "caf\xe9 au lait", &t), TS_ERR_ARG, "not valid UTF-8");
        // a prompt past 512 tokens: the reference's truncation, with a warning
        char * long_p = malloc(20000);
        long_p[0] = 0;
        for (int i = 0; i < 1500; i++) strcat(long_p, "cat ");
        int ok = ts_wan_tokenize(tok, long_p, &t) == TS_OK && t.truncated && t.n_valid == 512 && t.n_pieces > 511;
        free(long_p);
        ts_verdict("long prompt truncated (warned)", ok, "511 pieces + </s>");
        ts_wan_tokenizer_free(&tok);
    } else {
        ts_verdict("load tok_spm", 0, ts_last_error());
    }
    return ts_test_finish("test_wan_text errors");
}

// ---- umT5 -------------------------------------------------------------------------

#define ENC_TOL 1e-4

// Every case of cases.bin through the encoder at `path`; the worst relative error.
static double run_cases(const char * label, const char * path, const char * cases_path) {
    ts_umt5_t enc;
    if (ts_umt5_load(path, NULL, &enc) != TS_OK) {
        ts_verdict(label, 0, ts_last_error());
        ts_error_clear();
        return INFINITY;
    }
    size_t nb;
    unsigned char * buf = read_all(cases_path, &nb);
    if (!buf || nb < 12 || memcmp(buf, "TSUMT501", 8) != 0) {
        ts_verdict(label, 0, "cases.bin unreadable");
        ts_umt5_free(&enc);
        free(buf);
        return INFINITY;
    }
    const int d = ts_umt5_dim(enc);
    struct cursor c = {buf + 8, buf + nb};
    uint32_t count = rd32(&c);
    double worst = 0.0;
    float * out = ts_test_alloc((int64_t)TS_WAN_TEXT_LEN * d);
    for (uint32_t k = 0; k < count; k++) {
        int n = (int)rd32(&c), has_w = *c.p++;
        int32_t * ids = malloc(sizeof(int32_t) * (size_t)n);
        float * w = has_w ? malloc(sizeof(float) * (size_t)n) : NULL;
        double * ref = ts_test_alloc_d((int64_t)n * d);
        memcpy(ids, c.p, 4 * (size_t)n), c.p += 4 * (size_t)n;
        if (w) memcpy(w, c.p, 4 * (size_t)n), c.p += 4 * (size_t)n;
        for (int64_t i = 0; i < (int64_t)n * d; i++) {
            float f;
            memcpy(&f, c.p, 4), c.p += 4;
            ref[i] = f;
        }
        for (int64_t i = 0; i < (int64_t)TS_WAN_TEXT_LEN * d; i++) out[i] = NAN;
        char name[128];
        snprintf(name, sizeof name, "%s n_valid=%d%s", label, n, w ? " weighted" : "");
        if (ts_umt5_encode(enc, ids, n, w, out) != TS_OK) {
            ts_verdict(name, 0, ts_last_error());
            worst = INFINITY;
        } else {
            double r = ts_rel_err(out, ref, (int64_t)n * d);
            int zeros = 1;
            for (int64_t i = (int64_t)n * d; i < (int64_t)TS_WAN_TEXT_LEN * d; i++) zeros &= out[i] == 0.0f;
            char det[96];
            snprintf(det, sizeof det, "max_rel=%.1e, rows %d..511 %s", r, n, zeros ? "zero" : "NOT ZERO");
            ts_verdict(name, r <= ENC_TOL && zeros, det);
            if (r > worst) worst = r;
        }
        free(ids), free(w), free(ref);
    }
    free(out);
    free(buf);
    ts_umt5_free(&enc);
    return worst;
}

// src with `prefix` before every name, plus (name not NULL) a U8 tensor `name`
// holding bytes[0, n), written to dst: how containers store a text encoder.
static int add_u8_tensor(const char * src, const char * dst, const char * prefix, const char * name,
                         const unsigned char * bytes, size_t n) {
    size_t sn;
    unsigned char * b = read_all(src, &sn);
    if (!b) return -1;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    json_t * h = json_loadb((const char *)b + 8, (size_t)hl, 0, NULL);
    json_t * out = json_object();
    const char * key;
    json_t * v;
    json_object_foreach(h, key, v) {
        char k[512];
        snprintf(k, sizeof k, "%s%s", strcmp(key, "__metadata__") == 0 ? "" : prefix, key);
        json_object_set(out, k, v);
    }
    size_t data_n = sn - 8 - (size_t)hl;
    if (name)
        json_object_set_new(out, name,
                            json_pack("{s:s, s:[I], s:[I, I]}", "dtype", "U8", "shape", (json_int_t)n, "data_offsets",
                                      (json_int_t)data_n, (json_int_t)(data_n + n)));
    char * hs = json_dumps(out, JSON_COMPACT);
    uint64_t nl = strlen(hs);
    FILE * f = fopen(dst, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((nl >> (8 * i)) & 0xFF), f);
    fwrite(hs, 1, nl, f);
    fwrite(b + 8 + hl, 1, data_n, f);
    if (name) fwrite(bytes, 1, n, f);
    fclose(f);
    free(hs);
    json_decref(h);
    json_decref(out);
    free(b);
    return 0;
}

// ComfyUI's single file: transformers' names, no config.json, the tokenizer inside.
static void test_comfy_file(const char * dir) {
    char src[1024], spm[1024], dst[] = "/tmp/ts_umt5_comfy_XXXXXX", cases[1024];
    int fd = mkstemp(dst);
    close(fd);
    snprintf(src, sizeof src, "%s/umt5_a/model.safetensors", dir);
    snprintf(spm, sizeof spm, "%s/tok_spm/spiece.model", dir);
    snprintf(cases, sizeof cases, "%s/umt5_a/cases.bin", dir);
    size_t n;
    unsigned char * model = read_all(spm, &n);
    int ok = model && add_u8_tensor(src, dst, "", "spiece_model", model, n) == 0;
    run_cases("umt5_a one file + spiece_model", dst, cases);
    // the same weights under a container's prefix, in both layouts
    char wan[1024];
    snprintf(wan, sizeof wan, "%s/umt5_a_wan.safetensors", dir);
    add_u8_tensor(src, dst, "text_encoders.umt5xxl.transformer.", NULL, NULL, 0);
    run_cases("umt5_a names prefixed", dst, cases);
    add_u8_tensor(wan, dst, "model.", NULL, NULL, 0);
    run_cases("umt5_a Wan names prefixed", dst, cases);
    add_u8_tensor(src, dst, "", "spiece_model", model, n);
    ts_umt5_t enc;
    ok = ok && ts_umt5_load(dst, NULL, &enc) == TS_OK;
    const void * bytes = NULL;
    size_t nb = 0;
    ok = ok && ts_umt5_spiece(enc, &bytes, &nb) && nb == n && memcmp(bytes, model, n) == 0;
#if defined(TS_SENTENCEPIECE)
    ts_wan_tokenizer_t a = NULL, b = NULL;
    char tok_dir[1024];
    snprintf(tok_dir, sizeof tok_dir, "%s/tok_spm", dir);
    ok = ok && ts_wan_tokenizer_load_bytes(bytes, nb, 300, dst, &a) == TS_OK &&
         ts_wan_tokenizer_load(tok_dir, &b) == TS_OK;
    const char * prompts[] = {"a cat <extra_id_7> runs across the field", "dornananaritoquithingtodormushinatoe52.55",
                              "don’t “quote” &amp; caf\xc3\xa9 \xe4\xb8\x80\xe5\x8f\xaa"};
    for (int i = 0; ok && i < 3; i++) {
        struct ts_wan_tokens ta, tb;
        ok = ts_wan_tokenize(a, prompts[i], &ta) == TS_OK && ts_wan_tokenize(b, prompts[i], &tb) == TS_OK &&
             same_ids(&ta, &tb);
    }
    ts_verdict("tokenizer from the file's spiece_model", ok, ok ? "the same ids as tok_spm/" : ts_last_error());
    ts_wan_tokenizer_free(&a);
    ts_wan_tokenizer_free(&b);
#else
    ts_verdict("the file's spiece_model", ok, "built without SentencePiece: the tokenizer is not tried");
#endif
    ts_umt5_free(&enc);
    free(model);
    unlink(dst);
}

static int test_encoder(const char * dir) {
    printf("encoder: %s\n", dir);
    const char * names[] = {"umt5_a", "umt5_b", "umt5_c"};
    char path[1024], cases[1024];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(cases, sizeof cases, "%s/%s/cases.bin", dir, names[i]);
        run_cases(names[i], path, cases);
    }
    // one file: transformers' names without config.json (ComfyUI's layout), Wan's names
    snprintf(path, sizeof path, "%s/umt5_a/model.safetensors", dir);
    snprintf(cases, sizeof cases, "%s/umt5_a/cases.bin", dir);
    run_cases("umt5_a one file", path, cases);
    snprintf(path, sizeof path, "%s/umt5_a_wan.safetensors", dir);
    run_cases("umt5_a Wan names", path, cases);
    test_comfy_file(dir);
    // the config read off the shapes
    ts_umt5_t enc;
    snprintf(path, sizeof path, "%s/umt5_b", dir);
    int ok = ts_umt5_load(path, NULL, &enc) == TS_OK;
    if (ok) {
        const struct ts_umt5_config * c = ts_umt5_config(enc);
        ok = c->d_model == 64 && c->heads == 4 && c->d_kv == 16 && c->d_ff == 64 && c->layers == 3 && c->vocab == 128 &&
             c->buckets == 32 && c->max_distance == 128;
        int32_t bad = 128;
        float * out = ts_test_alloc((int64_t)TS_WAN_TEXT_LEN * 64);
        ok = ok && ts_umt5_encode(enc, &bad, 1, NULL, out) == TS_ERR_ARG && strstr(ts_last_error(), "vocabulary");
        ts_error_clear();
        free(out);
        ts_umt5_free(&enc);
    }
    ts_verdict("umt5_b config and a bad id", ok && enc == NULL, "sizes from shapes; id 128 of 128 refused");
    // three prompts at once (one weighted) == each alone, bit for bit
    snprintf(path, sizeof path, "%s/umt5_c", dir);
    ok = ts_umt5_load(path, NULL, &enc) == TS_OK;
    if (ok) {
        const int d = ts_umt5_dim(enc), lens[3] = {7, 1, 33};
        int32_t ids[3][33];
        float wts[33], *one = ts_test_alloc((int64_t)TS_WAN_TEXT_LEN * d);
        struct ts_umt5_prompt pr[3];
        for (int p = 0; p < 3; p++) {
            for (int i = 0; i < lens[p]; i++) ids[p][i] = (p * 31 + i * 17) % 64;
            pr[p] =
                (struct ts_umt5_prompt){ids[p], lens[p], p == 2 ? wts : NULL, ts_test_alloc((int64_t)TS_WAN_TEXT_LEN * d)};
        }
        for (int i = 0; i < 33; i++) wts[i] = i % 3 ? 1.0f : 1.5f;
        ok = ts_umt5_encode_batch(enc, pr, 3) == TS_OK;
        for (int p = 0; ok && p < 3; p++)
            ok = ts_umt5_encode(enc, pr[p].ids, pr[p].n_valid, pr[p].weight, one) == TS_OK &&
                 memcmp(one, pr[p].out, sizeof(float) * (size_t)TS_WAN_TEXT_LEN * (size_t)d) == 0;
        for (int p = 0; p < 3; p++) free(pr[p].out);
        free(one);
        ts_umt5_free(&enc);
    }
    ts_verdict("batch of 3 == each alone", ok, "bit-identical, n_valid 7, 1, 33 (one weighted)");
    // 1 thread == 2 threads, bit for bit
    ts_backend_t b1 = ts_backend_cpu_new(1), b2 = ts_backend_cpu_new(2);
    ts_umt5_t e1 = NULL, e2 = NULL;
    snprintf(path, sizeof path, "%s/umt5_b", dir);
    ok = ts_umt5_load(path, b1, &e1) == TS_OK && ts_umt5_load(path, b2, &e2) == TS_OK;
    if (ok) {
        int32_t ids[77];
        for (int i = 0; i < 77; i++) ids[i] = (i * 37) % 128;
        float *o1 = ts_test_alloc((int64_t)TS_WAN_TEXT_LEN * 64), *o2 = ts_test_alloc((int64_t)TS_WAN_TEXT_LEN * 64);
        ok = ts_umt5_encode(e1, ids, 77, NULL, o1) == TS_OK && ts_umt5_encode(e2, ids, 77, NULL, o2) == TS_OK;
        if (ok) ts_check_bits("1 thread == 2 threads", o1, o2, (int64_t)TS_WAN_TEXT_LEN * 64);
        free(o1), free(o2);
    }
    if (!ok) ts_verdict("1 thread == 2 threads", 0, ts_last_error());
    ts_umt5_free(&e1), ts_umt5_free(&e2);
    ts_backend_free(&b1), ts_backend_free(&b2);
    return ts_test_finish("test_wan_text encoder");
}

// ---- umT5 bad input ----------------------------------------------------------------

// A safetensors file: the JSON header as given, then `data_n` bytes of zeros.
static void write_st(const char * path, const char * header, size_t data_n) {
    FILE * f = fopen(path, "wb");
    uint64_t n = strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, n, f);
    for (size_t i = 0; i < data_n; i++) fputc(0, f);
    fclose(f);
}

static int copy_file(const char * from, const char * to) {
    size_t n;
    unsigned char * b = read_all(from, &n);
    if (!b) return -1;
    FILE * f = fopen(to, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    free(b);
    return 0;
}

static int test_encoder_errors(const char * dir) {
    printf("encoder errors: %s\n", dir);
    char tmp[] = "/tmp/ts_umt5_XXXXXX", p[1024], q[1024];
    if (!mkdtemp(tmp)) return 1;
    ts_umt5_t enc = NULL;
    expect_error("empty directory", ts_umt5_load(tmp, NULL, &enc), TS_ERR_IO,
                 "neither model.safetensors nor model.safetensors.index.json");
    snprintf(p, sizeof p, "%s/nothing.safetensors", tmp);
    expect_error("missing file", ts_umt5_load(p, NULL, &enc), TS_ERR_IO, "do not exist");
    // a sharded encoder with a shard missing, then an index naming a tensor no shard holds
    const char * shards[] = {"model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                             "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors",
                             "model.safetensors.index.json",     "config.json"};
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/umt5_b/%s", dir, shards[i]);
        snprintf(q, sizeof q, "%s/%s", tmp, shards[i]);
        copy_file(p, q);
    }
    snprintf(q, sizeof q, "%s/%s", tmp, shards[2]);
    unlink(q);
    expect_error("shard missing", ts_umt5_load(tmp, NULL, &enc), TS_ERR_IO, "is missing");
    snprintf(p, sizeof p, "%s/umt5_b/%s", dir, shards[2]);
    copy_file(p, q);
    snprintf(q, sizeof q, "%s/model.safetensors.index.json", tmp);
    FILE * f = fopen(q, "w");
    fputs(
        "{\"weight_map\": {\"encoder.block.9.layer.0.SelfAttention.q.weight\": \"model-00001-of-00004.safetensors\"}}",
        f);
    fclose(f);
    expect_error("index names an absent tensor", ts_umt5_load(tmp, NULL, &enc), TS_ERR_FORMAT, "no shard holds");
    unlink(q);
    for (int i = 0; i < 4; i++) {
        snprintf(q, sizeof q, "%s/%s", tmp, shards[i]);
        unlink(q);
    }
    // config.json disagreeing with the tensors; a non-gated feed-forward
    snprintf(p, sizeof p, "%s/umt5_a/model.safetensors", dir);
    snprintf(q, sizeof q, "%s/model.safetensors", tmp);
    copy_file(p, q);
    snprintf(q, sizeof q, "%s/config.json", tmp);
    f = fopen(q, "w");
    fputs("{\"d_model\": 32, \"num_heads\": 2, \"d_kv\": 24, \"d_ff\": 99, \"num_layers\": 2}", f);
    fclose(f);
    expect_error("config.json disagrees", ts_umt5_load(tmp, NULL, &enc), TS_ERR_MODEL, "d_ff = 99");
    f = fopen(q, "w");
    fputs("{\"d_model\": 32, \"feed_forward_proj\": \"relu\"}", f);
    fclose(f);
    expect_error("non-gated feed-forward", ts_umt5_load(tmp, NULL, &enc), TS_ERR_MODEL, "feed_forward_proj \"relu\"");
    unlink(q);
    snprintf(q, sizeof q, "%s/model.safetensors", tmp);
    unlink(q);
    // fp8, a misshapen tensor, a missing one, a truncated file
    snprintf(p, sizeof p, "%s/fp8.safetensors", tmp);
    write_st(p, "{\"shared.weight\": {\"dtype\": \"F8_E4M3\", \"shape\": [4, 4], \"data_offsets\": [0, 16]}}", 16);
    expect_error("fp8 file", ts_umt5_load(p, NULL, &enc), TS_ERR_FORMAT, "dtype F8_E4M3");
    unlink(p);
    const char * base =
        "\"shared.weight\": {\"dtype\": \"F32\", \"shape\": [8, 4], \"data_offsets\": [0, 128]},"
        "\"encoder.block.0.layer.0.SelfAttention.q.weight\": {\"dtype\": \"F32\", \"shape\": [4, 4], \"data_offsets\": "
        "[0, 64]},"
        "\"encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight\": {\"dtype\": \"F32\", \"shape\": "
        "[32, 2], "
        "\"data_offsets\": [0, 256]},"
        "\"encoder.block.0.layer.0.layer_norm.weight\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, "
        "16]},"
        "\"encoder.block.0.layer.1.DenseReluDense.wi_0.weight\": {\"dtype\": \"F32\", \"shape\": [8, 4], "
        "\"data_offsets\": [0, 128]}";
    char hdr[4096];
    snprintf(hdr, sizeof hdr,
             "{%s, \"encoder.block.0.layer.0.SelfAttention.k.weight\": {\"dtype\": \"F32\", \"shape\": [4, 3], "
             "\"data_offsets\": [0, 48]}}",
             base);
    snprintf(p, sizeof p, "%s/shape.safetensors", tmp);
    write_st(p, hdr, 256);
    expect_error("misshapen tensor", ts_umt5_load(p, NULL, &enc), TS_ERR_MODEL, "has shape (4, 3), expected (4, 4)");
    snprintf(hdr, sizeof hdr, "{%s}", base);
    write_st(p, hdr, 256);
    expect_error("missing tensor", ts_umt5_load(p, NULL, &enc), TS_ERR_MODEL,
                 "no tensor 'encoder.block.0.layer.0.SelfAttention.k.weight'");
    write_st(p, hdr, 100);
    expect_error("truncated file", ts_umt5_load(p, NULL, &enc), TS_ERR_FORMAT, "do not fit");
    unlink(p);
    rmdir(tmp);
    ts_verdict("nothing left allocated on failure", enc == NULL, "");
    return ts_test_finish("test_wan_text encoder_errors");
}

// ---- memory -------------------------------------------------------------------------

// A bf16 umT5 in transformers' names with random weights, written to `path`; its size.
static size_t write_random_umt5(const char * path, int d, int H, int dk, int ff, int L, int vocab) {
    char * hdr = malloc(1 << 20);
    size_t off = 0, o = 0;
    o += (size_t)sprintf(hdr + o, "{");
    struct {
        char name[128];
        int64_t a, b;
    } t[16 * 64];
    int n = 0;
#define ADD(nm, A, B) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].a = (A), t[n].b = (B), n++)
    ADD("shared.weight", vocab, d);
    ADD("encoder.final_layer_norm.weight", d, 0);
    for (int l = 0; l < L; l++) {
        char nm[128];
        const char * r[] = {"layer.0.SelfAttention.q", "layer.0.SelfAttention.k", "layer.0.SelfAttention.v"};
        for (int i = 0; i < 3; i++) snprintf(nm, sizeof nm, "encoder.block.%d.%s.weight", l, r[i]), ADD(nm, H * dk, d);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.0.SelfAttention.o.weight", l), ADD(nm, d, H * dk);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.0.SelfAttention.relative_attention_bias.weight", l),
            ADD(nm, 32, H);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.0.layer_norm.weight", l), ADD(nm, d, 0);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.1.layer_norm.weight", l), ADD(nm, d, 0);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.1.DenseReluDense.wi_0.weight", l), ADD(nm, ff, d);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.1.DenseReluDense.wi_1.weight", l), ADD(nm, ff, d);
        snprintf(nm, sizeof nm, "encoder.block.%d.layer.1.DenseReluDense.wo.weight", l), ADD(nm, d, ff);
    }
#undef ADD
    for (int i = 0; i < n; i++) {
        size_t bytes = 2 * (size_t)t[i].a * (size_t)(t[i].b ? t[i].b : 1);
        if (t[i].b)
            o += (size_t)sprintf(
                hdr + o, "%s\"%s\": {\"dtype\": \"BF16\", \"shape\": [%lld, %lld], \"data_offsets\": [%zu, %zu]}",
                i ? ", " : "", t[i].name, (long long)t[i].a, (long long)t[i].b, off, off + bytes);
        else
            o += (size_t)sprintf(hdr + o,
                                 "%s\"%s\": {\"dtype\": \"BF16\", \"shape\": [%lld], \"data_offsets\": [%zu, %zu]}",
                                 i ? ", " : "", t[i].name, (long long)t[i].a, off, off + bytes);
        off += bytes;
    }
    o += (size_t)sprintf(hdr + o, "}");
    FILE * f = fopen(path, "wb");
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)o >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(hdr, 1, o, f);
    size_t chunk = 1 << 20;
    uint16_t * buf = malloc(chunk * 2);
    for (size_t done = 0; done < off / 2; done += chunk) {
        size_t m = off / 2 - done < chunk ? off / 2 - done : chunk;
        for (size_t i = 0; i < m; i++) {
            float v = 0.05f * ts_test_uniform();
            uint32_t u;
            memcpy(&u, &v, 4);
            buf[i] = (uint16_t)(u >> 16);
        }
        fwrite(buf, 2, m, f);
    }
    fclose(f);
    free(buf);
    free(hdr);
    return 8 + o + off;
}

static int file_mapped(const char * path) {  // /proc files have no size: read by line
    FILE * f = fopen("/proc/self/maps", "r");
    char line[4096];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) found |= strstr(line, path) != NULL;
    if (f) fclose(f);
    return found;
}

// A bf16 umT5 of 105 MB: what loading, encoding and freeing cost in resident memory.
static int test_memory(void) {
    printf("memory\n");
    char path[] = "/tmp/ts_umt5_mem_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    const int d = 512, H = 8, dk = 64, ff = 1408, L = 12, vocab = 32000, n = 64;
    size_t file = write_random_umt5(path, d, H, dk, ff, L, vocab);
    double a3 = 3.0 * d * H * dk, f2 = 2.0 * d * ff, group_f32 = 4.0 * (a3 > f2 ? a3 : f2) / 1048576.0;
    ts_peak_rss_reset();
    int64_t rss0 = ts_peak_rss();
    ts_umt5_t enc;
    int ok = ts_umt5_load(path, NULL, &enc) == TS_OK;
    int64_t rss_load = ts_peak_rss();
    float * out = ts_test_alloc((int64_t)TS_WAN_TEXT_LEN * d);
    int32_t ids[64];
    for (int i = 0; i < n; i++) ids[i] = (i * 7919) % vocab;
    double t0 = ts_time();
    ok = ok && ts_umt5_encode(enc, ids, n, NULL, out) == TS_OK;
    double dt = ts_time() - t0;
    int64_t rss_enc = ts_peak_rss();
    int mapped = file_mapped(path);
    ts_umt5_free(&enc);
    int unmapped = !file_mapped(path);
    double mb = 1.0 / 1048576.0;
    char det[200];
    snprintf(det, sizeof det,
             "file %.0f MB; peak RSS +%.1f MB after load, +%.1f MB while encoding %d tokens (%.2f s); the "
             "largest matrix group in float32 %.1f MB",
             (double)file * mb, (double)(rss_load - rss0) * mb, (double)(rss_enc - rss0) * mb, n, dt, group_f32);
    ts_verdict("load maps, converts nothing", ok && (double)(rss_load - rss0) < 0.05 * (double)file, det);
    ts_verdict("encode holds a few matrices", ok && (double)(rss_enc - rss0) < 0.5 * (double)file,
               "peak below half the file");
    ts_verdict("free unmaps the weights", mapped && unmapped, "the file no longer in /proc/self/maps");
    free(out);
    unlink(path);
    return ts_test_finish("test_wan_text memory");
}

int main(int argc, char ** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_wan_text tokenizer|weights|errors|encoder FIXTURE_DIR\n");
        return 2;
    }
    if (strcmp(argv[1], "tokenizer") == 0) return test_tokenizer(argv[2]);
    if (strcmp(argv[1], "weights") == 0) return test_weights(argv[2]);
    if (strcmp(argv[1], "errors") == 0) return test_errors(argv[2]);
    if (strcmp(argv[1], "encoder") == 0) return test_encoder(argv[2]);
    if (strcmp(argv[1], "encoder_errors") == 0) return test_encoder_errors(argv[2]);
    if (strcmp(argv[1], "memory") == 0) return test_memory();
    fprintf(stderr, "unknown test '%s'\n", argv[1]);
    return 2;
}
