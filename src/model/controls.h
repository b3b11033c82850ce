// Motion controls (docs/controls.md): where the object goes (a path of keys or a
// constant motion) and how it falls, bounces and grows; their syntax (flags and
// storyboard settings), and the per-frame control vector a model is conditioned
// on. tools/physics.py control_vector() computes the same vector for the dataset.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "model/prompt.h"  // struct ts_storyboard
#include "timeshard/timeshard.h"

#define TS_CONTROL_DIM 14  // floats per frame
// Control guidance (docs/controls.md): the prompt's prediction with the controls
// pushed away from the same without them, v + (s - 1)(v - v0), s this default
// for a model trained with them unless --control-scale says otherwise.
#define TS_CONTROL_SCALE_DEFAULT 2.0f
#define TS_CONTROL_SCALE_MAX 20.0
// v[12] the planned size: the object's radius r as r/min(W,H)*2, v[13] its
// flag. Never given: the planner sets it where a growth holds.
#define TS_CONTROL_SIZE 12

// The groups of the vector, each values then a flag (1: given).
enum ts_control_group {
    TS_CONTROL_PATH,     // v[0..1] target centre x/W*2-1, y/H*2-1, v[2] flag
    TS_CONTROL_MOTION,   // v[3..4] DX*fps/W, DY*fps/H (frame widths/heights per second), v[5] flag
    TS_CONTROL_GRAVITY,  // v[6] G/(4H), v[7] flag
    TS_CONTROL_BOUNCE,   // v[8] restitution, v[9] flag
    TS_CONTROL_GROWTH,   // v[10] growth rate per second, v[11] flag
    TS_CONTROL_COUNT
};

// The index of group g's flag in the vector (the last value of its group).
int ts_control_flag_index(enum ts_control_group g);
const char * ts_control_group_name(enum ts_control_group g);  // "path", "motion", ...

// The video the controls are for: generated frames (before --fps-out), their
// size in pixels and rate.
struct ts_control_video {
    int64_t frames;
    int width, height;
    double fps;
};

#define TS_CONTROL_MAX_GRAVITY 10000.0  // pixels/s^2
#define TS_CONTROL_MAX_GROWTH 10.0      // |R| per second
#define TS_CONTROL_MAX_KEYS 4096

struct ts_path_key {
    int64_t frame;  // global generated frame index
    double x, y;    // pixels, origin top-left, y down
};

// One set of controls (the command line's, or one storyboard segment's).
struct ts_controls {
    unsigned given;             // bit (1 << group) per group given
    struct ts_path_key * path;  // owned (malloc): n_path keys, frames strictly increasing
    int n_path;
    double dx, dy;   // --motion: pixels per generated frame
    double gravity;  // pixels/s^2, downwards
    double bounce;   // restitution in [0, 1]
    double growth;   // size(t) = size(0) exp(growth t), t in seconds
};
void ts_controls_free(struct ts_controls * c);

// Sets one control from its text: key "path" ("F:X,Y F:X,Y ...", keys separated
// by spaces or ';'), "motion" ("DX,DY"), "gravity", "bounce", "growth". Frames
// must lie in [lo, hi] (the video, or a storyboard segment), positions in the
// frame, numbers finite and in range. Errors begin with `where` (e.g. "--path",
// "story.txt:3: path") and name what is wrong. --motion with a path is an error.
enum ts_status ts_controls_set(struct ts_controls * c, const char * key, const char * text,
                               const struct ts_control_video * v, int64_t lo, int64_t hi, const char * where);

// A storyboard segment's settings, "key=value key=value ..." (the text after
// '|' on its line); path frames are global and must lie in [first, last].
// Errors begin with `where` ("FILE:LINE").
enum ts_status ts_controls_parse(struct ts_controls * c, const char * text, const struct ts_control_video * v,
                                 int64_t first, int64_t last, const char * where);

// The control vector (TS_CONTROL_DIM floats) of global frame f.
void ts_controls_vector(const struct ts_controls * c, int64_t f, const struct ts_control_video * v, float * out);

// Every frame's controls: the command line's (global, may be NULL), replaced
// group by group by those of the storyboard segment the frame is in (segs[i]
// for sb->seg[i]; segs may be NULL). Resolved per segment it is an error for a
// path and a motion to meet (the line is named).
struct ts_control_plan {
    struct ts_controls global;  // owned
    struct ts_controls * segs;  // owned: one per storyboard segment (NULL when none has settings)
    int n_segs;
    const struct ts_storyboard * sb;  // not owned (NULL: no storyboard)
    struct ts_control_video video;
    unsigned any;     // union of every group given anywhere
    double * track;   // owned: (frames, 2) planned centre, pixels (NULL when nothing is planned)
    uint8_t * planned;  // owned: per frame, 1 where track holds the path group's centre
    double * size;    // owned: (frames) planned radius, pixels, where sized (NULL when no growth is given)
    uint8_t * sized;  // owned: per frame, 1 where size holds the size group's radius
};
// Builds the plan from the command line's settings (texts[g] for group g, as
// given to the flags; NULL where not given) and the storyboard's segments'
// settings (sb->seg[i].controls, from the file story_path; sb may be NULL).
// Every error names the flag, or the file and line.
enum ts_status ts_control_plan_build(struct ts_control_plan * p, const char * const texts[TS_CONTROL_COUNT],
                                     const struct ts_storyboard * sb, const char * story_path,
                                     const struct ts_control_video * v);
void ts_control_plan_free(struct ts_control_plan * p);
// The resolved controls of global frame f.
void ts_control_plan_vector(const struct ts_control_plan * p, int64_t f, float * out);
// (Tn, TS_CONTROL_DIM) for frames [g0, g0 + Tn).
//
// The planner (docs/controls.md "The planned track"): frames without a path
// whose controls hold a motion, a gravity, a bounce or a growth get a path
// planned from them, the way tools/physics.py moves the dataset's objects (a
// straight line; a fall under gravity with bounces on the bottom edge, walls
// reflecting; a growing object holding still). It is set in the path group of
// the vector beside the given groups, so a model follows a motion or a bounce
// the way it follows a path. A run of frames with the same controls starts
// where the frame before it is (path or plan), or, after frames with no
// centre, at the nominal start (a motion centred on the frame at the run's
// middle; a bounce from the upper left; a growth at the frame's centre).
// Frames with a growth get a planned radius in the size group: size(t) =
// size(0) exp(R t), going on from the frame before's planned radius, else
// the nominal radius at the run's middle frame, held within the dataset's
// range. Planned for the whole video on every rank alike, indexed by the
// global frame.
void ts_control_plan_frames(const struct ts_control_plan * p, int64_t g0, int64_t Tn, float * out);
// A one-line summary of what is given ("path 3 keys, gravity 125 px/s^2, ..."), for the settings table.
void ts_control_plan_describe(const struct ts_control_plan * p, char * buf, size_t n);
