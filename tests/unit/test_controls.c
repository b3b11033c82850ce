// The motion controls (model/controls.h): the control vector's values for each
// group (worked out by hand from docs/controls.md), every malformed or
// out-of-range setting one clear error, and a storyboard whose segments carry
// their own settings expanded per frame (a segment's group replaces the command
// line's; any split of the frames gives the same vectors).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "model/controls.h"
#include "model/prompt.h"
#include "ts_test.h"

static const struct ts_control_video VID = {32, 64, 64, 12.0};  // 32 frames of 64x64 at 12 fps

// v[i] == want[i] for the TS_CONTROL_DIM values (exact: the expected values are exact in float)
static void check_vec(const char * name, const float * v, const float want[TS_CONTROL_DIM]) {
    int ok = 1;
    char d[256] = "";
    for (int i = 0; i < TS_CONTROL_DIM; i++)
        if (v[i] != want[i] && ok) {
            ok = 0;
            snprintf(d, sizeof d, "v[%d] = %.9g, expected %.9g", i, v[i], want[i]);
        }
    ts_verdict(name, ok, d);
}

// |v[i] - want[i]| <= tol for the TS_CONTROL_DIM values
static void check_near(const char * name, const float * v, const float want[TS_CONTROL_DIM], double tol) {
    int ok = 1;
    char d[256] = "";
    for (int i = 0; i < TS_CONTROL_DIM; i++)
        if (!(fabs((double)v[i] - want[i]) <= tol) && ok) {
            ok = 0;
            snprintf(d, sizeof d, "v[%d] = %.9g, expected %.9g", i, v[i], want[i]);
        }
    ts_verdict(name, ok, d);
}

static void vec_of(const char * key, const char * text, int64_t f, float * v) {
    struct ts_controls c = {0};
    ts_error_clear();
    if (ts_controls_set(&c, key, text, &VID, 0, VID.frames - 1, key) != TS_OK)
        fprintf(stderr, "unexpected error: %s\n", ts_last_error());
    ts_controls_vector(&c, f, &VID, v);
    ts_controls_free(&c);
}

static void set_bad(const char * key, const char * text, const char * must_contain) {
    struct ts_controls c = {0};
    ts_error_clear();
    char where[64];
    snprintf(where, sizeof where, "--%s", key);
    enum ts_status st = ts_controls_set(&c, key, text, &VID, 0, VID.frames - 1, where);
    int ok = st != TS_OK && strstr(ts_last_error(), must_contain) && strstr(ts_last_error(), where) && !c.given;
    char name[160];
    snprintf(name, sizeof name, "--%s '%s'", key, text);
    ts_verdict(name, ok, ts_last_error());
    ts_controls_free(&c);
}

static void parse_bad(const char * text, int64_t first, int64_t last, const char * must_contain) {
    struct ts_controls c = {0};
    ts_error_clear();
    enum ts_status st = ts_controls_parse(&c, text, &VID, first, last, "sb.txt:3");
    int ok = st != TS_OK && strstr(ts_last_error(), must_contain) && strstr(ts_last_error(), "sb.txt:3");
    char name[160];
    snprintf(name, sizeof name, "storyboard '| %s'", text);
    ts_verdict(name, ok, ts_last_error());
    ts_controls_free(&c);
}

