// Fuzz target: a tokenizer.json (the `tokenizer.json`-only tokenizer folder)
// through ts_wan_tokenizer_load: its Unigram vocabulary, scores, unk_id and
// added tokens and its base64 precompiled charsmap, which the project turns into
// a SentencePiece model in memory (libsentencepiece then parses that model and
// the charsmap). The input is written to a private folder in /dev/shm as its
// only file. A tokenizer that loads tokenizes a few fixed prompts (fuzz_tok.h's
// checks on each). Seed: a 43-piece model with three normalization rules
// (tests/fuzz/make_tokenizer_json_seed.py).
#include <sys/stat.h>

#include "fuzz_tok.h"  // fuzz_tok_check

static char dir[64], file[96];

static void cleanup(void) {
    remove(file);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int * argc, char *** argv) {
    fuzz_quiet();
    snprintf(dir, sizeof dir, "/dev/shm/ts_fuzz_tokjson_XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/ts_fuzz_tokjson_XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    atexit(cleanup);
    return 0;
}

static const char * const prompts[] = {
    "",
    "A cat runs across a green field\xe3\x80\x80\xef\xbc\xa1 dog",
    "\xe4\xb8\x80\xe5\x8f\xaa\xe7\x8c\xab caf\xc3\xa9 \xf0\x9f\x90\x88 &amp; the sun",
    "a <pad> b </s> c <unk> <s> <extra_id_0> <extra_id_2> x",
    "a cat::1.5 (green field)::0.5 the moon",
};

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    FILE * f = fopen(file, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();  // the environment, not the input
    ts_wan_tokenizer_t tok = NULL;
    enum ts_status st = ts_wan_tokenizer_load(dir, &tok);
    fuzz_why("load", st);
    if (st != TS_OK) {
        const char * e = ts_last_error();
        if (tok || !e || !*e) abort();
        return 0;
    }
    static struct ts_wan_tokens r;
    if (ts_wan_tokenize(tok, "", &r) != TS_OK || r.n_valid != 1) abort();
    int eos = r.ids[0], pad = r.ids[1];
    for (size_t k = 0; k < sizeof prompts / sizeof prompts[0]; k++) {
        st = ts_wan_tokenize(tok, prompts[k], &r);
        fuzz_why("tokenize", st);
        if (st == TS_OK)
            fuzz_tok_check(tok, eos, pad, &r);
        else
            fuzz_tok_refused(st);
    }
    ts_wan_tokenizer_free(&tok);
    return 0;
}
