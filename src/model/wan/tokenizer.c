// Wan2.1's prompt tokenizer (tokenizer.h): WanPipeline's prompt cleaning on code
// points, prompt-weight spans, special tokens, SentencePiece through spm_shim.
#include "model/wan/tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
// ts_html5_entities, ts_ftfy_upper_entities, ts_html_invalid_*, ts_ftfy_control_chars
#include "model/prompt.h"  // TS_PROMPT_MAX_WEIGHT
#include "model/wan/html_entities.h"
#include "model/wan/spm_shim.h"

#define TS_TOK_HINT \
    "a Wan tokenizer directory holds spiece.model (or tokenizer.json), as in Wan2.1-T2V-1.3B-Diffusers/tokenizer"

// Builds without SentencePiece (-DTS_SENTENCEPIECE=OFF) refuse every tokenizer.
#if !defined(TS_SENTENCEPIECE)
#define TS_NO_SPM_CHECK()                                                                                    \
    return ts_error(TS_ERR_ARG, "rebuild with -DTS_SENTENCEPIECE=ON (apt-get install libsentencepiece-dev)", \
                    "the Wan tokenizer needs SentencePiece, and timeshard was built without it")
#else
#define TS_NO_SPM_CHECK() (void)0
#endif

struct special {
    char * text;  // owned
    int id;
};

struct ts_wan_tokenizer {
    ts_spm * spm;
    int n_spm;  // pieces in the SentencePiece model
    int vocab;  // n_spm, or more with special tokens past it
    int eos, pad, unk;
    int unk_out;               // the id written for text no piece covers (see finish_load)
    int other_class;           // tokenizer_config.json names a class other than T5Tokenizer
    struct special * special;  // owned, n_special
    int n_special;
    // every piece, for the lattice (see encode_span): an open addressing table
    // of ids by piece text, n_slot a power of two
    int32_t * slot;  // owned, n_slot; -1 empty
    size_t n_slot;
    int max_piece;     // longest piece, bytes
    double unk_score;  // lowest score - 10, as tokenizers' Unigram
};

// ---- code point buffers and UTF-8 --------------------------------------------------

typedef struct {
    uint32_t * c;
    size_t n, cap;
} cpbuf;

static void cp_push(cpbuf * b, uint32_t c) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->c = realloc(b->c, b->cap * sizeof(uint32_t));
        TS_ASSERT(b->c);
    }
    b->c[b->n++] = c;
}
static void cp_push_utf8(cpbuf * b, const char * s) {  // s: valid UTF-8 from our tables
    const unsigned char * p = (const unsigned char *)s;
    while (*p) {
        uint32_t c;
        int k;
        if (p[0] < 0x80)
            c = p[0], k = 1;
        else if (p[0] < 0xE0)
            c = p[0] & 0x1F, k = 2;
        else if (p[0] < 0xF0)
            c = p[0] & 0x0F, k = 3;
        else
            c = p[0] & 0x07, k = 4;
        for (int i = 1; i < k; i++) c = (c << 6) | (p[i] & 0x3F);
        cp_push(b, c);
        p += k;
    }
}
static void cp_swap(cpbuf * a, cpbuf * b) {
    cpbuf t = *a;
    *a = *b;
    *b = t;
}
static int cp_equal(const cpbuf * a, const cpbuf * b) {
    return a->n == b->n && (a->n == 0 || memcmp(a->c, b->c, a->n * sizeof(uint32_t)) == 0);
}

