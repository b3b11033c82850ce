// Motion controls: the syntax of --path, --motion, --gravity, --bounce, --growth
// and of a storyboard line's settings ("| gravity=125 path=0:10,10;23:50,40"),
// their checks, and the per-frame control vector (docs/controls.md).
#include "model/controls.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

static const char * const group_names[TS_CONTROL_COUNT] = {"path", "motion", "gravity", "bounce", "growth"};
static const char * const HINT_PATH =
    "a path is frame:x,y keys in pixels, frames increasing, e.g. --path "
    "\"0:10,10 23:50,40\" (storyboards: path=0:10,10;23:50,40); see docs/controls.md";
static const char * const HINT = "see docs/controls.md (or 'timeshard generate --help')";

const char * ts_control_group_name(enum ts_control_group g) {
    return g >= 0 && g < TS_CONTROL_COUNT ? group_names[g] : "?";
}

void ts_controls_free(struct ts_controls * c) {
    free(c->path);
    memset(c, 0, sizeof(*c));
}

// A finite number filling s[0, n) exactly.
static int number(const char * s, size_t n, double * out) {
    char buf[64];
    if (n == 0 || n >= sizeof(buf)) return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    char * end = NULL;
    errno = 0;
    double x = strtod(buf, &end);
    if (end != buf + n || !isfinite(x) || errno == ERANGE) return 0;
    *out = x;
    return 1;
}

static enum ts_status parse_path(struct ts_controls * c, const char * text, const struct ts_control_video * v,
                                 int64_t lo, int64_t hi, const char * where) {
    struct ts_path_key * keys = NULL;
    int n = 0, cap = 0;
    const char * s = text;
    enum ts_status st = TS_OK;
    while (st == TS_OK) {
        while (*s == ' ' || *s == '\t' || *s == ';') s++;
        if (!*s) break;
        size_t len = strcspn(s, " \t;");
        const char * colon = memchr(s, ':', len);
        const char * comma = colon ? memchr(colon, ',', len - (size_t)(colon - s)) : NULL;
        int64_t frame = -1;
        double x = 0, y = 0, fr = 0;
        int ok = colon && comma && colon > s;
        for (const char * d = s + (*s == '-'); ok && d < colon; d++) ok = isdigit((unsigned char)*d) != 0;
        ok = ok && colon - s <= 18 && number(s, (size_t)(colon - s), &fr);
        ok = ok && number(colon + 1, (size_t)(comma - colon - 1), &x) &&
             number(comma + 1, len - (size_t)(comma + 1 - s), &y);
        if (!ok) {
            st = ts_error(TS_ERR_ARG, HINT_PATH, "%s: malformed key '%.*s' (expected FRAME:X,Y)", where, (int)len, s);
            break;
        }
        frame = (int64_t)fr;
        if (frame < lo || frame > hi)
            st = ts_error(TS_ERR_ARG, HINT_PATH, "%s: key frame %lld is outside %s %lld-%lld", where, (long long)frame,
                          lo == 0 && hi == v->frames - 1 ? "the video's frames" : "this segment's frames",
                          (long long)lo, (long long)hi);
        else if (!(x >= 0 && x <= v->width && y >= 0 && y <= v->height))
            st = ts_error(TS_ERR_ARG, "positions are pixels of the generated frame, origin top-left, y down",
                          "%s: key %lld:%.10g,%.10g is outside the %dx%d frame", where, (long long)frame, x, y, v->width,
                          v->height);
        else if (n > 0 && frame <= keys[n - 1].frame)
            st = ts_error(TS_ERR_ARG, HINT_PATH,
                          frame == keys[n - 1].frame ? "%s: frame %lld has two keys"
                                                     : "%s: key frames must increase (%lld after %lld)",
                          where, (long long)frame, (long long)keys[n - 1].frame);
        else if (n == TS_CONTROL_MAX_KEYS)
            st = ts_error(TS_ERR_ARG, HINT_PATH, "%s: more than %d keys", where, TS_CONTROL_MAX_KEYS);
        if (st != TS_OK) break;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            keys = realloc(keys, (size_t)cap * sizeof(*keys));
            TS_ASSERT(keys);
        }
        keys[n++] = (struct ts_path_key){frame, x, y};
        s += len;
    }
    if (st == TS_OK && n == 0) st = ts_error(TS_ERR_ARG, HINT_PATH, "%s: no keys", where);
    if (st != TS_OK) {
        free(keys);
        return st;
    }
    free(c->path);
    c->path = keys;
    c->n_path = n;
    return TS_OK;
}

