// The prompt syntax (one parser for the whole engine): words with optional
// weights, `word::1.5` and `(several words)::0.7`.
#pragma once
#include "timeshard/timeshard.h"

#define TS_PROMPT_MAX_WEIGHT 10.0
#define TS_PROMPT_MAX_WEIGHT_STR "10"

struct ts_prompt_word {
    char word[64];   // lower case, [a-z0-9]+
    float weight;    // 1 unless given
};

// Splits `text` into words and their weights. Malformed weights ("::",
// "::abc", negative, above the maximum, unbalanced parentheses) are errors
// naming the column.
enum ts_status ts_prompt_parse(const char * text, struct ts_prompt_word * words, int max_words, int * n);