// Strict UTF-8 (as Python decodes it): no overlongs, surrogates or > U+10FFFF.
static int utf8_decode(const char * s, cpbuf * out) {
    const unsigned char * p = (const unsigned char *)s;
    while (*p) {
        uint32_t c, min;
        int k;
        if (p[0] < 0x80)
            c = p[0], k = 1, min = 0;
        else if ((p[0] & 0xE0) == 0xC0)
            c = p[0] & 0x1F, k = 2, min = 0x80;
        else if ((p[0] & 0xF0) == 0xE0)
            c = p[0] & 0x0F, k = 3, min = 0x800;
        else if ((p[0] & 0xF8) == 0xF0)
            c = p[0] & 0x07, k = 4, min = 0x10000;
        else
            return -1;
        for (int i = 1; i < k; i++) {
            if ((p[i] & 0xC0) != 0x80) return -1;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return -1;
        cp_push(out, c);
        p += k;
    }
    return 0;
}

static char * utf8_encode(const cpbuf * b) {
    char * s = ts_malloc(4 * b->n + 1);
    size_t o = 0;
    for (size_t i = 0; i < b->n; i++) {
        uint32_t c = b->c[i];
        if (c < 0x80)
            s[o++] = (char)c;
        else if (c < 0x800)
            s[o++] = (char)(0xC0 | (c >> 6)), s[o++] = (char)(0x80 | (c & 0x3F));
        else if (c < 0x10000) {
            s[o++] = (char)(0xE0 | (c >> 12));
            s[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            s[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            s[o++] = (char)(0xF0 | (c >> 18));
            s[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
            s[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            s[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    s[o] = '\0';
    return s;
}

// Python's str.isspace: Unicode White_Space plus the information separators U+1C..U+1F.
static int py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ---- html.unescape -------------------------------------------------------------------

static const char * entity_find(const struct ts_html_entity * tab, size_t n, const char * name, size_t len) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char * k = tab[mid].name;
        size_t kl = strlen(k);
        int c = memcmp(k, name, kl < len ? kl : len);
        if (c == 0) c = kl < len ? -1 : kl > len ? 1 : 0;
        if (c == 0) return tab[mid].utf8;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
static const char * html5_find(const uint32_t * c, size_t len) {  // code points, ASCII only
    char name[40];
    if (len >= sizeof name) return NULL;
    for (size_t i = 0; i < len; i++) {
        if (c[i] >= 0x80) return NULL;
        name[i] = (char)c[i];
    }
    return entity_find(ts_html5_entities, sizeof ts_html5_entities / sizeof ts_html5_entities[0], name, len);
}
static int u32_in(const uint32_t * tab, size_t n, uint32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tab[mid] == c) return 1;
        if (tab[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int is_hex(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_alnum(uint32_t c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Python's html.unescape on in[0..n), appended to out.
static void html_unescape(const uint32_t * in, size_t n, cpbuf * out) {
    size_t i = 0;
    while (i < n) {
        if (in[i] != '&' || i + 1 >= n) {
            cp_push(out, in[i++]);
            continue;
        }
        size_t j = i + 1;
        if (in[j] == '#') {  // &#123;? or &#x1F;?
            int hex = j + 1 < n && (in[j + 1] == 'x' || in[j + 1] == 'X');
            size_t d = j + 1 + (size_t)hex, e = d;
            while (e < n && (hex ? is_hex(in[e]) : is_digit(in[e]))) e++;
            if (e == d) {  // no digits: not a reference
                cp_push(out, in[i++]);
                continue;
            }
            uint64_t num = 0;
            int big = 0;
            for (size_t k = d; k < e; k++) {
                uint32_t v = is_digit(in[k]) ? in[k] - '0' : (in[k] | 0x20) - 'a' + 10;
                num = num * (hex ? 16 : 10) + v;
                if (num > 0x10FFFF) big = 1, num = 0x110000;
            }
            if (e < n && in[e] == ';') e++;
            const size_t n_inv = sizeof ts_html_invalid_charrefs / sizeof ts_html_invalid_charrefs[0];
            uint32_t repl = 0;
            int found = 0;
            for (size_t k = 0; k < n_inv && !big; k++)
                if (ts_html_invalid_charrefs[k][0] == num) repl = ts_html_invalid_charrefs[k][1], found = 1;
            if (found)
                cp_push(out, repl);
            else if (big || (num >= 0xD800 && num <= 0xDFFF))
                cp_push(out, 0xFFFD);
            else if (!u32_in(ts_html_invalid_codepoints,
                             sizeof ts_html_invalid_codepoints / sizeof ts_html_invalid_codepoints[0], (uint32_t)num))
                cp_push(out, (uint32_t)num);
            i = e;
            continue;
        }
        // named: [^\t\n\f <&#;]{1,32};?
        size_t e = j;
        while (e < n && e - j < 32 && in[e] != '\t' && in[e] != '\n' && in[e] != '\f' && in[e] != ' ' && in[e] != '<' &&
               in[e] != '&' && in[e] != '#' && in[e] != ';')
            e++;
        if (e == j) {
            cp_push(out, in[i++]);
            continue;
        }
        if (e < n && in[e] == ';') e++;
        const char * v = html5_find(in + j, e - j);
        if (v) {
            cp_push_utf8(out, v);
        } else {
            size_t x;
            for (x = e - j - 1; x > 1; x--)
                if ((v = html5_find(in + j, x))) break;
            if (v && x > 1) {
                cp_push_utf8(out, v);
                for (size_t k = j + x; k < e; k++) cp_push(out, in[k]);
            } else {
                for (size_t k = i; k < e; k++) cp_push(out, in[k]);
            }
        }
        i = e;
    }
}

// ---- ftfy.fix_text, the steps done here (tokenizer.h) ------------------------------

// ftfy.fixes.unescape_html: &#?[0-9A-Za-z]{1,24}; through its entity table.
static void ftfy_unescape(const cpbuf * in, cpbuf * out) {
    size_t i = 0, n = in->n;
    const uint32_t * c = in->c;
    while (i < n) {
        if (c[i] != '&') {
            cp_push(out, c[i++]);
            continue;
        }
        size_t j = i + 1 + (i + 1 < n && c[i + 1] == '#');
        size_t e = j;
        while (e < n && is_alnum(c[e])) e++;
        if (e == j || e - j > 24 || e >= n || c[e] != ';') {
            cp_push(out, c[i++]);
            continue;
        }
        size_t end = e + 1;  // the match is c[i..end)
        const char * v = NULL;
        if (c[i + 1] != '#') {
            v = html5_find(c + i + 1, end - i - 1);
            if (!v) {
                char name[32];
                for (size_t k = i + 1; k < end; k++) name[k - i - 1] = (char)c[k];
                v = entity_find(ts_ftfy_upper_entities,
                                sizeof ts_ftfy_upper_entities / sizeof ts_ftfy_upper_entities[0], name, end - i - 1);
            }
        }
        if (v) {
            cp_push_utf8(out, v);
        } else if (c[i + 1] == '#') {
            cpbuf u = {0};
            html_unescape(c + i, end - i, &u);
            int semi = 0;
            for (size_t k = 0; k < u.n; k++) semi |= u.c[k] == ';';
            if (semi)
                for (size_t k = i; k < end; k++) cp_push(out, c[k]);
            else
                for (size_t k = 0; k < u.n; k++) cp_push(out, u.c[k]);
            free(u.c);
        } else {
            for (size_t k = i; k < end; k++) cp_push(out, c[k]);
        }
        i = end;
    }
}

// Windows-1252 for U+0080..U+009F ("sloppy": its five holes stay as they are).
static const uint16_t cp1252_c1[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                       0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                       0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                       0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

// One pass of fix_c1_controls, fix_latin_ligatures, fix_character_width,
// uncurl_quotes, remove_terminal_escapes and remove_control_chars (ftfy's order;
// its other steps: see tokenizer.h).
static const char * ftfy_map_find(const struct ts_ftfy_map * tab, size_t n, uint32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tab[mid].cp == c) return tab[mid].utf8;
        if (tab[mid].cp < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static uint32_t uncurl(uint32_t c) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) return '\'';
    if (c >= 0x201C && c <= 0x201F) return '"';
    return c;
}

static void ftfy_chars(const cpbuf * in, cpbuf * out) {
    cpbuf a = {0}, lig = {0}, wid = {0};
    for (size_t i = 0; i < in->n; i++) {  // each step is a per-character translation
        uint32_t c = in->c[i];
        if (c >= 0x80 && c <= 0x9F) c = cp1252_c1[c - 0x80];
        lig.n = 0;
        const char * l = ftfy_map_find(ts_ftfy_ligatures, sizeof ts_ftfy_ligatures / sizeof ts_ftfy_ligatures[0], c);
        if (l)
            cp_push_utf8(&lig, l);
        else
            cp_push(&lig, c);
        for (size_t j = 0; j < lig.n; j++) {
            wid.n = 0;
            const char * w = ftfy_map_find(ts_ftfy_width, sizeof ts_ftfy_width / sizeof ts_ftfy_width[0], lig.c[j]);
            if (w)
                cp_push_utf8(&wid, w);
            else
                cp_push(&wid, lig.c[j]);
            for (size_t k = 0; k < wid.n; k++) cp_push(&a, uncurl(wid.c[k]));
        }
    }
    free(lig.c);
    free(wid.c);
    for (size_t i = 0; i < a.n; i++) {
        if (a.c[i] == 0x1B && i + 1 < a.n && a.c[i + 1] == '[') {  // \033\[(\d|;)*[a-zA-Z]
            size_t e = i + 2;
            while (e < a.n && (is_digit(a.c[e]) || a.c[e] == ';')) e++;
            if (e < a.n && ((a.c[e] | 0x20) >= 'a' && (a.c[e] | 0x20) <= 'z')) {
                i = e;
                continue;
            }
        }
        if (u32_in(ts_ftfy_control_chars, sizeof ts_ftfy_control_chars / sizeof ts_ftfy_control_chars[0], a.c[i]))
            continue;
        cp_push(out, a.c[i]);
    }
    free(a.c);
}

static void ftfy_fix_text(const cpbuf * in, cpbuf * out) {
    int unescape = 1;  // ftfy's unescape_html="auto": off from the first line with '<'
    size_t pos = 0;
    cpbuf seg = {0}, tmp = {0};
    while (pos < in->n) {
        size_t brk = pos;
        while (brk < in->n && in->c[brk] != '\n') brk++;
        if (brk < in->n) brk++;  // the line keeps its '\n'
        seg.n = 0;
        for (size_t k = pos; k < brk; k++) {
            cp_push(&seg, in->c[k]);
            if (in->c[k] == '<') unescape = 0;
        }
        for (;;) {
            cpbuf orig = {0};
            for (size_t k = 0; k < seg.n; k++) cp_push(&orig, seg.c[k]);
            if (unescape) {
                tmp.n = 0;
                ftfy_unescape(&seg, &tmp);
                cp_swap(&seg, &tmp);
            }
            tmp.n = 0;
            ftfy_chars(&seg, &tmp);
            cp_swap(&seg, &tmp);
            int same = cp_equal(&seg, &orig);
            free(orig.c);
            if (same) break;
        }
        for (size_t k = 0; k < seg.n; k++) cp_push(out, seg.c[k]);
        pos = brk;
    }
    free(seg.c);
    free(tmp.c);
}

enum ts_status ts_wan_prompt_clean(const char * text, char ** out) {
    *out = NULL;
    cpbuf a = {0}, b = {0};
    if (utf8_decode(text, &a) != 0) {
        free(a.c);
        return ts_error(TS_ERR_ARG, "write the prompt in UTF-8", "the prompt is not valid UTF-8");
    }
    ftfy_fix_text(&a, &b);
    a.n = 0;
    html_unescape(b.c, b.n, &a);
    b.n = 0;
    html_unescape(a.c, a.n, &b);
    // str.strip(), then regex.sub(r"\s+", " ") (the `regex` module's \s: Unicode
    // White_Space, without str.isspace's U+1C..U+1F), then str.strip()
    size_t lo = 0, hi = b.n;
    while (lo < hi && py_isspace(b.c[lo])) lo++;
    while (hi > lo && py_isspace(b.c[hi - 1])) hi--;
    a.n = 0;
    for (size_t i = lo; i < hi;) {
        if (py_isspace(b.c[i]) && !(b.c[i] >= 0x1C && b.c[i] <= 0x1F)) {
            while (i < hi && py_isspace(b.c[i]) && !(b.c[i] >= 0x1C && b.c[i] <= 0x1F)) i++;
            cp_push(&a, ' ');
        } else {
            cp_push(&a, b.c[i++]);
        }
    }
    lo = 0, hi = a.n;
    while (lo < hi && py_isspace(a.c[lo])) lo++;
    while (hi > lo && py_isspace(a.c[hi - 1])) hi--;
    if (hi > lo) memmove(a.c, a.c + lo, (hi - lo) * sizeof(uint32_t));
    a.n = hi - lo;
    *out = utf8_encode(&a);
    free(a.c);
    free(b.c);
    return TS_OK;
}

// ---- the unigram lattice, as tokenizers' Unigram::encode_optimized ------------------

static uint64_t fnv1a(const char * s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void build_lattice_table(struct ts_wan_tokenizer * t) {
    t->n_slot = 1024;
    while (t->n_slot < 2 * (size_t)t->n_spm) t->n_slot *= 2;
    t->slot = ts_malloc(t->n_slot * sizeof(int32_t));
    memset(t->slot, 0xFF, t->n_slot * sizeof(int32_t));
    double min_score = 0.0;
    for (int id = 0; id < t->n_spm; id++) {
        float sc;
        int normal;
        const char * p = ts_spm_piece(t->spm, id, &sc, &normal);
        if (sc < min_score) min_score = sc;
        // every piece, as in tokenizers' trie (special tokens are split out before)
        size_t n = strlen(p);
        if ((int)n > t->max_piece) t->max_piece = (int)n;
        size_t i = fnv1a(p, n) & (t->n_slot - 1);
        while (t->slot[i] >= 0) i = (i + 1) & (t->n_slot - 1);
        t->slot[i] = id;
    }
    t->unk_score = min_score - 10.0;
}

static int lattice_find(const struct ts_wan_tokenizer * t, const char * s, size_t n, double * score) {
    for (size_t i = fnv1a(s, n) & (t->n_slot - 1); t->slot[i] >= 0; i = (i + 1) & (t->n_slot - 1)) {
        float sc;
        int normal;
        const char * p = ts_spm_piece(t->spm, t->slot[i], &sc, &normal);
        if (strlen(p) == n && memcmp(p, s, n) == 0) {
            *score = sc;
            return t->slot[i];
        }
    }
    return -1;
}

static size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

// The best segmentation of one normalized word w[0, n) (it starts with U+2581):
// tokenizers' tie rule (the first path found keeps a tie: starts in order, then
// shorter pieces first), consecutive unknowns fused into one <unk>. Appends ids and,
// per id, the byte of w where it starts.
static void lattice_word(const struct ts_wan_tokenizer * t, const char * w, size_t n, int32_t * ids, size_t * starts,
                         size_t * count) {
    struct node {
        double score;
        int id, from;  // from -1: not reached
    } * best = ts_malloc((n + 1) * sizeof *best);
    for (size_t i = 0; i <= n; i++) best[i] = (struct node){0.0, -1, -1};
    best[0].from = 0;
    for (size_t a = 0; a < n;) {
        size_t mb = utf8_len((unsigned char)w[a]);
        int single = 0;
        for (size_t len = 1; len <= (size_t)t->max_piece && a + len <= n; len++) {
            double sc;
            int id = lattice_find(t, w + a, len, &sc);
            if (id < 0) continue;
            double cand = best[a].score + sc;
            if (best[a + len].from < 0 || cand > best[a + len].score) best[a + len] = (struct node){cand, id, (int)a};
            if (len == mb) single = 1;
        }
        if (!single && a + mb <= n) {
            double cand = best[a].score + t->unk_score;
            if (best[a + mb].from < 0 || cand > best[a + mb].score)
                best[a + mb] = (struct node){cand, t->unk_out, (int)a};
        }
        a += mb;
    }
    size_t m = 0, e = n;
    int32_t * rid = ts_malloc((n + 1) * sizeof(int32_t));
    size_t * rst = ts_malloc((n + 1) * sizeof(size_t));
    while (e > 0) {
        size_t a = (size_t)best[e].from;
        int id = best[e].id;
        if (!(id == t->unk_out && m > 0 && rid[m - 1] == t->unk_out)) m++;  // fuse unknowns
        rid[m - 1] = id, rst[m - 1] = a;
        e = a;
    }
    for (size_t i = 0; i < m; i++) ids[*count + i] = rid[m - 1 - i], starts[*count + i] = rst[m - 1 - i];
    *count += m;
    free(rid);
    free(rst);
    free(best);
}

// ---- loading ----------------------------------------------------------------------

static int is_dir(const char * p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int is_file(const char * p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}
static int ends_with(const char * s, const char * suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static void add_special(struct ts_wan_tokenizer * t, const char * text, int id) {
    for (int i = 0; i < t->n_special; i++)
        if (strcmp(t->special[i].text, text) == 0) return;
    t->special = realloc(t->special, (size_t)(t->n_special + 1) * sizeof *t->special);
    TS_ASSERT(t->special);
    t->special[t->n_special].text = strdup(text);
    TS_ASSERT(t->special[t->n_special].text);
    t->special[t->n_special++].id = id;
    if (id + 1 > t->vocab) t->vocab = id + 1;
}

// protobuf writing, enough for a SentencePiece ModelProto
typedef struct {
    unsigned char * p;
    size_t n, cap;
} pbuf;
static void pb_bytes(pbuf * b, const void * s, size_t n) {
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = realloc(b->p, b->cap);
        TS_ASSERT(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void pb_varint(pbuf * b, uint64_t v) {
    unsigned char t[10];
    int k = 0;
    do {
        t[k] = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v) t[k] |= 0x80;
        k++;
    } while (v);
    pb_bytes(b, t, (size_t)k);
}
static void pb_key(pbuf * b, int field, int wire) { pb_varint(b, (uint64_t)((field << 3) | wire)); }
static void pb_int(pbuf * b, int field, int64_t v) { pb_key(b, field, 0), pb_varint(b, (uint64_t)v); }
static void pb_len(pbuf * b, int field, const void * s, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_bytes(b, s, n);
}
static void pb_float(pbuf * b, int field, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    unsigned char t[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                          (unsigned char)(u >> 24)};
    pb_key(b, field, 5);
    pb_bytes(b, t, 4);
}

static int b64_val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
static unsigned char * b64_decode(const char * s, size_t * n) {
    size_t len = strlen(s);
    unsigned char * out = ts_malloc(len / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') break;
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *n = o;
    return out;
}

static json_t * find_precompiled(json_t * norm) {  // the Precompiled normalizer, maybe inside a Sequence
    if (!json_is_object(norm)) return NULL;
    const char * type = json_string_value(json_object_get(norm, "type"));
    if (type && strcmp(type, "Precompiled") == 0) return norm;
    json_t * seq = json_object_get(norm, "normalizers");
    size_t i;
    json_t * v;
    json_array_foreach(seq, i, v) {
        json_t * p = find_precompiled(v);
        if (p) return p;
    }
    return NULL;
}

// An added token matched in the raw text before SentencePiece: special ones, and
// others not marked "normalized" (those would be matched after normalization,
// which is not done here).
static int split_token(json_t * tok) {
    return json_is_true(json_object_get(tok, "special")) || json_is_false(json_object_get(tok, "normalized"));
}

static int t5_class(const char * cls) {  // AutoTokenizer's class: T5Tokenizer when unnamed
    return !cls || strcmp(cls, "T5Tokenizer") == 0 || strcmp(cls, "T5TokenizerFast") == 0;
}

// tokenizer.json (Unigram) -> a SentencePiece ModelProto in memory.
static enum ts_status load_tokenizer_json(const char * path, struct ts_wan_tokenizer * t) {
    json_error_t jerr;
    json_t * root = json_load_file(path, 0, &jerr);
    if (!root)
        return ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "tokenizer file '%s' is not valid JSON: %s (line %d)", path,
                        jerr.text, jerr.line);
    enum ts_status st = TS_OK;
    pbuf pb = {0};
    unsigned char * charsmap = NULL;
    json_t * model = json_object_get(root, "model");
    const char * type = json_string_value(json_object_get(model, "type"));
    json_t * vocab = json_object_get(model, "vocab");
    json_t * unk = json_object_get(model, "unk_id");
    if (!type || strcmp(type, "Unigram") != 0 || !json_is_array(vocab) || json_array_size(vocab) == 0 ||
        !json_is_integer(unk)) {
        st = ts_error(TS_ERR_FORMAT,
                      "umT5 uses a SentencePiece unigram model: use the tokenizer/ folder of a Wan2.1 checkpoint",
                      "tokenizer file '%s' has no Unigram model (model.type '%s')", path, type ? type : "?");
        goto done;
    }
    json_t * added = json_object_get(root, "added_tokens");
    size_t nv = json_array_size(vocab), i;
    json_t * v;
    int unk_id = (int)json_integer_value(unk), eos_id = -1, pad_id = -1;
    json_array_foreach(vocab, i, v) {
        const char * piece = json_string_value(json_array_get(v, 0));
        json_t * sc = json_array_get(v, 1);
        if (!piece || !json_is_number(sc)) {
            st = ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "tokenizer file '%s': vocab entry %zu is not [piece, score]",
                          path, i);
            goto done;
        }
        int special = 0;
        size_t k;
        json_t * a;
        json_array_foreach(added, k, a) {
            const char * c = json_string_value(json_object_get(a, "content"));
            if (c && strcmp(c, piece) == 0 && json_is_true(json_object_get(a, "special"))) special = 1;
        }
        if (strcmp(piece, "</s>") == 0) eos_id = (int)i;
        if (strcmp(piece, "<pad>") == 0) pad_id = (int)i;
        // type: 1 NORMAL, 2 UNKNOWN, 3 CONTROL (never produced from text)
        int ptype = (int)i == unk_id ? 2 : special ? 3 : 1;
        pbuf p = {0};
        pb_len(&p, 1, piece, strlen(piece));
        pb_float(&p, 2, (float)json_number_value(sc));
        pb_int(&p, 3, ptype);
        pb_len(&pb, 1, p.p, p.n);
        free(p.p);
    }
    {  // trainer_spec: unigram, the special ids
        pbuf p = {0};
        pb_int(&p, 3, 1);
        pb_int(&p, 4, (int64_t)nv);
        pb_int(&p, 40, unk_id);
        pb_int(&p, 41, -1);
        pb_int(&p, 42, eos_id);
        pb_int(&p, 43, pad_id);
        pb_len(&pb, 2, p.p, p.n);
        free(p.p);
    }
    {  // normalizer_spec: the precompiled charsmap, SentencePiece's whitespace handling
        pbuf p = {0};
        json_t * pre = find_precompiled(json_object_get(root, "normalizer"));
        const char * b64 = pre ? json_string_value(json_object_get(pre, "precompiled_charsmap")) : NULL;
        size_t cn = 0;
        if (b64 && !(charsmap = b64_decode(b64, &cn))) {
            st = ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "tokenizer file '%s': the precompiled_charsmap is not base64",
                          path);
            goto done;
        }
        const char * name = charsmap ? "nmt_nfkc" : "identity";
        pb_len(&p, 1, name, strlen(name));
        if (charsmap) pb_len(&p, 2, charsmap, cn);
        pb_int(&p, 3, 1);
        pb_int(&p, 4, 1);
        pb_int(&p, 5, 1);
        pb_len(&pb, 3, p.p, p.n);
        free(p.p);
    }
    char err[512];
    if (ts_spm_load_bytes(pb.p, pb.n, &t->spm, err, sizeof err) != 0) {
        st = ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "tokenizer file '%s': SentencePiece refused its unigram model: %s",
                      path, err);
        goto done;
    }
    t->n_spm = t->vocab = ts_spm_vocab_size(t->spm);
    {  // the class AutoTokenizer would build, from tokenizer_config.json beside the file
        char cfg[4096];
        snprintf(cfg, sizeof cfg, "%s", path);
        char * slash = strrchr(cfg, '/');
        snprintf(slash ? slash + 1 : cfg, sizeof cfg - (size_t)(slash ? slash + 1 - cfg : 0), "tokenizer_config.json");
        json_t * c = is_file(cfg) ? json_load_file(cfg, 0, NULL) : NULL;
        t->other_class = !t5_class(json_string_value(json_object_get(c, "tokenizer_class")));
        json_decref(c);
    }
    json_array_foreach(added, i, v) {
        const char * c = json_string_value(json_object_get(v, "content"));
        json_t * id = json_object_get(v, "id");
        if (!c || !json_is_integer(id) || !split_token(v)) continue;
        json_int_t k = json_integer_value(id);
        if (k < 0 || k >= INT32_MAX) {  // an id past int32 or negative would reach the encoder's embedding lookup
            st = ts_error(TS_ERR_FORMAT, TS_TOK_HINT,
                          "tokenizer file '%s': added token %zu ('%.40s') has id %lld, outside 0..2147483646", path, i,
                          c, (long long)k);
            goto done;
        }
        add_special(t, c, (int)k);
    }
done:
    free(pb.p);
    free(charsmap);
    json_decref(root);
    return st;
}

// T5Tokenizer's special tokens over a SentencePiece model: the model's own pad,
// eos, unk (and bos when `bos`), then extra_ids sentinels past the pieces, in
// reverse (<extra_id_0> last).
static void add_t5_specials(struct ts_wan_tokenizer * t, int extra, int bos) {
    int ids[4] = {ts_spm_pad_id(t->spm), ts_spm_eos_id(t->spm), ts_spm_unk_id(t->spm),
                  bos ? ts_spm_bos_id(t->spm) : -1};
    const char * names[4] = {"<pad>", "</s>", "<unk>", "<s>"};
    for (int k = 0; k < 4; k++)
        if (ids[k] >= 0) add_special(t, names[k], ids[k]);
    for (int k = 0; k < extra; k++) {
        char name[32];
        snprintf(name, sizeof name, "<extra_id_%d>", k);
        add_special(t, name, t->n_spm + extra - 1 - k);
    }
}

static enum ts_status load_spiece(const char * path, const char * dir, struct ts_wan_tokenizer * t) {
    char err[512];
    if (ts_spm_load_file(path, &t->spm, err, sizeof err) != 0)
        return ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "tokenizer '%s' is not a SentencePiece model: %s", path, err);
    t->n_spm = t->vocab = ts_spm_vocab_size(t->spm);
    int extra = 100;  // tokenizer_config.json: extra_ids, the special added tokens it lists, the class
    json_t * root = NULL;
    if (dir) {
        char cfg[4096];
        snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
        if (is_file(cfg)) {
            json_error_t jerr;
            root = json_load_file(cfg, 0, &jerr);
            if (!root)
                return ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "'%s' is not valid JSON: %s (line %d)", cfg, jerr.text,
                                jerr.line);
            json_t * e = json_object_get(root, "extra_ids");
            if (json_is_integer(e) && json_integer_value(e) >= 0 && json_integer_value(e) <= 100000)
                extra = (int)json_integer_value(e);
        }
    }
    t->other_class = !t5_class(json_string_value(json_object_get(root, "tokenizer_class")));
    const char * key;
    json_t * v;
    json_object_foreach(json_object_get(root, "added_tokens_decoder"), key, v) {
        const char * c = json_string_value(json_object_get(v, "content"));
        char * end;
        long id = strtol(key, &end, 10);
        if (c && *end == '\0' && id >= 0 && id < INT32_MAX && split_token(v)) add_special(t, c, (int)id);
    }
    json_decref(root);
    add_t5_specials(t, extra, 1);
    return TS_OK;
}

static enum ts_status finish_load(struct ts_wan_tokenizer * t, const char * what);

enum ts_status ts_wan_tokenizer_load_bytes(const void * data, size_t n, int extra_ids, const char * what,
                                           ts_wan_tokenizer_t * out) {
    *out = NULL;
    TS_NO_SPM_CHECK();
    struct ts_wan_tokenizer * t = ts_calloc(1, sizeof *t);
    char err[512];
    enum ts_status st = TS_OK;
    if (ts_spm_load_bytes(data, n, &t->spm, err, sizeof err) != 0) {
        st = ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "the tokenizer in %s is not a SentencePiece model: %s", what, err);
    } else {
        t->n_spm = t->vocab = ts_spm_vocab_size(t->spm);
        add_t5_specials(t, extra_ids, 1);
        st = finish_load(t, what);
    }
    if (st != TS_OK) {
        ts_wan_tokenizer_free(&t);
        return st;
    }
    *out = t;
    return TS_OK;
}

enum ts_status ts_wan_tokenizer_load(const char * path, ts_wan_tokenizer_t * out) {
    *out = NULL;
    TS_NO_SPM_CHECK();
    struct ts_wan_tokenizer * t = ts_calloc(1, sizeof *t);
    enum ts_status st;
    char buf[4096];
    if (is_dir(path)) {
        snprintf(buf, sizeof buf, "%s/spiece.model", path);
        if (is_file(buf)) {
            st = load_spiece(buf, path, t);
        } else {
            snprintf(buf, sizeof buf, "%s/tokenizer.json", path);
            if (is_file(buf))
                st = load_tokenizer_json(buf, t);
            else
                st = ts_error(TS_ERR_IO,
                              "copy spiece.model (or tokenizer.json) from the checkpoint's tokenizer/ folder, or name "
                              "the file with --tokenizer",
                              "tokenizer directory '%s' has neither spiece.model nor tokenizer.json", path);
        }
    } else if (is_file(path)) {
        if (ends_with(path, ".json")) {
            st = load_tokenizer_json(path, t);
        } else {
            // a .model file: its folder may hold tokenizer_config.json
            snprintf(buf, sizeof buf, "%s", path);
            char * slash = strrchr(buf, '/');
            if (slash) *slash = '\0';
            st = load_spiece(path, slash ? buf : ".", t);
        }
    } else {
        st = ts_error(TS_ERR_IO, TS_TOK_HINT, "tokenizer '%s' does not exist", path);
    }
    if (st == TS_OK) st = finish_load(t, path);
    if (st != TS_OK) {
        ts_wan_tokenizer_free(&t);
        return st;
    }
    *out = t;
    return TS_OK;
}

static enum ts_status finish_load(struct ts_wan_tokenizer * t, const char * what) {
    t->eos = ts_spm_eos_id(t->spm);
    t->pad = ts_spm_pad_id(t->spm);
    t->unk = ts_spm_unk_id(t->spm);
    if (t->eos < 0)
        return ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "tokenizer '%s' has no end-of-sequence piece </s>", what);
    if (t->unk < 0) return ts_error(TS_ERR_FORMAT, TS_TOK_HINT, "tokenizer '%s' has no unknown piece <unk>", what);
    if (t->pad < 0) t->pad = 0;
    // transformers 5's T5Tokenizer builds its Unigram model with unk_id=2 and no byte
    // fallback, whatever the model says: text no piece covers is id 2 (umT5's <s>;
    // its <unk> is 3). That is the reference, so it is reproduced here.
    t->unk_out = t->other_class ? t->unk : 2;
    build_lattice_table(t);
    return TS_OK;
}

void ts_wan_tokenizer_free(ts_wan_tokenizer_t * tok) {
    if (!tok || !*tok) return;
    struct ts_wan_tokenizer * t = *tok;
    ts_spm_free(&t->spm);
    free(t->slot);
    for (int i = 0; i < t->n_special; i++) free(t->special[i].text);
    free(t->special);
    free(t);
    *tok = NULL;
}

int ts_wan_tokenizer_vocab_size(const ts_wan_tokenizer_t tok) { return tok->vocab; }

int ts_wan_tokenizer_unknown_id(const ts_wan_tokenizer_t tok) { return tok->unk_out; }

const char * ts_wan_tokenizer_piece(const ts_wan_tokenizer_t tok, int id) {
    for (int i = 0; i < tok->n_special; i++)  // a few hundred at most: for printing, not for encoding
        if (tok->special[i].id == id) return tok->special[i].text;
    if (id < 0 || id >= tok->n_spm) return "";
    float score;
    int normal;
    const char * p = ts_spm_piece(tok->spm, id, &score, &normal);
    return p ? p : "";
}

// ---- prompt weights ---------------------------------------------------------------

// Reads a weight number at s (digits with an optional fraction); its length, or 0.
static size_t weight_number(const char * s, double * w) {
    size_t k = 0;
    int digits = 0;
    while (isdigit((unsigned char)s[k])) k++, digits++;
    if (s[k] == '.') {
        k++;
        while (isdigit((unsigned char)s[k])) k++, digits++;
    }
    if (!digits) return 0;
    char tmp[64];
    if (k >= sizeof tmp) return 0;
    memcpy(tmp, s, k);
    tmp[k] = '\0';
    *w = strtod(tmp, NULL);
    return k;
}

// The cleaned text without its weight syntax, and a weight per byte of it.
static enum ts_status strip_weights(const char * s, char ** plain, float ** wts, int * weighted) {
    size_t n = strlen(s);
    float * w = ts_malloc((n + 1) * sizeof(float));
    char * keep = ts_calloc(n + 1, 1);
    for (size_t i = 0; i < n; i++) w[i] = 1.0f, keep[i] = 1;
    *weighted = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        double wv;
        size_t k;
        if (!(s[i] == ':' && s[i + 1] == ':' && i > 0 && (k = weight_number(s + i + 2, &wv)) > 0)) continue;
        size_t lo, hi = i;  // the span [lo, hi)
        if (s[i - 1] == ')') {
            int depth = 0;
            size_t j = i - 1;
            for (;;) {
                if (s[j] == ')')
                    depth++;
                else if (s[j] == '(' && --depth == 0)
                    break;
                if (j == 0) break;
                j--;
            }
            if (depth != 0) continue;  // no matching '(': plain text
            keep[j] = keep[i - 1] = 0;
            lo = j + 1;
            hi = i - 1;
        } else {
            lo = i;
            while (lo > 0 && s[lo - 1] != ' ') lo--;
        }
        if (hi <= lo) continue;
        // (float)wv >= FLT_MIN: a weight that rounds to 0 (or to a subnormal) in float is out of range too
        if (!(wv > 0.0 && wv <= TS_PROMPT_MAX_WEIGHT && (float)wv >= FLT_MIN))
            return free(w), free(keep),
                   ts_error(TS_ERR_ARG, "weights are written word::1.5 or (several words)::0.7, between 0 and 10",
                            "prompt weight %.*s at column %zu is out of range", (int)(k + 2), s + i, i + 1);
        for (size_t j = lo; j < hi; j++) {  // stacked weights multiply: the product stays a normal float
            double prod = (double)w[j] * wv;
            float p = w[j] * (float)wv;
            if (!(p >= FLT_MIN && p <= FLT_MAX))
                return free(w), free(keep),
                       ts_error(TS_ERR_ARG,
                                "stacked weights, as in ((a cat)::2 runs)::3, multiply: keep the product "
                                "between 1e-37 and 1e38",
                                "the prompt weights stacked at column %zu multiply to %g, out of range", i + 1, prod);
            w[j] = p;
        }
        for (size_t j = i; j < i + 2 + k; j++) keep[j] = 0;
        *weighted = 1;
        i += 1 + k;
    }
    char * p = ts_malloc(n + 1);
    float * pw = ts_malloc((n + 1) * sizeof(float));
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) p[o] = s[i], pw[o++] = w[i];
    p[o] = '\0';
    free(w);
    free(keep);
    *plain = p;
    *wts = pw;
    return TS_OK;
}

// ---- tokenizing --------------------------------------------------------------------

typedef struct {
    int32_t * id;
    float * w;
    size_t n, cap;
} toks;
static void toks_push(toks * t, int32_t id, float w) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->id = realloc(t->id, t->cap * sizeof(int32_t));
        t->w = realloc(t->w, t->cap * sizeof(float));
        TS_ASSERT(t->id && t->w);
    }
    t->id[t->n] = id;
    t->w[t->n++] = w;
}

// text[a, b): SentencePiece normalizes it and splits it into words (its pieces'
// texts, an unknown piece as a byte no piece holds); each word is then segmented
// as tokenizers does (lattice_word), which breaks ties between equal-score paths
// its own way, unlike SentencePiece. A piece's weight is that of the first
// non-space byte of the SentencePiece piece it starts in.
static enum ts_status encode_span(const struct ts_wan_tokenizer * t, const char * text, const float * w, size_t a,
                                  size_t b, toks * out) {
    if (b <= a) return TS_OK;
    int32_t * ids;
    uint32_t * off;
    int n;
    char err[512];
    if (ts_spm_encode(t->spm, text + a, b - a, &ids, &off, &n, err, sizeof err) != 0)
        return ts_error(TS_ERR_ARG, NULL, "SentencePiece could not encode the prompt: %s", err);
    size_t cap = 64, len = 0;
    char * word = ts_malloc(cap);
    int * src = ts_malloc(cap * sizeof(int));  // the SentencePiece piece of each byte of word
    int32_t * wid = NULL;
    size_t * wst = NULL;
    for (int i = 0; i <= n; i++) {
        float sc;
        int normal = 1;
        const char * p = i < n ? ts_spm_piece(t->spm, ids[i], &sc, &normal) : NULL;
        char byte[2] = {0, 0};
        if (p && !normal) {
            // a byte-fallback piece <0xHH> is that byte of the normalized text; <unk>
            // becomes a byte no piece holds (the lattice makes it unknown again)
            unsigned v;
            if (strlen(p) == 6 && sscanf(p, "<0x%2X>", &v) == 1 && v > 0)
                byte[0] = (char)v, p = byte;
            else
                p = "\x01";
        }
        int starts_word = p && strncmp(p, "\xe2\x96\x81", 3) == 0;
        if ((i == n || starts_word) && len > 0) {  // segment the word so far
            wid = realloc(wid, (len + 1) * sizeof(int32_t));
            wst = realloc(wst, (len + 1) * sizeof(size_t));
            size_t m = 0;
            lattice_word(t, word, len, wid, wst, &m);
            for (size_t k = 0; k < m; k++) {
                int sp = src[wst[k]];
                size_t q = a + off[2 * sp], e = a + off[2 * sp + 1];
                while (q + 1 < e && text[q] == ' ') q++;
                toks_push(out, wid[k], q < b ? w[q] : 1.0f);
            }
            len = 0;
        }
        if (i == n) break;
        size_t pl = strlen(p);
        while (len + pl + 1 > cap) {
            cap *= 2;
            word = realloc(word, cap);
            src = realloc(src, cap * sizeof(int));
            TS_ASSERT(word && src);
        }
        memcpy(word + len, p, pl);
        for (size_t k = 0; k < pl; k++) src[len + k] = i;
        len += pl;
    }
    free(word), free(src), free(wid), free(wst);
    free(ids);
    free(off);
    return TS_OK;
}

enum ts_status ts_wan_tokenize(const ts_wan_tokenizer_t tok, const char * text, struct ts_wan_tokens * out) {
    memset(out, 0, sizeof *out);
    char *clean = NULL, *plain = NULL;
    float * w = NULL;
    toks tk = {0};
    enum ts_status st = ts_wan_prompt_clean(text, &clean);
    if (st == TS_OK) st = strip_weights(clean, &plain, &w, &out->weighted);
    // special tokens written in the text split it (leftmost, then longest match)
    size_t n = plain ? strlen(plain) : 0, a = 0, i = 0;
    while (st == TS_OK && i < n) {
        int best = -1;
        size_t best_len = 0;
        if (plain[i] == '<')
            for (int k = 0; k < tok->n_special; k++) {
                size_t l = strlen(tok->special[k].text);
                if (l > best_len && strncmp(plain + i, tok->special[k].text, l) == 0) best = k, best_len = l;
            }
        if (best < 0) {
            i++;
            continue;
        }
        st = encode_span(tok, plain, w, a, i, &tk);
        toks_push(&tk, tok->special[best].id, w[i]);
        i += best_len;
        a = i;
    }
    if (st == TS_OK) st = encode_span(tok, plain, w, a, n, &tk);
    if (st == TS_OK) {
        int keep = tk.n > TS_WAN_TEXT_LEN - 1 ? TS_WAN_TEXT_LEN - 1 : (int)tk.n;
        out->n_pieces = (int)tk.n;
        out->truncated = tk.n > TS_WAN_TEXT_LEN - 1;
        for (int k = 0; k < TS_WAN_TEXT_LEN; k++) {
            out->ids[k] = k < keep ? tk.id[k] : k == keep ? tok->eos : tok->pad;
            out->weight[k] = k < keep ? tk.w[k] : 1.0f;
            out->mask[k] = k <= keep;
        }
        out->n_valid = keep + 1;
        if (out->truncated)
            TS_WARN(
                "the prompt is %zu tokens long; umT5 reads 511 and </s>: the last %zu were dropped (as diffusers does)",
                tk.n + 1, tk.n - (size_t)keep);
    }
    free(clean);
    free(plain);
    free(w);
    free(tk.id);
    free(tk.w);
    return st;
}
