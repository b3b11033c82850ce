// The prompt syntax and storyboards: weights, malformed weights, storyboard
// errors naming the line, and the per-frame segments and blend weights.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "model/prompt.h"
#include "ts_test.h"

static void parse_ok(const char * text, int n_expect, const char * words, const float * w) {
    struct ts_prompt_word pw[32];
    int n = 0;
    ts_error_clear();
    enum ts_status st = ts_prompt_parse(text, pw, 32, &n);
    int ok = st == TS_OK && n == n_expect;
    char joined[512] = "";
    for (int i = 0; ok && i < n; i++) {
        strcat(joined, pw[i].word);
        if (i + 1 < n) strcat(joined, " ");
        if (pw[i].weight != w[i]) ok = 0;
    }
    ok = ok && strcmp(joined, words) == 0;
    ts_verdict(text, ok, joined);
}

static void parse_bad(const char * text, const char * must_contain) {
    struct ts_prompt_word pw[32];
    int n = 0;
    ts_error_clear();
    enum ts_status st = ts_prompt_parse(text, pw, 32, &n);
    int ok = st != TS_OK && strstr(ts_last_error(), must_contain) != NULL;
    ts_verdict(text, ok, ts_last_error());
}

static const char * write_file(const char * text) {
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/ts-story-%d.txt", (int)getpid());
    FILE * f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void story_bad(const char * name, const char * text, int64_t frames, const char * must_contain) {
    struct ts_storyboard sb;
    ts_error_clear();
    enum ts_status st = ts_storyboard_load(write_file(text), frames, &sb);
    int ok = st != TS_OK && strstr(ts_last_error(), must_contain) != NULL;
    ts_verdict(name, ok, ts_last_error());
}

int main(void) {
    printf("# prompt weights\n");
    parse_ok("A Red circle, moving LEFT!", 5, "a red circle moving left", (float[]){1, 1, 1, 1, 1});
    parse_ok("a red::1.5 circle", 3, "a red circle", (float[]){1, 1.5f, 1});
    parse_ok("(red circle)::0.25 left", 3, "red circle left", (float[]){0.25f, 0.25f, 1});
    parse_ok("red::0 circle::10", 2, "red circle", (float[]){0, 10});
    parse_ok("(red circle) left", 3, "red circle left", (float[]){1, 1, 1});
    parse_bad("red:: circle", "malformed weight");
    parse_bad("red::abc", "malformed weight");
    parse_bad("red::-0.5", "outside [0, 10]");
    parse_bad("red::10.5", "outside [0, 10]");
    parse_bad("red::1.5x", "malformed weight");
    parse_bad("::2 red", "without a word");
    parse_bad("(red (circle))::2", "nested");
    parse_bad("(red circle", "unmatched '('");
    parse_bad("red) circle", "unmatched ')'");

    printf("# storyboards\n");
    story_bad("gap", "0-9: a\n11-19: b\n", 20, ":2: frames 10-10 are not covered");
    story_bad("overlap", "0-9: a\n9-19: b\n", 20, ":2: range 9-19 overlaps");
    story_bad("past the end", "0-9: a\n10-25: b\n", 20, ":2: range 10-25 goes past");
    story_bad("empty prompt", "0-9: a\n10-19:   \n", 20, ":2: empty prompt");
    story_bad("reversed", "0-9: a\n19-10: b\n", 20, ":2: range 19-10 is reversed");
    story_bad("not covering the end", "0-9: a\n", 20, "frames 10-19 are not covered");
    story_bad("malformed line", "# title\n0-9 a\n", 20, ":2: expected 'FIRST-LAST: prompt'");
    story_bad("empty file", "", 20, "has no segments");
    story_bad("out of order", "6-11: b\n0-5: a\n", 12, ":1: frames 0-5 are not covered (the first line starts at frame 6)");
    {  // a UTF-8 byte order mark before the first line is not part of it
        struct ts_storyboard sb;
        ts_error_clear();
        enum ts_status st = ts_storyboard_load(write_file("\xEF\xBB\xBF" "0-9: a red circle\n10-19: b\n"), 20, &sb);
        ts_verdict("byte order mark", st == TS_OK && sb.n == 2 && sb.seg[0].first == 0 &&
                                          strcmp(sb.seg[0].prompt, "a red circle") == 0, ts_last_error());
        if (st == TS_OK) ts_storyboard_free(&sb);
    }
    {
        struct ts_storyboard sb;
        ts_error_clear();
        enum ts_status st = ts_storyboard_load("/nonexistent/story.txt", 20, &sb);
        ts_verdict("missing file", st == TS_ERR_IO && strstr(ts_last_error(), "cannot open storyboard"), ts_last_error());
    }
    {
        struct ts_storyboard sb;
        ts_error_clear();
        enum ts_status st = ts_storyboard_load(write_file("# three segments\n0-5: a red circle\n\n6-11: b\n12-19: c\n"),
                                               20, &sb);
        ts_verdict("three segments load", st == TS_OK && sb.n == 3 && sb.seg[1].first == 6 && sb.seg[2].last == 19,
                   st == TS_OK ? "" : ts_last_error());
        // blend 4 around the boundary between frames 5 and 6: frames 4..7 weights of the later segment 1/5..4/5
        int a[20], b[20];
        float al[20];
        ts_storyboard_frames(&sb, 4, 0, 20, a, b, al);
        int ok = a[3] == 0 && al[3] == 0.0f && a[4] == 0 && b[4] == 1 && al[4] == 1.0f / 5 && a[5] == 0 &&
                 al[5] == 2.0f / 5 && a[6] == 1 && b[6] == 0 && al[6] == 1.0f - 3.0f / 5 && a[7] == 1 &&
                 al[7] == 1.0f - 4.0f / 5 && a[8] == 1 && al[8] == 0.0f && a[19] == 2;
        ts_verdict("blend 4: ramps 1/5..4/5 across frames 4-7", ok, "");
        // the same frames computed in chunks (as ranks do) agree
        int a2[20], b2[20];
        float al2[20];
        ts_storyboard_frames(&sb, 4, 0, 7, a2, b2, al2);
        ts_storyboard_frames(&sb, 4, 7, 13, a2 + 7, b2 + 7, al2 + 7);
        ts_verdict("chunked == whole", !memcmp(a, a2, sizeof(a)) && !memcmp(b, b2, sizeof(b)) && !memcmp(al, al2, sizeof(al)),
                   "");
        ts_storyboard_frames(&sb, 0, 0, 20, a, b, al);
        ok = 1;
        for (int i = 0; i < 20; i++) ok &= al[i] == 0.0f && a[i] == (i < 6 ? 0 : i < 12 ? 1 : 2);
        ts_verdict("blend 0: hard cuts", ok, "");
        ts_storyboard_free(&sb);
    }
    remove(write_file(""));
    return ts_test_finish("test_prompt");
}
