// The prompt syntax, parsed in this one place: words, with optional weights
// `word::1.5` and `(several words)::0.7`; and storyboards (`FIRST-LAST: prompt`
// lines). A weight multiplies the word's share of cross-attention before
// normalisation (log w is added to its logits; weight 0 masks it out).
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "model/prompt.h"

static int is_word_char(char c) { return isalnum((unsigned char)c) && (unsigned char)c < 128; }

// Parses "::<number>" at *s (s points at the first ':'); advances *s.
static enum ts_status parse_weight(const char ** s, const char * text, float * w) {
    const char * p = *s + 2;
    char * end = NULL;
    errno = 0;
    double v = strtod(p, &end);
    const char * hint = "weights look like word::1.5 or (several words)::0.7, between 0 and " TS_PROMPT_MAX_WEIGHT_STR;
    if (end == p)
        return ts_error(TS_ERR_ARG, hint, "malformed weight after '::' at column %d of the prompt",
                        (int)(*s - text) + 1);
    if (errno || !(v >= 0.0) || v > TS_PROMPT_MAX_WEIGHT)
        return ts_error(TS_ERR_ARG, hint, "weight %.*s at column %d of the prompt is outside [0, %s]",
                        (int)(end - p), p, (int)(p - text) + 1, TS_PROMPT_MAX_WEIGHT_STR);
    if (is_word_char(*end) || *end == ':' || *end == '.')
        return ts_error(TS_ERR_ARG, hint, "malformed weight '%.*s' at column %d of the prompt",
                        (int)(strcspn(p, " \t)(")), p, (int)(p - text) + 1);
    *w = (float)v;
    *s = end;
    return TS_OK;
}

enum ts_status ts_prompt_parse(const char * text, struct ts_prompt_word * words, int max_words, int * n_out) {
    int n = 0, group_start = -1;
    const char * s = text;
    *n_out = 0;
    while (*s) {
        if (*s == '(') {
            if (group_start >= 0)
                return ts_error(TS_ERR_ARG, "groups cannot nest", "nested '(' at column %d of the prompt",
                                (int)(s - text) + 1);
            group_start = n;
            s++;
        } else if (*s == ')') {
            if (group_start < 0)
                return ts_error(TS_ERR_ARG, NULL, "unmatched ')' at column %d of the prompt", (int)(s - text) + 1);
            s++;
            if (s[0] == ':' && s[1] == ':') {
                float w;
                TS_TRY(parse_weight(&s, text, &w));
                for (int i = group_start; i < n; i++) words[i].weight = w;
            }
            group_start = -1;
        } else if (s[0] == ':' && s[1] == ':') {
            if (n == 0 || (s > text && !is_word_char(s[-1])))
                return ts_error(TS_ERR_ARG, "write the weight right after a word: red::1.5", "'::' without a word "
                                "before it at column %d of the prompt", (int)(s - text) + 1);
            float w;
            TS_TRY(parse_weight(&s, text, &w));
            words[n - 1].weight = w;
        } else if (is_word_char(*s)) {
            if (n == max_words) return ts_error(TS_ERR_ARG, NULL, "the prompt has more than %d words", max_words);
            size_t k = 0;
            while (is_word_char(*s)) {
                if (k + 1 < sizeof(words[n].word)) words[n].word[k++] = (char)tolower((unsigned char)*s);
                s++;
            }
            words[n].word[k] = '\0';
            words[n].weight = 1.0f;
            n++;
        } else {
            s++;
        }
    }
    if (group_start >= 0) return ts_error(TS_ERR_ARG, NULL, "unmatched '(' in the prompt");
    *n_out = n;
    return TS_OK;
}