static const char * write_file(const char * text) {
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/ts-ctl-%d.txt", (int)getpid());
    FILE * f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

// The vectors of frames [0, vid->frames) planned from the command line's texts and a storyboard (may be NULL).
static float * plan_of(const char * const cli[TS_CONTROL_COUNT], const char * story,
                       const struct ts_control_video * vid) {
    struct ts_storyboard sb;
    const char * path = story ? write_file(story) : NULL;
    if (story) TS_ASSERT(ts_storyboard_load(path, vid->frames, &sb) == TS_OK);
    struct ts_control_plan p;
    ts_error_clear();
    if (ts_control_plan_build(&p, cli, story ? &sb : NULL, path, vid) != TS_OK) {
        fprintf(stderr, "unexpected error: %s\n", ts_last_error());
        exit(1);
    }
    float * out = calloc((size_t)vid->frames * TS_CONTROL_DIM, sizeof(float));
    ts_control_plan_frames(&p, 0, vid->frames, out);
    ts_control_plan_free(&p);
    if (story) ts_storyboard_free(&sb), unlink(path);
    return out;
}

int main(void) {
    float v[TS_CONTROL_DIM];
    printf("# the vector, group by group (64x64 frames, 12 fps)\n");
    float none[TS_CONTROL_DIM] = {0};
    ts_controls_vector(NULL, 3, &VID, v);
    check_vec("nothing given: all zero", v, none);
    // path (0: 10,10) -> (10: 50,40): frame 5 is (30, 25)
    vec_of("path", "0:10,10 10:50,40", 5, v);
    check_vec("path between keys", v, (float[TS_CONTROL_DIM]){-0.0625f, -0.21875f, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    vec_of("path", "0:10,10;10:50,40", 0, v);
    check_vec("path at its first key (';' separates too)", v,
              (float[TS_CONTROL_DIM]){-0.6875f, -0.6875f, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    vec_of("path", "0:10,10 10:50,40", 20, v);
    check_vec("path after its last key: held", v, (float[TS_CONTROL_DIM]){0.5625f, 0.25f, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    vec_of("path", "4:32,32 8:64,0", 0, v);
    check_vec("path before its first key: held", v, (float[TS_CONTROL_DIM]){0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    vec_of("path", "4:32,32 8:64,0", 6, v);
    check_vec("path, second pair of keys", v, (float[TS_CONTROL_DIM]){0.5f, -0.5f, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    vec_of("motion", "2,-1", 7, v);  // 2 px/frame * 12 fps / 64 px
    check_vec("motion", v, (float[TS_CONTROL_DIM]){0, 0, 0, 0.375f, -0.1875f, 1, 0, 0, 0, 0, 0, 0});
    vec_of("gravity", "256", 0, v);  // 256 / (4 * 64)
    check_vec("gravity", v, (float[TS_CONTROL_DIM]){0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0});
    vec_of("bounce", "0.5", 0, v);
    check_vec("bounce", v, (float[TS_CONTROL_DIM]){0, 0, 0, 0, 0, 0, 0, 0, 0.5f, 1, 0, 0});
    vec_of("growth", "-0.25", 31, v);
    check_vec("growth", v, (float[TS_CONTROL_DIM]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.25f, 1});
    vec_of("gravity", "0", 0, v);
    check_vec("gravity 0 is given (flag 1)", v, (float[TS_CONTROL_DIM]){0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0});

    printf("# each malformed or out-of-range setting: one error naming the flag\n");
    set_bad("path", "", "no keys");
    set_bad("path", " ; ", "no keys");
    set_bad("path", "0:10", "malformed key '0:10'");
    set_bad("path", "0:10,", "malformed");
    set_bad("path", "0:,10", "malformed");
    set_bad("path", ":10,10", "malformed");
    set_bad("path", "a:1,2", "malformed");
    set_bad("path", "1.5:1,2", "malformed");
    set_bad("path", "0:10,10,5", "malformed");
    set_bad("path", "0:nan,10", "malformed");
    set_bad("path", "0:10,inf", "malformed");
    set_bad("path", "0:1e999,3", "malformed");
    set_bad("path", "0=10,10", "malformed");
    set_bad("path", "0:10,10 0:20,20", "frame 0 has two keys");
    set_bad("path", "5:10,10 3:20,20", "must increase (3 after 5)");
    set_bad("path", "0:10,10 32:20,20", "frame 32 is outside the video's frames 0-31");
    set_bad("path", "-1:10,10", "frame -1 is outside");
    set_bad("path", "99999999999999999999:1,1", "malformed");
    set_bad("path", "0:64.5,10", "outside the 64x64 frame");
    set_bad("path", "0:10,-1", "outside the 64x64 frame");
    set_bad("motion", "", "expected DX,DY");
    set_bad("motion", "1", "expected DX,DY");
    set_bad("motion", "1,2,3", "expected DX,DY");
    set_bad("motion", "nan,1", "expected DX,DY");
    set_bad("motion", "1, 2", "expected DX,DY");
    set_bad("motion", "65,0", "moves more than the 64x64 frame");
    set_bad("motion", "0,-70", "moves more than");
    set_bad("gravity", "", "expected a finite number");
    set_bad("gravity", "abc", "expected a finite number");
    set_bad("gravity", "inf", "expected a finite number");
    set_bad("gravity", "12px", "expected a finite number");
    set_bad("gravity", "-5", "outside [0, 10000]");
    set_bad("gravity", "20000", "outside [0, 10000]");
    set_bad("bounce", "1.5", "outside [0, 1]");
    set_bad("bounce", "-0.1", "outside [0, 1]");
    set_bad("bounce", "NaN", "expected a finite number");
    set_bad("growth", "11", "outside [-10, 10]");
    set_bad("growth", "-1e300", "outside");
    set_bad("speed", "1", "unknown setting 'speed'");
    {  // a path and a motion, either order
        struct ts_controls c = {0};
        TS_ASSERT(ts_controls_set(&c, "path", "0:1,1", &VID, 0, 31, "--path") == TS_OK);
        ts_error_clear();
        int ok = ts_controls_set(&c, "motion", "1,1", &VID, 0, 31, "--motion") != TS_OK &&
                 strstr(ts_last_error(), "--motion: cannot go with a path");
        ts_verdict("--path with --motion", ok, ts_last_error());
        ts_controls_free(&c);
        TS_ASSERT(ts_controls_set(&c, "motion", "1,1", &VID, 0, 31, "--motion") == TS_OK);
        ts_error_clear();
        ok = ts_controls_set(&c, "path", "0:1,1", &VID, 0, 31, "--path") != TS_OK &&
             strstr(ts_last_error(), "--path: cannot go with a motion");
        ts_verdict("--motion with --path", ok, ts_last_error());
        ts_controls_free(&c);
    }

    printf("# a storyboard line's settings\n");
    parse_bad("", 0, 9, "nothing after '|'");
    parse_bad("gravity", 0, 9, "expected key=value, got 'gravity'");
    parse_bad("gravity= bounce=0.5", 0, 9, "expected key=value");
    parse_bad("=5", 0, 9, "expected key=value");
    parse_bad("foo=1", 0, 9, "unknown setting 'foo'");
    parse_bad("gravity=1 gravity=2", 0, 9, "sb.txt:3: gravity: given twice");
    parse_bad("bounce=2", 0, 9, "sb.txt:3: bounce: 2 is outside [0, 1]");
    parse_bad("path=0:1,1;12:5,5", 0, 9, "frame 12 is outside this segment's frames 0-9");
    parse_bad("path=4:1,1", 5, 9, "frame 4 is outside this segment's frames 5-9");
    parse_bad("path=5:1,1 motion=1,1", 5, 9, "cannot go with a path");
    parse_bad("path=5:1,1 9:2,2", 5, 9, "expected key=value, got '9:2,2'");

    printf("# storyboards: per-segment settings, expanded per frame\n");
    {
        struct ts_storyboard sb;
        const char * text =
            "# settings after '|'\n"
            "0-3: a red circle   | gravity=125 bounce=0.5\n"
            "4-7: a blue::1.5 square|path=4:0,0;7:64,64\n"
            "8-9: a green circle\n";
        const char * path = write_file(text);
        TS_ASSERT(ts_storyboard_load(path, 10, &sb) == TS_OK);
        VERDICT(!strcmp(sb.seg[0].prompt, "a red circle") && !strcmp(sb.seg[0].controls, "gravity=125 bounce=0.5") &&
                    sb.seg[0].line == 2,
                "segment 1: prompt '%s', settings '%s', line %d", sb.seg[0].prompt, sb.seg[0].controls, sb.seg[0].line);
        VERDICT(!strcmp(sb.seg[1].prompt, "a blue::1.5 square") && !strcmp(sb.seg[1].controls, "path=4:0,0;7:64,64"),
                "segment 2: prompt '%s', settings '%s'", sb.seg[1].prompt, sb.seg[1].controls);
        VERDICT(!strcmp(sb.seg[2].prompt, "a green circle") && !sb.seg[2].controls[0], "segment 3: no settings");
        struct ts_control_video vid = {10, 64, 64, 12.0};
        const char * cli[TS_CONTROL_COUNT] = {NULL, NULL, "50", NULL, "0.2"};  // --gravity 50 --growth 0.2
        struct ts_control_plan p;
        ts_error_clear();
        enum ts_status st = ts_control_plan_build(&p, cli, &sb, path, &vid);
        VERDICT(st == TS_OK, "plan: %s", st == TS_OK ? "built" : ts_last_error());
        float all[10 * TS_CONTROL_DIM], part[10 * TS_CONTROL_DIM];
        ts_control_plan_frames(&p, 0, 10, all);
        // segment 1 replaces --gravity, keeps --growth; segment 2 adds a path (x = 64/3 at frame 5).
        // --growth 0.2 plans the radius 8.4 px at the first run's middle frame 1.5, and each run
        // goes on from the frame before: 8.4 exp(0.2 (f - 1.5) / 12) px on every frame, v = r / 32
#define GROWN(f) (float)(8.4 * exp(0.2 * ((f) - 1.5) / 12.0) / 32.0)
        // frame 2: a fall planned from the nominal start (20, 13.5) at 12 px/s rightwards under 125 px/s^2,
        // 16 sub-steps of 1/96 s: x = 22, y = 13.5 + 125 (1/96)^2 16 17 / 2
        check_near("frame 2: the segment's gravity and bounce, the command line's growth, a planned fall",
                   all + 2 * TS_CONTROL_DIM,
                   (float[TS_CONTROL_DIM]){22.0f / 32 - 1, (float)((13.5 + 125.0 * 136 / 9216) / 32 - 1), 1, 0, 0, 0, 0.48828125f,
                             1, 0.5f, 1, 0.2f, 1, GROWN(2), 1},
                   1e-6);
        float third = (float)((64.0 / 3.0) / 64.0 * 2.0 - 1.0);
        check_near("frame 5: the segment's path, the command line's gravity and growth", all + 5 * TS_CONTROL_DIM,
                   (float[TS_CONTROL_DIM]){third, third, 1, 0, 0, 0, 0.1953125f, 1, 0, 0, 0.2f, 1, GROWN(5), 1}, 1e-7);
        // frame 9: the command line's alone; its gravity plans a fall on from the path's end (64, 64),
        // reflected into the walls and above the floor [6.5, 57.5]
        const float * v9 = all + 9 * TS_CONTROL_DIM;
        check_near("frame 9: the command line's alone (the planned centre aside)",
                   (float[TS_CONTROL_DIM]){0, 0, 0, v9[3], v9[4], v9[5], v9[6], v9[7], v9[8], v9[9], v9[10], v9[11], v9[12],
                                           v9[13]},
                   (float[TS_CONTROL_DIM]){0, 0, 0, 0, 0, 0, 0.1953125f, 1, 0, 0, 0.2f, 1, GROWN(9), 1}, 1e-7);
#undef GROWN
        VERDICT(v9[2] == 1 && fabsf(v9[0]) <= 0.796875f && v9[1] <= 0.796875f,
                "frame 9: a planned centre (%g, %g) inside the walls, above the floor", v9[0], v9[1]);
        VERDICT(memcmp(all + 3 * TS_CONTROL_DIM, all + 4 * TS_CONTROL_DIM, sizeof v) != 0,
                "frames 3 and 4 (two segments) differ");
        // any split of the frames (ranks) gives the same vectors
        ts_control_plan_frames(&p, 0, 3, part);
        ts_control_plan_frames(&p, 3, 4, part + 3 * TS_CONTROL_DIM);
        ts_control_plan_frames(&p, 7, 3, part + 7 * TS_CONTROL_DIM);
        VERDICT(memcmp(all, part, sizeof all) == 0, "frames in 3 chunks == all frames at once");
        char desc[256];
        ts_control_plan_describe(&p, desc, sizeof desc);
        VERDICT(strstr(desc, "gravity 50") && strstr(desc, "2 storyboard segment(s)"), "described as '%s'", desc);
        ts_control_plan_free(&p);
        // --motion on the command line meets segment 2's path
        const char * cli2[TS_CONTROL_COUNT] = {NULL, "1,0", NULL, NULL, NULL};
        ts_error_clear();
        st = ts_control_plan_build(&p, cli2, &sb, path, &vid);
        VERDICT(st != TS_OK && strstr(ts_last_error(), ":3: this segment's path meets the command line's --motion"),
                "--motion with a segment's path: %s", ts_last_error());
        ts_storyboard_free(&sb);
        // a segment's path key outside the segment names the line
        TS_ASSERT(ts_storyboard_load(write_file("0-4: a red circle\n5-9: a red circle | path=2:1,1\n"), 10, &sb) ==
                  TS_OK);
        ts_error_clear();
        st = ts_control_plan_build(&p, NULL, &sb, "sb.txt", &vid);
        VERDICT(
            st != TS_OK && strstr(ts_last_error(), "sb.txt:2: path: key frame 2 is outside this segment's frames 5-9"),
            "%s", ts_last_error());
        ts_storyboard_free(&sb);
        // nothing after '|', and a prompt that is only settings
        ts_error_clear();
        st = ts_storyboard_load(write_file("0-9: a red circle |  \n"), 10, &sb);
        VERDICT(st != TS_OK && strstr(ts_last_error(), ":1: nothing after '|'"), "%s", ts_last_error());
        ts_error_clear();
        st = ts_storyboard_load(write_file("0-9: | gravity=1\n"), 10, &sb);
        VERDICT(st != TS_OK && strstr(ts_last_error(), ":1: empty prompt"), "%s", ts_last_error());
        unlink(path);
    }
    printf("# the planner: a motion or a bounce becomes a planned centre in the path group\n");
    {
        const float q = 1.0f / 32;  // 64 px: x/W*2-1 = x/32 - 1
        const char * mot[TS_CONTROL_COUNT] = {NULL, "1,0.5", NULL, NULL, NULL};
        float * v = plan_of(mot, NULL, &VID);
        // centred on the frame at the middle frame 15.5: x = 32 + (f - 15.5), y = 32 + (f - 15.5) / 2
        check_vec("--motion 1,0.5, frame 0: centre (16.5, 24.25)", v,
                  (float[TS_CONTROL_DIM]){16.5f * q - 1, 24.25f * q - 1, 1, 0.1875f, 0.09375f, 1, 0, 0, 0, 0, 0, 0});
        check_vec("--motion 1,0.5, frame 31: centre (47.5, 39.75)", v + 31 * TS_CONTROL_DIM,
                  (float[TS_CONTROL_DIM]){47.5f * q - 1, 39.75f * q - 1, 1, 0.1875f, 0.09375f, 1, 0, 0, 0, 0, 0, 0});
        free(v);
        const char * fast[TS_CONTROL_COUNT] = {NULL, "3,0", NULL, NULL, NULL};
        v = plan_of(fast, NULL, &VID);
        VERDICT(v[0] == 6.5f * q - 1 && v[31 * TS_CONTROL_DIM] == 57.5f * q - 1 &&
                    v[16 * TS_CONTROL_DIM] == 33.5f * q - 1,
                "--motion 3,0: stopped by the walls at 6.5 and 57.5, frame 16 at 33.5 (%g, %g, %g)", v[0],
                v[31 * TS_CONTROL_DIM], v[16 * TS_CONTROL_DIM]);
        free(v);
        // a fall from the nominal start (20, 13.5), 12 px/s rightwards, 250 px/s^2, restitution 0.8
        const char * fall[TS_CONTROL_COUNT] = {NULL, NULL, "250", NULL, NULL};
        v = plan_of(fall, NULL, &VID);
        check_near("--gravity 250, frame 1: (21, 13.5 + 250 (1/96)^2 8 9 / 2)", v + TS_CONTROL_DIM,
                   (float[TS_CONTROL_DIM]){21.0f * q - 1, (float)((13.5 + 250.0 * 36 / 9216) / 32 - 1), 1, 0, 0, 0,
                             (float)(250.0 / 256), 1, 0, 0, 0, 0},
                   1e-6);
        float ymax = -2, rise = 0;
        for (int f = 1; f < 32; f++) {
            const float y = v[f * TS_CONTROL_DIM + 1], yp = v[(f - 1) * TS_CONTROL_DIM + 1];
            ymax = y > ymax ? y : ymax;
            if (y < yp && ymax > 0.7f) rise = 1;
        }
        VERDICT(ymax <= 57.5f * q - 1 && ymax > 55.0f * q - 1 && rise,
                "--gravity 250: comes within 2.5 px of the floor (57.5) and rises again, never below it (deepest %g)",
                (ymax + 1) * 32);
        free(v);
        // a storyboard: a motion goes on from where the path before it ends; after a segment without
        // controls it starts at the nominal start (centred on its own frames)
        const struct ts_control_video v20 = {20, 64, 64, 12.0};
        v = plan_of((const char *[TS_CONTROL_COUNT]){0},
                    "0-9: a red circle | path=0:10,10;9:20,10\n10-19: a red circle | motion=1,0\n", &v20);
        VERDICT(v[10 * TS_CONTROL_DIM] == 21 * q - 1 && v[19 * TS_CONTROL_DIM] == 30 * q - 1 &&
                    v[19 * TS_CONTROL_DIM + 1] == 10 * q - 1,
                "storyboard: the motion goes on from the path's end (20, 10): frame 10 at x %g, frame 19 at %g",
                (v[10 * TS_CONTROL_DIM] + 1) * 32, (v[19 * TS_CONTROL_DIM] + 1) * 32);
        free(v);
        v = plan_of((const char *[TS_CONTROL_COUNT]){0}, "0-9: a red circle\n10-19: a red circle | motion=1,0\n",
                    &v20);
        VERDICT(v[9 * TS_CONTROL_DIM + 2] == 0 && v[10 * TS_CONTROL_DIM] == 27.5f * q - 1 &&
                    v[19 * TS_CONTROL_DIM] == 36.5f * q - 1,
                "storyboard: after frames without controls the motion is centred on its frames (27.5 .. 36.5): %g",
                (v[10 * TS_CONTROL_DIM] + 1) * 32);
        free(v);
        // a path wins over the planner; growth alone holds the object at the frame's centre
        const char * both[TS_CONTROL_COUNT] = {"0:10,10 31:50,10", NULL, "250", "0.5", "0.3"};
        v = plan_of(both, NULL, &VID);
        VERDICT(v[16 * TS_CONTROL_DIM + 1] == 10 * q - 1, "a path with a gravity: the path's centre");
        free(v);
        const char * grow[TS_CONTROL_COUNT] = {NULL, NULL, NULL, NULL, "0.3"};
        v = plan_of(grow, NULL, &VID);
        VERDICT(v[0] == 0 && v[1] == 0 && v[2] == 1 && v[31 * TS_CONTROL_DIM] == 0 &&
                    v[31 * TS_CONTROL_DIM + 1] == 0 && v[31 * TS_CONTROL_DIM + 2] == 1,
                "growth alone: the centre planned at the frame's centre, held");
        // its size: 8.4 px at the middle frame 15.5, times exp(0.3 t)
        check_near("--growth 0.3, frame 0: radius 8.4 exp(-0.3 * 15.5 / 12) px", v,
                   (float[TS_CONTROL_DIM]){0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0.3f, 1,
                                           (float)(8.4 * exp(-0.3 * 15.5 / 12) / 32), 1},
                   1e-7);
        check_near("--growth 0.3, frame 31: radius 8.4 exp(0.3 * 15.5 / 12) px", v + 31 * TS_CONTROL_DIM,
                   (float[TS_CONTROL_DIM]){0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0.3f, 1,
                                           (float)(8.4 * exp(0.3 * 15.5 / 12) / 32), 1},
                   1e-7);
        free(v);
        // a fast growth is held within the dataset's radii 3.5 .. 20 px
        const char * fast_grow[TS_CONTROL_COUNT] = {NULL, NULL, NULL, NULL, "3"};
        v = plan_of(fast_grow, NULL, &VID);
        VERDICT(v[TS_CONTROL_SIZE] == 3.5f / 32 && v[31 * TS_CONTROL_DIM + TS_CONTROL_SIZE] == 20.0f / 32 &&
                    v[15 * TS_CONTROL_DIM + TS_CONTROL_SIZE] > 3.5f / 32 &&
                    v[15 * TS_CONTROL_DIM + TS_CONTROL_SIZE] < 8.4f / 32,
                "--growth 3: radius held at 3.5 px (frame 0) and 20 px (frame 31), %g px at frame 15",
                v[15 * TS_CONTROL_DIM + TS_CONTROL_SIZE] * 32);
        free(v);
        // a storyboard: no size where no growth holds; a segment's growth after one without starts
        // at the nominal radius at its own middle frame (14.5)
        v = plan_of((const char *[TS_CONTROL_COUNT]){0}, "0-9: a red circle\n10-19: a red circle | growth=-0.5\n",
                    &v20);
        VERDICT(v[9 * TS_CONTROL_DIM + TS_CONTROL_SIZE + 1] == 0 && v[10 * TS_CONTROL_DIM + TS_CONTROL_SIZE + 1] == 1 &&
                    fabsf(v[10 * TS_CONTROL_DIM + TS_CONTROL_SIZE] - (float)(8.4 * exp(-0.5 * -4.5 / 12) / 32)) < 1e-7f,
                "storyboard: a growth segment after one without: no size on frame 9, %g px on frame 10",
                v[10 * TS_CONTROL_DIM + TS_CONTROL_SIZE] * 32);
        free(v);
    }
    return ts_test_finish("test_controls");
}