enum ts_status ts_controls_set(struct ts_controls * c, const char * key, const char * text,
                               const struct ts_control_video * v, int64_t lo, int64_t hi, const char * where) {
    int g = -1;
    for (int i = 0; i < TS_CONTROL_COUNT; i++)
        if (!strcmp(key, group_names[i])) g = i;
    if (g < 0)
        return ts_error(TS_ERR_ARG, "the settings are path, motion, gravity, bounce and growth",
                        "%s: unknown setting '%s'", where, key);
    if (c->given & (1u << g)) return ts_error(TS_ERR_ARG, HINT, "%s: given twice", where);
    if ((g == TS_CONTROL_PATH && (c->given & (1u << TS_CONTROL_MOTION))) ||
        (g == TS_CONTROL_MOTION && (c->given & (1u << TS_CONTROL_PATH))))
        return ts_error(TS_ERR_ARG,
                        "--motion is a straight path the engine plans (docs/controls.md): give a path or a "
                        "motion, not both",
                        "%s: cannot go with a %s (both set the object's course)", where,
                        g == TS_CONTROL_PATH ? "motion" : "path");
    size_t n = strlen(text);
    double x = 0;
    switch (g) {
        case TS_CONTROL_PATH:
            TS_TRY(parse_path(c, text, v, lo, hi, where));
            break;
        case TS_CONTROL_MOTION: {
            const char * comma = strchr(text, ',');
            double dx = 0, dy = 0;
            if (!comma || !number(text, (size_t)(comma - text), &dx) ||
                !number(comma + 1, n - (size_t)(comma + 1 - text), &dy))
                return ts_error(TS_ERR_ARG, "e.g. --motion 1.5,-0.5 (pixels per generated frame, y down)",
                                "%s: expected DX,DY (two finite numbers), got '%s'", where, text);
            if (fabs(dx) > v->width || fabs(dy) > v->height)
                return ts_error(TS_ERR_ARG, "a motion is pixels per generated frame, at most one frame size",
                                "%s: %s moves more than the %dx%d frame in one frame", where, text, v->width,
                                v->height);
            c->dx = dx, c->dy = dy;
            break;
        }
        default: {
            if (!number(text, n, &x))
                return ts_error(TS_ERR_ARG, HINT, "%s: expected a finite number, got '%s'", where, text);
            if (g == TS_CONTROL_GRAVITY && !(x >= 0 && x <= TS_CONTROL_MAX_GRAVITY))
                return ts_error(TS_ERR_ARG, "gravity is pixels/s^2 downwards at the generation frame rate (0 for none)",
                                "%s: %s is outside [0, %g]", where, text, TS_CONTROL_MAX_GRAVITY);
            if (g == TS_CONTROL_BOUNCE && !(x >= 0 && x <= 1))
                return ts_error(TS_ERR_ARG, "restitution: 0 stops dead, 1 bounces back as high",
                                "%s: %s is outside [0, 1]", where, text);
            if (g == TS_CONTROL_GROWTH && !(fabs(x) <= TS_CONTROL_MAX_GROWTH))
                return ts_error(TS_ERR_ARG, "size(t) = size(0) * exp(R t), t in seconds; R < 0 shrinks",
                                "%s: %s is outside [-%g, %g]", where, text, TS_CONTROL_MAX_GROWTH, TS_CONTROL_MAX_GROWTH);
            if (g == TS_CONTROL_GRAVITY) c->gravity = x;
            if (g == TS_CONTROL_BOUNCE) c->bounce = x;
            if (g == TS_CONTROL_GROWTH) c->growth = x;
        }
    }
    c->given |= 1u << g;
    return TS_OK;
}

