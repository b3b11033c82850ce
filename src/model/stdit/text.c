// Word tokenizer and text encoder (tools/train/tsmodel.py: tokenize, TextEncoder).
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "model/stdit/stdit.h"
#include "model/prompt.h"

static int vocab_find(const ts_model * m, const char * w) {
    for (int i = 3; i < m->vocab_n; i++)
        if (strcmp(m->vocab[i], w) == 0) return i;
    return -1;
}

enum ts_status ts_tokenize(const ts_model * m, const char * text, int32_t * ids, float * weights, int * n_valid,
                           char * unknown, size_t unknown_n, int * n_words) {
    int L = m->cfg.text_len, n = 0;
    if (unknown && unknown_n) unknown[0] = '\0';
    for (int i = 0; i < L; i++) {
        ids[i] = 0;
        if (weights) weights[i] = 1.0f;
    }
    ids[n++] = 1;  // <bos>
    enum { MAXW = 512 };
    struct ts_prompt_word * words = ts_malloc(MAXW * sizeof(*words));
    int nw = 0;
    enum ts_status st = ts_prompt_parse(text, words, MAXW, &nw);
    for (int i = 0; i < nw && st == TS_OK; i++) {
        int id = vocab_find(m, words[i].word);
        if (id < 0) {
            id = 2;  // <unk>
            size_t k = strlen(words[i].word);
            if (unknown && unknown_n && strlen(unknown) + k + 3 < unknown_n) {
                if (unknown[0]) strcat(unknown, ", ");
                strcat(unknown, words[i].word);
            }
        }
        if (n < L) {
            if (weights) weights[n] = words[i].weight;
            ids[n++] = id;
        }
    }
    free(words);
    if (n_words) *n_words = nw;
    *n_valid = n;
    return st;
}

// The prompt's characters beyond ASCII, which the word tokenizer reads as spaces (words are runs of
// a-z and 0-9, as tsmodel.split_words): their runs, ", "-separated, in out ("" when none), valid
// UTF-8 as it is, any other byte as \xNN.
static void non_ascii_runs(const char * text, char * out, size_t cap) {
    size_t k = 0;
    out[0] = '\0';
    const unsigned char * p = (const unsigned char *)text;
    while (*p && k + 16 < cap) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        if (k) k += (size_t)snprintf(out + k, cap - k, ", ");
        while (*p >= 0x80 && k + 12 < cap) {
            int len = *p >= 0xf0 && *p < 0xf5 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 && *p < 0xe0 ? 2 : 0;
            int ok = len > 0;
            for (int i = 1; i < len && ok; i++) ok = (p[i] & 0xc0) == 0x80;
            if (ok && (size_t)len + k + 1 < cap) {
                memcpy(out + k, p, (size_t)len);
                k += (size_t)len, p += len;
            } else {
                k += (size_t)snprintf(out + k, cap - k, "\\x%02X", *p++);
            }
        }
        out[k] = '\0';
    }
}

enum ts_status ts_text_encode(const ts_model * m, const char * text, ts_text_cond * out) {
    const struct ts_model_config * c = &m->cfg;
    ts_backend_t be = m->be;
    const struct ts_backend_ops * op = be->ops;
    int L = c->text_len, Dt = c->text_dim, H = c->text_heads, hd = Dt / H;
    int32_t ids[4096];
    float wts[4096];
    char unknown[1024];
    int words = 0, n = 0;
    TS_ASSERT(L <= 4096);
    TS_TRY(ts_tokenize(m, text, ids, wts, &n, unknown, sizeof(unknown), &words));
    int weighted = 0;
    for (int i = 0; i < n; i++) weighted |= wts[i] != 1.0f;
    if (unknown[0]) TS_WARN("unknown words in the prompt (read as <unk>): %s", unknown);
    char other[256];
    non_ascii_runs(text, other, sizeof other);
    if (other[0]) TS_WARN("the model's words are a-z and 0-9: these characters are read as spaces: %s", other);
    if (words > L - 1) TS_WARN("the prompt has %d words; the model reads the first %d", words, L - 1);

