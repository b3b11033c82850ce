// The prompt syntax (one parser for the whole engine): words with optional
// weights, `word::1.5` and `(several words)::0.7`.
#pragma once
#include <stdint.h>

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

// A storyboard: lines `FIRST-LAST: prompt` covering frames 0..T-1 exactly, in
// order ('#' comments and blank lines allowed). Gaps, overlaps, ranges past the
// end, reversed ranges and empty prompts are errors naming the file and line.
// A line may end with the segment's motion controls after '|'
// (`0-23: a red circle | gravity=125 bounce=0.8`, docs/controls.md): kept here
// as text, read by model/controls.h with the video's size.
struct ts_story_segment {
    int64_t first, last;  // inclusive frame range
    char prompt[1024];
    char controls[1024];  // the settings after '|' ("" when none)
    int line;             // its line in the file
};
struct ts_storyboard {
    struct ts_story_segment * seg;  // owned
    int n;
    char text[8192];                // the whole storyboard, for metadata
    char path[1024];                // the file ("" for a single prompt): errors name it with the line
};
enum ts_status ts_storyboard_load(const char * path, int64_t frames, struct ts_storyboard * sb);
void ts_storyboard_free(struct ts_storyboard * sb);

// Per-frame segments and blend weights for frames [g0, g0+Tn): frame f uses
// seg_a[f-g0] and, where alpha > 0, mixes in seg_b with weight alpha, over the
// `blend` frames centred on each boundary (linear ramp k/(blend+1)).
void ts_storyboard_frames(const struct ts_storyboard * sb, int blend, int64_t g0, int64_t Tn, int * seg_a, int * seg_b,
                          float * alpha);