enum ts_status ts_controls_parse(struct ts_controls * c, const char * text, const struct ts_control_video * v,
                                 int64_t first, int64_t last, const char * where) {
    const char * hint =
        "after '|' come settings key=value separated by spaces: path=F:X,Y;F:X,Y motion=DX,DY "
        "gravity=G bounce=E growth=R";
    const char * s = text;
    int any = 0;
    while (1) {
        while (isspace((unsigned char)*s)) s++;
        if (!*s) break;
        size_t len = strcspn(s, " \t\r\n");
        const char * eq = memchr(s, '=', len);
        if (!eq || eq == s || eq + 1 == s + len)
            return ts_error(TS_ERR_ARG, hint, "%s: expected key=value, got '%.*s'", where, (int)len, s);
        char key[32], val[1024], w[1200];
        if ((size_t)(eq - s) >= sizeof(key) || len - (size_t)(eq + 1 - s) >= sizeof(val))
            return ts_error(TS_ERR_ARG, hint, "%s: setting '%.*s' is too long", where, (int)(len < 40 ? len : 40), s);
        snprintf(key, sizeof(key), "%.*s", (int)(eq - s), s);
        snprintf(val, sizeof(val), "%.*s", (int)(len - (size_t)(eq + 1 - s)), eq + 1);
        snprintf(w, sizeof(w), "%s: %s", where, key);
        TS_TRY(ts_controls_set(c, key, val, v, first, last, w));
        any = 1;
        s += len;
    }
    if (!any) return ts_error(TS_ERR_ARG, hint, "%s: nothing after '|'", where);
    return TS_OK;
}

// The path's centre at global frame f, pixels: linear between keys, held outside them.
static void path_centre(const struct ts_controls * c, int64_t f, double * px, double * py) {
    const struct ts_path_key * k = c->path;
    int n = c->n_path;
    double x = k[0].x, y = k[0].y;
    if (f >= k[n - 1].frame) {
        x = k[n - 1].x, y = k[n - 1].y;
    } else if (f > k[0].frame) {
        int i = 0;
        while (f > k[i + 1].frame) i++;
        double a = (double)(f - k[i].frame) / (double)(k[i + 1].frame - k[i].frame);
        x = k[i].x + (k[i + 1].x - k[i].x) * a;
        y = k[i].y + (k[i + 1].y - k[i].y) * a;
    }
    *px = x, *py = y;
}

void ts_controls_vector(const struct ts_controls * c, int64_t f, const struct ts_control_video * v, float * out) {
    memset(out, 0, TS_CONTROL_DIM * sizeof(float));
    if (!c) return;
    const double W = v->width, H = v->height, fps = v->fps;
    if ((c->given & (1u << TS_CONTROL_PATH)) && c->n_path > 0) {
        double x, y;
        path_centre(c, f, &x, &y);
        out[0] = (float)(x / W * 2.0 - 1.0);
        out[1] = (float)(y / H * 2.0 - 1.0);
        out[2] = 1.0f;
    }
    if (c->given & (1u << TS_CONTROL_MOTION)) {
        out[3] = (float)(c->dx * fps / W);
        out[4] = (float)(c->dy * fps / H);
        out[5] = 1.0f;
    }
    if (c->given & (1u << TS_CONTROL_GRAVITY)) out[6] = (float)(c->gravity / (4.0 * H)), out[7] = 1.0f;
    if (c->given & (1u << TS_CONTROL_BOUNCE)) out[8] = (float)c->bounce, out[9] = 1.0f;
    if (c->given & (1u << TS_CONTROL_GROWTH)) out[10] = (float)c->growth, out[11] = 1.0f;
}

// ---- the plan: the command line's controls, replaced group by group per storyboard segment ----
static const int group_width[TS_CONTROL_COUNT] = {3, 3, 2, 2, 2};
static const int group_start[TS_CONTROL_COUNT] = {0, 3, 6, 8, 10};

