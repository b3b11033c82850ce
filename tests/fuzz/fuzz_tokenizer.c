// Fuzz target: the Wan2.1 tokenizer's input, a prompt of any bytes (UTF-8 of
// every kind, invalid UTF-8, NULs: the text is the prefix before the first),
// through ts_wan_tokenize: the cleaning (whitespace, html.unescape, the ftfy
// steps), the weight syntax (`word::1.5`, `(words)::0.7`), special tokens
// written in the text, SentencePiece and the unigram lattice. Two committed
// models, loaded once: tests/fixtures/wan_text/tok_spm (a unigram model trained
// for the tests, NFKC charsmap) and tok_umt5 (umT5's special ids, byte
// fallback). Checked on every input: an error has a message; a result has
// 1..512 ids in the vocabulary, `</s>` last, padding after it, the mask and
// the truncation flags agreeing, weights finite and positive (all 1 without
// weight syntax), and the same result twice. Once, at start: a 64 KB prompt.
#include "fuzz_tok.h"  // fuzz_tok_check

#define FX TS_SOURCE_DIR "/tests/fixtures/wan_text/"

static ts_wan_tokenizer_t tok[2];
static int eos[2], pad[2];  // the ids of the empty prompt: </s>, then padding
static struct ts_wan_tokens out[2];

static void cleanup(void) {
    for (int k = 0; k < 2; k++) ts_wan_tokenizer_free(&tok[k]);
}

static void run(const char * text) {
    for (int k = 0; k < 2; k++) {
        enum ts_status st = ts_wan_tokenize(tok[k], text, &out[k]);
        fuzz_why("tokenize", st);
        if (st != TS_OK) {
            fuzz_tok_refused(st);
            continue;
        }
        fuzz_tok_check(tok[k], eos[k], pad[k], &out[k]);
        static struct ts_wan_tokens again;
        if (ts_wan_tokenize(tok[k], text, &again) != TS_OK || memcmp(&again, &out[k], sizeof again) != 0) abort();
    }
}

// A 64 KB prompt (CJK, emoji, entities, weights, many lines): truncated, no crash.
static void huge_prompt(void) {
    const char * unit = "a cat::1.5 \xe7\x8c\xab (runs fast)::0.7 \xf0\x9f\x90\x88 &amp; caf\xc3\xa9\n";
    size_t u = strlen(unit), n = (1u << 16) / u;
    char * s = malloc(n * u + 1);
    if (!s) abort();
    for (size_t i = 0; i < n; i++) memcpy(s + i * u, unit, u);
    s[n * u] = 0;
    run(s);
    if (!out[0].truncated || !out[1].truncated || !out[0].weighted) abort();
    free(s);
}

int LLVMFuzzerInitialize(int * argc, char *** argv) {
    fuzz_quiet();
    if (ts_wan_tokenizer_load(FX "tok_spm", &tok[0]) != TS_OK ||
        ts_wan_tokenizer_load(FX "tok_umt5", &tok[1]) != TS_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", ts_last_error());
        abort();
    }
    atexit(cleanup);
    for (int k = 0; k < 2; k++) {
        if (ts_wan_tokenize(tok[k], "", &out[k]) != TS_OK || out[k].n_valid != 1) abort();
        eos[k] = out[k].ids[0], pad[k] = out[k].ids[1];
    }
    huge_prompt();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char * text = fuzz_cstr(data, size);
    run(text);
    free(text);
    return 0;
}
