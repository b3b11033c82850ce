// The prompt syntax, parsed in this one place: words, with optional weights
// `word::1.5` and `(several words)::0.7`; and storyboards (`FIRST-LAST: prompt`
// lines). A weight multiplies the word's share of cross-attention before
// normalisation (log w is added to its logits; weight 0 masks it out).
#include <ctype.h>
#include <errno.h>
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