int ts_control_flag_index(enum ts_control_group g) { return group_start[g] + group_width[g] - 1; }

static void plan_build_track(struct ts_control_plan * p);  // below

enum ts_status ts_control_plan_build(struct ts_control_plan * p, const char * const texts[TS_CONTROL_COUNT],
                                     const struct ts_storyboard * sb, const char * story_path,
                                     const struct ts_control_video * v) {
    memset(p, 0, sizeof(*p));
    p->video = *v;
    p->sb = sb;
    static const char * const flags[TS_CONTROL_COUNT] = {"--path", "--motion", "--gravity", "--bounce", "--growth"};
    enum ts_status st = TS_OK;
    for (int g = 0; g < TS_CONTROL_COUNT && st == TS_OK; g++)
        if (texts && texts[g])
            st = ts_controls_set(&p->global, group_names[g], texts[g], v, 0, v->frames - 1, flags[g]);
    p->any = p->global.given;
    int has_segs = 0;
    for (int i = 0; sb && i < sb->n; i++) has_segs |= sb->seg[i].controls[0] != '\0';
    if (st == TS_OK && has_segs) {
        p->n_segs = sb->n;
        p->segs = ts_calloc((size_t)sb->n, sizeof(*p->segs));
        for (int i = 0; i < sb->n && st == TS_OK; i++) {
            const struct ts_story_segment * sg = &sb->seg[i];
            if (!sg->controls[0]) continue;
            char where[1100];
            snprintf(where, sizeof(where), "%s:%d", story_path ? story_path : "storyboard", sg->line);
            st = ts_controls_parse(&p->segs[i], sg->controls, v, sg->first, sg->last, where);
            unsigned res = p->segs[i].given | p->global.given;
            // resolved for this segment: the segment's path or motion meets the command line's other one
            if (st == TS_OK && (res & (1u << TS_CONTROL_PATH)) && (res & (1u << TS_CONTROL_MOTION)) &&
                !(p->segs[i].given & (1u << TS_CONTROL_PATH) && p->segs[i].given & (1u << TS_CONTROL_MOTION)))
                st = ts_error(TS_ERR_ARG,
                              "a segment's path= replaces --path, its motion= --motion; a path and a "
                              "motion cannot both hold for the same frames",
                              "%s: this segment's %s meets the command line's %s", where,
                              p->segs[i].given & (1u << TS_CONTROL_PATH) ? "path" : "motion",
                              p->segs[i].given & (1u << TS_CONTROL_PATH) ? "--motion" : "--path");
            p->any |= p->segs[i].given;
        }
    }
    if (st == TS_OK) plan_build_track(p);
    if (st != TS_OK) ts_control_plan_free(p);
    return st;
}

// ---- the planner: a path from a motion, a gravity or a bounce ----
// The nominal object (the engine does not know the object's size): the
// dataset's middle bouncing radius, 6.5 px of a 64 px frame; the floor is the
// bottom edge less that radius, the walls the sides less it. Constants and the
// integration are those of tools/physics.py (plan_track, bounce_track).
#define PLAN_REF 64.0
#define PLAN_RADIUS 6.5           // px of PLAN_REF
#define PLAN_START_X 20.0         // bounce start, px of PLAN_REF
#define PLAN_START_DROP 7.0       // px below the top-most centre
#define PLAN_VX 12.0              // px/s of PLAN_REF, rightwards, when no motion is given
#define PLAN_GRAVITY 250.0        // px/s^2 of PLAN_REF, when only a bounce is given
#define PLAN_RESTITUTION 0.8      // when only a gravity is given
#define PLAN_SUBSTEPS 8           // integration steps per frame interval
#define PLAN_REST_HEIGHT 0.25     // px: a rebound lower than this leaves the object resting
#define PLAN_SIZE_MID 8.4         // px of PLAN_REF: a growth's radius at the run's middle frame
#define PLAN_SIZE_LO 3.5          // px of PLAN_REF: a planned radius stays within (physics.py CTRL_R_LO, _HI)
#define PLAN_SIZE_HI 20.0