// ---- storyboards ----------------------------------------------------------------------
enum ts_status ts_storyboard_load(const char * path, int64_t frames, struct ts_storyboard * sb) {
    memset(sb, 0, sizeof(*sb));
    snprintf(sb->path, sizeof(sb->path), "%s", path);
    FILE * f = NULL;
    TS_TRY(ts_text_open(path, "storyboard", "check the path given with --storyboard", &f));
    const char * hint = "storyboard lines look like '0-23: a red circle moving left on a blue background'";
    char line[4096];
    int lineno = 0, cap = 0, r;
    int64_t next = 0;
    enum ts_status st = TS_OK;
    size_t tl = 0, len = 0;
    while (st == TS_OK && (r = ts_text_line(f, line, sizeof(line), &len)) != 0) {
        lineno++;
        if (r < 0) {
            st = ts_error(TS_ERR_FORMAT, r == -1 ? "split the segment, or shorten its prompt" : "is this a text file?",
                          r == -1 ? "%s:%d: line longer than %zu bytes" : "%s:%d: NUL byte in line", path, lineno,
                          sizeof(line) - 1);
            break;
        }
        char * s = line;
        if (lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3)) s += 3;  // a UTF-8 byte order mark (some editors write one)
        while (isspace((unsigned char)*s)) s++;
        if (!*s || *s == '#') continue;
        char * end = NULL;
        errno = 0;
        long long a = strtoll(s, &end, 10);
        long long b = -1;
        if (end != s && *end == '-') {
            char * p = end + 1;
            b = strtoll(p, &end, 10);
            if (end == p) b = -1;
        }
        if (errno == ERANGE) {  // beyond any video's length: say so, not the clamped value
            st = ts_error(TS_ERR_FORMAT, hint, "%s:%d: a frame number there is too large", path, lineno);
            break;
        }
        while (end && isspace((unsigned char)*end)) end++;
        if (b < 0 || !end || *end != ':') {
            st = ts_error(TS_ERR_FORMAT, hint, "%s:%d: expected 'FIRST-LAST: prompt'", path, lineno);
            break;
        }
        char * prompt = end + 1;
        while (isspace((unsigned char)*prompt)) prompt++;
        // the segment's motion controls follow '|' (the prompt syntax never uses it)
        char * bar = strchr(prompt, '|');
        const char * controls = "";
        if (bar) {
            controls = bar + 1;
            while (isspace((unsigned char)*controls)) controls++;
            *bar = '\0';
            for (char * e = bar; e > prompt && isspace((unsigned char)e[-1]); e--) e[-1] = '\0';
        }
        if (a < 0 || *s == '-')
            st = ts_error(TS_ERR_FORMAT, hint, "%s:%d: frame numbers start at 0 (got %lld)", path, lineno, a);
        else if (strlen(prompt) >= sizeof(sb->seg[0].prompt))
            st = ts_error(TS_ERR_FORMAT, "split the segment, or shorten its prompt", "%s:%d: prompt longer than %zu bytes",
                          path, lineno, sizeof(sb->seg[0].prompt) - 1);
        else if (!*prompt) st = ts_error(TS_ERR_FORMAT, hint, "%s:%d: empty prompt", path, lineno);
        else if (bar && !*controls)
            st = ts_error(TS_ERR_FORMAT, "after '|' come the segment's motion controls, e.g. '| gravity=125 bounce=0.8'",
                          "%s:%d: nothing after '|'", path, lineno);
        else if (strlen(controls) >= sizeof(sb->seg[0].controls))
            st = ts_error(TS_ERR_FORMAT, "split the segment, or give fewer path keys",
                          "%s:%d: motion controls longer than %zu bytes", path, lineno, sizeof(sb->seg[0].controls) - 1);
        else if (a > b) st = ts_error(TS_ERR_FORMAT, hint, "%s:%d: range %lld-%lld is reversed", path, lineno, a, b);
        else if (a > next)
            st = ts_error(TS_ERR_FORMAT, "lines go in frame order, from frame 0, each starting where the one before ends",
                          sb->n ? "%s:%d: frames %lld-%lld are not covered (a gap after the line before)"
                                : "%s:%d: frames %lld-%lld are not covered (the first line starts at frame %lld)",
                          path, lineno, (long long)next, a - 1, a);
        else if (a < next) st = ts_error(TS_ERR_FORMAT, hint, "%s:%d: range %lld-%lld overlaps the line before", path,
                                         lineno, a, b);
        else if (b >= frames)
            st = ts_error(TS_ERR_FORMAT, "the video's frames are counted from 0; use --frames to make it longer",
                          "%s:%d: range %lld-%lld goes past the video's last frame %lld", path, lineno, a, b,
                          (long long)frames - 1);
        if (st != TS_OK) break;
        if (sb->n == cap) {
            cap = cap ? 2 * cap : 8;
            sb->seg = realloc(sb->seg, (size_t)cap * sizeof(*sb->seg));
            TS_ASSERT(sb->seg);
        }
        struct ts_story_segment * g = &sb->seg[sb->n++];
        g->first = a, g->last = b;
        snprintf(g->prompt, sizeof(g->prompt), "%s", prompt);
        snprintf(g->controls, sizeof(g->controls), "%s", controls);
        g->line = lineno;
        next = b + 1;
        int k = snprintf(sb->text + tl, sizeof(sb->text) - tl, "%lld-%lld: %s%s%s\n", a, b, prompt,
                         *controls ? " | " : "", controls);
        if (k > 0 && tl + (size_t)k < sizeof(sb->text)) tl += (size_t)k;
    }
    fclose(f);
    if (st == TS_OK && sb->n == 0) st = ts_error(TS_ERR_FORMAT, hint, "storyboard '%s' has no segments", path);
    if (st == TS_OK && next < frames)
        st = ts_error(TS_ERR_FORMAT, hint, "%s: frames %lld-%lld are not covered (the video has %lld frames)", path,
                      (long long)next, (long long)frames - 1, (long long)frames);
    if (st != TS_OK) ts_storyboard_free(sb);
    return st;
}

void ts_storyboard_free(struct ts_storyboard * sb) {
    free(sb->seg);
    sb->seg = NULL;
    sb->n = 0;
}

void ts_storyboard_frames(const struct ts_storyboard * sb, int blend, int64_t g0, int64_t Tn, int * seg_a, int * seg_b,
                          float * alpha) {
    for (int64_t t = 0; t < Tn; t++) {
        int64_t f = g0 + t;
        int i = 0;
        while (i + 1 < sb->n && f > sb->seg[i].last) i++;
        seg_a[t] = i, seg_b[t] = i, alpha[t] = 0.0f;
        if (blend <= 0) continue;
        // the boundary after segment j is between frames e = last(j) and e + 1;
        // its window is frames e - ceil(N/2) + 1 .. e - ceil(N/2) + N, weight of
        // segment j+1 = k / (N + 1) for the k-th frame of the window
        for (int j = (i > 0 ? i - 1 : 0); j <= i && j + 1 < sb->n; j++) {
            int64_t e = sb->seg[j].last, start = e - (blend + 1) / 2 + 1;
            int64_t k = f - start + 1;
            if (k < 1 || k > blend) continue;
            float w_next = (float)k / (float)(blend + 1);
            if (f <= e) seg_a[t] = j, seg_b[t] = j + 1, alpha[t] = w_next;
            else seg_a[t] = j + 1, seg_b[t] = j, alpha[t] = 1.0f - w_next;
        }
    }
}