    size_t fl = sizeof(float);
    float * x = op->alloc(be, (size_t)L * Dt * fl);
    float * h = op->alloc(be, (size_t)L * Dt * fl);
    float * q = op->alloc(be, (size_t)L * Dt * fl);
    float * kv = op->alloc(be, (size_t)L * 2 * Dt * fl);
    float * f = op->alloc(be, (size_t)L * 4 * Dt * fl);
    // A weighted prompt adds log w to its tokens' attention logits as keys, in
    // the encoder's own attention as in the DiT's cross attention, so a word at
    // weight 0 reaches neither the video nor the other words' encodings.
    out->bias = NULL;
    if (weighted) {
        float bias[4096];
        for (int i = 0; i < L; i++) bias[i] = i < n ? (wts[i] > 0.0f ? logf(wts[i]) : -INFINITY) : 0.0f;
        out->bias = op->alloc(be, (size_t)L * fl);
        op->upload(be, out->bias, bias, (size_t)L * fl);
    }
    // x = tok_emb[ids] + pos_emb
    for (int i = 0; i < L; i++) op->copy(be, x + (size_t)i * Dt, m->text.tok_emb + (size_t)ids[i] * Dt, Dt * fl);
    op->axpby(be, x, 1.0f, m->text.pos_emb, 1.0f, (int64_t)L * Dt);
    for (int l = 0; l < c->text_layers; l++) {
        const struct ts_text_layer * t = &m->text.layers[l];
        op->layernorm(be, h, x, t->ln1_w, t->ln1_b, L, Dt, 1e-6f);
        op->linear(be, q, Dt, h, Dt, t->q_w, t->q_b, L, Dt, Dt);
        op->linear(be, kv, 2 * Dt, h, Dt, t->kv_w, t->kv_b, L, Dt, 2 * Dt);
        op->attn_cross(be, h, q, kv, L, H, hd, L, n, out->bias);
        op->linear(be, q, Dt, h, Dt, t->proj_w, t->proj_b, L, Dt, Dt);
        op->gate_add(be, x, q, NULL, 0, 1, L, Dt);
        op->layernorm(be, h, x, t->ln2_w, t->ln2_b, L, Dt, 1e-6f);
        op->linear(be, f, 4 * Dt, h, Dt, t->fc1_w, t->fc1_b, L, Dt, 4 * Dt);
        op->gelu(be, f, (int64_t)L * 4 * Dt);
        op->linear(be, q, Dt, f, 4 * Dt, t->fc2_w, t->fc2_b, L, 4 * Dt, Dt);
        op->gate_add(be, x, q, NULL, 0, 1, L, Dt);
    }
    out->tokens = op->alloc(be, (size_t)L * Dt * fl);
    op->layernorm(be, out->tokens, x, m->text.ln_f_w, m->text.ln_f_b, L, Dt, 1e-6f);
    // pooled: mean of the valid tokens weighted by their prompt weights (host; tiny).
    // All weights 1 gives exactly the plain mean.
    float * host = ts_malloc((size_t)L * Dt * fl);
    float * pooled = ts_calloc((size_t)Dt, fl);
    op->download(be, host, out->tokens, (size_t)L * Dt * fl);
    float wsum = 0.0f;
    for (int i = 0; i < n; i++) {
        wsum += wts[i];
        for (int d = 0; d < Dt; d++) pooled[d] += weighted ? wts[i] * host[(size_t)i * Dt + d] : host[(size_t)i * Dt + d];
    }
    if (wsum > 0.0f)
        for (int d = 0; d < Dt; d++) pooled[d] /= weighted ? wsum : (float)n;
    out->pooled = op->alloc(be, (size_t)Dt * fl);
    op->upload(be, out->pooled, pooled, (size_t)Dt * fl);
    out->n_valid = n;
    free(host);
    free(pooled);
    op->release(be, x);
    op->release(be, h);
    op->release(be, q);
    op->release(be, kv);
    op->release(be, f);
    return TS_OK;
}

void ts_text_cond_free(const ts_model * m, ts_text_cond * c) {
    if (c->tokens) m->be->ops->release(m->be, c->tokens);
    if (c->pooled) m->be->ops->release(m->be, c->pooled);
    if (c->bias) m->be->ops->release(m->be, c->bias);
    c->tokens = c->pooled = c->bias = NULL;
}

enum ts_status ts_prompt_explain(const ts_model * m, const char * text, FILE * f) {
    int L = m->cfg.text_len;
    int32_t ids[4096];
    float wts[4096];
    char unknown[1024];
    int n = 0, words = 0;
    TS_ASSERT(L <= 4096);
    TS_TRY(ts_tokenize(m, text, ids, wts, &n, unknown, sizeof(unknown), &words));
    fprintf(f, "# prompt: \"%s\"\n# %d words; the model reads %d tokens (<bos> + up to %d words)\n", text, words, n,
            L - 1);
    fprintf(f, "#  pos  token        id  weight\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "  %4d  %-11s %3d  %6.3g%s\n", i, m->vocab[ids[i]], ids[i], wts[i],
                wts[i] == 0.0f ? "  (masked out)" : "");
    if (words > L - 1) fprintf(f, "# not read (past the model's %d tokens): %d word(s)\n", L, words - (L - 1));
    fprintf(f, "# unknown words: %s\n", unknown[0] ? unknown : "none");
    char other[256];
    non_ascii_runs(text, other, sizeof other);
    if (other[0]) fprintf(f, "# read as spaces (the model's words are a-z and 0-9): %s\n", other);
    return TS_OK;
}