// The controls that hold at global frame f: the command line's, replaced group
// by group by its segment's (a shallow copy: the path is not owned).
static struct ts_controls resolved_at(const struct ts_control_plan * p, int64_t f) {
    struct ts_controls r = p->global;
    if (!p->segs || !p->sb) return r;
    int i = 0;
    while (i + 1 < p->sb->n && f > p->sb->seg[i].last) i++;
    const struct ts_controls * s = &p->segs[i];
    if (!s->given) return r;
    if (s->given & (1u << TS_CONTROL_PATH)) r.path = s->path, r.n_path = s->n_path;
    if (s->given & (1u << TS_CONTROL_MOTION)) r.dx = s->dx, r.dy = s->dy;
    if (s->given & (1u << TS_CONTROL_GRAVITY)) r.gravity = s->gravity;
    if (s->given & (1u << TS_CONTROL_BOUNCE)) r.bounce = s->bounce;
    if (s->given & (1u << TS_CONTROL_GROWTH)) r.growth = s->growth;
    r.given |= s->given;
    return r;
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

// Frames [a, b] of one run with controls r and no path; (x0, y0) the centre of
// frame a - 1 when cont, else the nominal start.
static void plan_run(const struct ts_control_plan * p, const struct ts_controls * r, int64_t a, int64_t b,
                     int cont, double x0, double y0) {
    const double W = p->video.width, H = p->video.height, fps = p->video.fps;
    const double rad = PLAN_RADIUS * (W < H ? W : H) / PLAN_REF;
    const int motion = (r->given >> TS_CONTROL_MOTION) & 1;
    const int fall = (r->given & ((1u << TS_CONTROL_GRAVITY) | (1u << TS_CONTROL_BOUNCE))) != 0;
    double * tr = p->track;
    if (!motion && !fall) {  // a growth alone: the object holds still
        for (int64_t f = a; f <= b; f++) {
            tr[2 * f + 0] = cont ? x0 : W / 2;
            tr[2 * f + 1] = cont ? y0 : H / 2;
            p->planned[f] = 1;
        }
        return;
    }
    if (!fall) {  // a straight line, stopping at the walls
        double xs = cont ? x0 : W / 2 - r->dx * (double)(b - a) / 2;
        double ys = cont ? y0 : H / 2 - r->dy * (double)(b - a) / 2;
        for (int64_t f = a; f <= b; f++) {
            double k = (double)(f - a) + (cont ? 1.0 : 0.0);
            tr[2 * f + 0] = clampd(xs + r->dx * k, rad, W - rad);
            tr[2 * f + 1] = clampd(ys + r->dy * k, rad, H - rad);
            p->planned[f] = 1;
        }
        return;
    }
    const double g = (r->given & (1u << TS_CONTROL_GRAVITY)) ? r->gravity : PLAN_GRAVITY * H / PLAN_REF;
    const double e = (r->given & (1u << TS_CONTROL_BOUNCE)) ? r->bounce : PLAN_RESTITUTION;
    double x = cont ? x0 : PLAN_START_X * W / PLAN_REF, y = cont ? y0 : rad + PLAN_START_DROP * H / PLAN_REF;
    double vx = motion ? r->dx * fps : PLAN_VX * W / PLAN_REF, vy = motion ? r->dy * fps : 0.0;
    const double floor_y = H - rad, h = 1.0 / (fps * PLAN_SUBSTEPS), v_rest = sqrt(2 * g * PLAN_REST_HEIGHT);
    int resting = 0;
    double tcur = 0.0;
    for (int64_t f = a; f <= b; f++) {
        const double target = ((double)(f - a) + (cont ? 1.0 : 0.0)) / fps;
        while (tcur < target - 1e-9) {
            double step = h < target - tcur ? h : target - tcur;
            x += vx * step;
            if (!resting) {
                vy += g * step;
                y += vy * step;
                if (y > floor_y) {
                    vy = fabs(vy) * e;
                    if (vy < v_rest) {
                        resting = 1, y = floor_y, vy = 0.0;
                    } else {
                        y = floor_y - (y - floor_y) * e;
                        vy = -vy;
                    }
                }
            }
            if (x < rad || x > W - rad) {
                x = x < rad ? rad + fabs(x - rad) : (W - rad) - (x - (W - rad));
                vx = -vx;
            }
            tcur += step;
        }
        tr[2 * f + 0] = x, tr[2 * f + 1] = y;
        p->planned[f] = 1;
    }
}

static int same_controls(const struct ts_controls * a, const struct ts_controls * b) {
    if (a->given != b->given) return 0;
    unsigned g = a->given;
    if ((g & (1u << TS_CONTROL_PATH)) && a->path != b->path) return 0;
    if ((g & (1u << TS_CONTROL_MOTION)) && (a->dx != b->dx || a->dy != b->dy)) return 0;
    if ((g & (1u << TS_CONTROL_GRAVITY)) && a->gravity != b->gravity) return 0;
    if ((g & (1u << TS_CONTROL_BOUNCE)) && a->bounce != b->bounce) return 0;
    if ((g & (1u << TS_CONTROL_GROWTH)) && a->growth != b->growth) return 0;
    return 1;
}

// The radius of frames [a, b] of one run with growth R; r0 the radius of frame
// a - 1 when cont, else the nominal radius at the run's middle frame.
static void plan_size_run(const struct ts_control_plan * p, double R, int64_t a, int64_t b, int cont, double r0) {
    const double s = (p->video.width < p->video.height ? p->video.width : p->video.height) / PLAN_REF;
    const double fps = p->video.fps, mid = (double)(b - a) / 2;
    for (int64_t f = a; f <= b; f++) {
        const double k = (double)(f - a);
        const double r = cont ? r0 * exp(R * (k + 1.0) / fps) : PLAN_SIZE_MID * s * exp(R * (k - mid) / fps);
        p->size[f] = clampd(r, PLAN_SIZE_LO * s, PLAN_SIZE_HI * s);
        p->sized[f] = 1;
    }
}

static void plan_build_track(struct ts_control_plan * p) {
    const unsigned moving = (1u << TS_CONTROL_MOTION) | (1u << TS_CONTROL_GRAVITY) | (1u << TS_CONTROL_BOUNCE) |
                            (1u << TS_CONTROL_GROWTH);
    if (!(p->any & moving)) return;
    const int64_t T = p->video.frames;
    p->track = ts_calloc((size_t)T * 2, sizeof(double));
    p->planned = ts_calloc((size_t)T, 1);
    if (p->any & (1u << TS_CONTROL_GROWTH)) {
        p->size = ts_calloc((size_t)T, sizeof(double));
        p->sized = ts_calloc((size_t)T, 1);
    }
    int has_centre = 0;  // frame a - 1 has a centre (a path's or a plan's)
    int has_size = 0;    // frame a - 1 has a planned radius
    double cx = 0, cy = 0;
    for (int64_t a = 0; a < T;) {
        struct ts_controls r = resolved_at(p, a);
        int64_t b = a;
        while (b + 1 < T) {
            struct ts_controls n = resolved_at(p, b + 1);
            if (!same_controls(&r, &n)) break;
            b++;
        }
        if (r.given & (1u << TS_CONTROL_PATH)) {
            double x, y;
            path_centre(&r, b, &x, &y);
            has_centre = 1, cx = x, cy = y;
        } else if (r.given & moving) {
            plan_run(p, &r, a, b, has_centre, cx, cy);
            has_centre = 1, cx = p->track[2 * b], cy = p->track[2 * b + 1];
        } else {
            has_centre = 0;
        }
        if (r.given & (1u << TS_CONTROL_GROWTH)) {
            plan_size_run(p, r.growth, a, b, has_size, has_size ? p->size[a - 1] : 0.0);
            has_size = 1;
        } else {
            has_size = 0;
        }
        a = b + 1;
    }
}

void ts_control_plan_free(struct ts_control_plan * p) {
    ts_controls_free(&p->global);
    for (int i = 0; i < p->n_segs; i++) ts_controls_free(&p->segs[i]);
    free(p->segs);
    free(p->track);
    free(p->planned);
    free(p->size);
    free(p->sized);
    memset(p, 0, sizeof(*p));
}

static void plan_set(const struct ts_control_plan * p, int64_t f, float * out) {
    if (f < 0 || f >= p->video.frames) return;
    if (p->planned && p->planned[f]) {
        out[0] = (float)(p->track[2 * f] / p->video.width * 2.0 - 1.0);
        out[1] = (float)(p->track[2 * f + 1] / p->video.height * 2.0 - 1.0);
        out[2] = 1.0f;
    }
    if (p->sized && p->sized[f]) {
        const double m = p->video.width < p->video.height ? p->video.width : p->video.height;
        out[TS_CONTROL_SIZE] = (float)(p->size[f] / m * 2.0);
        out[TS_CONTROL_SIZE + 1] = 1.0f;
    }
}

void ts_control_plan_vector(const struct ts_control_plan * p, int64_t f, float * out) {
    const struct ts_controls r = resolved_at(p, f);
    ts_controls_vector(&r, f, &p->video, out);
    plan_set(p, f, out);
}

void ts_control_plan_frames(const struct ts_control_plan * p, int64_t g0, int64_t Tn, float * out) {
    for (int64_t t = 0; t < Tn; t++) ts_control_plan_vector(p, g0 + t, out + t * TS_CONTROL_DIM);
}

void ts_control_plan_describe(const struct ts_control_plan * p, char * buf, size_t n) {
    const struct ts_controls * c = &p->global;
    size_t k = 0;
    buf[0] = '\0';
#define PUT(...)                                                \
    do {                                                        \
        int w_ = snprintf(buf + k, n - k, "%s", k ? ", " : ""); \
        if (w_ > 0 && k + (size_t)w_ < n) k += (size_t)w_;      \
        w_ = snprintf(buf + k, n - k, __VA_ARGS__);             \
        if (w_ > 0 && k + (size_t)w_ < n) k += (size_t)w_;      \
    } while (0)
    if (c->given & (1u << TS_CONTROL_PATH)) PUT("path of %d key(s)", c->n_path);
    if (c->given & (1u << TS_CONTROL_MOTION)) PUT("motion %g,%g px/frame", c->dx, c->dy);
    if (c->given & (1u << TS_CONTROL_GRAVITY)) PUT("gravity %g px/s^2", c->gravity);
    if (c->given & (1u << TS_CONTROL_BOUNCE)) PUT("bounce %g", c->bounce);
    if (c->given & (1u << TS_CONTROL_GROWTH)) PUT("growth %g/s", c->growth);
    int segs = 0;
    for (int i = 0; i < p->n_segs; i++) segs += p->segs[i].given != 0;
    if (segs) PUT("%d storyboard segment(s) with their own", segs);
    // what the planner adds: the defaults a bounce takes for what was not given, and on how many
    // frames the model follows a planned centre and size ("The planned track")
    const unsigned gb = (1u << TS_CONTROL_GRAVITY) | (1u << TS_CONTROL_BOUNCE);
    if ((c->given & gb) == (1u << TS_CONTROL_GRAVITY)) PUT("restitution %g assumed", PLAN_RESTITUTION);
    if ((c->given & gb) == (1u << TS_CONTROL_BOUNCE))
        PUT("gravity %g px/s^2 assumed", PLAN_GRAVITY * p->video.height / PLAN_REF);
    int64_t n_track = 0, n_size = 0;
    for (int64_t f = 0; f < p->video.frames; f++) {
        n_track += p->planned && p->planned[f];
        n_size += p->sized && p->sized[f];
    }
    if (n_track) PUT("centre planned on %lld of %lld frames", (long long)n_track, (long long)p->video.frames);
    if (n_size) PUT("size planned on %lld of %lld frames", (long long)n_size, (long long)p->video.frames);
    if (!k) PUT("none");
#undef PUT
}
