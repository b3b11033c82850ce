// Shared by fuzz_tokenizer and fuzz_tokenizer_json: what tokenizer.h promises
// about one result of ts_wan_tokenize.
#pragma once
#include <math.h>

#include "fuzz.h"
#include "model/wan/tokenizer.h"  // struct ts_wan_tokens, ts_wan_tokenizer_vocab_size

// 1..512 ids in the vocabulary, `</s>` (eos) last, `pad` after it, the mask and
// the truncation flags agreeing, weights finite and positive (1 without weight
// syntax, on `</s>` and on padding). Aborts otherwise.
static inline void fuzz_tok_check(ts_wan_tokenizer_t tok, int eos, int pad, const struct ts_wan_tokens * r) {
    int vocab = ts_wan_tokenizer_vocab_size(tok);
    int n = r->n_valid;
    if (n < 1 || n > TS_WAN_TEXT_LEN || r->n_pieces < 0) abort();
    if (r->truncated != (r->n_pieces > TS_WAN_TEXT_LEN - 1)) abort();
    if (n != (r->truncated ? TS_WAN_TEXT_LEN : r->n_pieces + 1)) abort();
    for (int k = 0; k < TS_WAN_TEXT_LEN; k++) {
        if (r->ids[k] < 0 || r->ids[k] >= vocab || r->mask[k] != (k < n)) abort();
        if (!isfinite(r->weight[k]) || !(r->weight[k] > 0.0f)) abort();
        if ((!r->weighted || k >= n - 1) && r->weight[k] != 1.0f) abort();
        if (k >= n && r->ids[k] != pad) abort();
    }
    if (r->ids[n - 1] != eos) abort();
}

// A refused prompt: TS_ERR_ARG with a message (then cleared).
static inline void fuzz_tok_refused(enum ts_status st) {
    const char * e = ts_last_error();
    if (st != TS_ERR_ARG || !e || !*e) abort();
    ts_error_clear();
}
