// diffusers' UniPCMultistepScheduler (flow sigmas) and FlowMatchEulerDiscreteScheduler,
// their configuration from scheduler_config.json (jansson), and their checkpoint state.
// The float32 step arithmetic follows diffusers 0.42's torch code operation by operation;
// see flow_sched.h for what is exact and what follows diffusers to rounding.
#include "sample/flow_sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// json_loads, json_object_foreach
#include <jansson.h>

// ---- names -------------------------------------------------------------------------

const char * ts_flow_sched_name(enum ts_flow_sched_kind kind) {
    static const char * const names[TS_FLOW_SCHED_COUNT] = {"unipc", "euler"};
    return (int)kind >= 0 && kind < TS_FLOW_SCHED_COUNT ? names[kind] : "unknown";
}

const char * ts_flow_sched_class_name(enum ts_flow_sched_kind kind) {
    static const char * const names[TS_FLOW_SCHED_COUNT] = {"UniPCMultistepScheduler",
                                                            "FlowMatchEulerDiscreteScheduler"};
    return (int)kind >= 0 && kind < TS_FLOW_SCHED_COUNT ? names[kind] : "unknown";
}

enum ts_status ts_flow_sched_from_str(const char * s, enum ts_flow_sched_kind * out) {
    for (int k = 0; k < TS_FLOW_SCHED_COUNT; k++)
        if (s && strcmp(s, ts_flow_sched_name(k)) == 0) {
            *out = (enum ts_flow_sched_kind)k;
            return TS_OK;
        }
    return ts_error(TS_ERR_ARG, "--sampler takes unipc (multistep UniPC, Wan's default) or euler (flow-match Euler)",
                    "unknown sampler '%s'", s ? s : "(null)");
}

// ---- configuration -------------------------------------------------------------------

static void config_defaults(struct ts_flow_sched_config * c, enum ts_flow_sched_kind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->num_train_timesteps = 1000;
    c->shift = 1.0;  // both classes' own default
    c->solver_order = 2;
    c->solver_type_bh1 = 0;
    c->lower_order_final = 1;
    c->final_sigma_min = 0;
    c->sigmas = TS_FLOW_SIGMAS_DIFFUSERS;
}

void ts_flow_sched_config_wan(struct ts_flow_sched_config * cfg, enum ts_flow_sched_kind kind, double shift) {
    config_defaults(cfg, kind);
    cfg->shift = shift;
}

static const char * const cfg_hint =
    "Wan2.1's Diffusers repos ship UniPCMultistepScheduler (prediction_type flow_prediction, use_flow_sigmas true, "
    "flow_shift 3.0); --sampler unipc|euler and --shift run Wan's settings whatever the file says";

// Typed readers: each returns TS_OK and leaves *out alone when the key is absent.
static enum ts_status get_bool(json_t * o, const char * key, const char * origin, int * out) {
    json_t * v = json_object_get(o, key);
    if (!v) return TS_OK;
    if (!json_is_boolean(v))
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': '%s' must be true or false", origin, key);
    *out = json_is_true(v);
    return TS_OK;
}

static enum ts_status get_int(json_t * o, const char * key, const char * origin, int * out) {
    json_t * v = json_object_get(o, key);
    if (!v) return TS_OK;
    double d = json_is_integer(v) ? (double)json_integer_value(v) : json_is_real(v) ? json_real_value(v) : NAN;
    if (!(d == floor(d)) || d < -1e9 || d > 1e9)
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': '%s' must be an integer", origin, key);
    *out = (int)d;
    return TS_OK;
}

static enum ts_status get_num(json_t * o, const char * key, const char * origin, double * out) {
    json_t * v = json_object_get(o, key);
    if (!v) return TS_OK;
    if (!json_is_number(v))
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': '%s' must be a number", origin, key);
    *out = json_number_value(v);
    return TS_OK;
}

// A string option, which must be one of `allowed` (NULL-terminated); *index gets its position.
static enum ts_status get_choice(json_t * o, const char * key, const char * origin, const char * const * allowed,
                                 int * index) {
    json_t * v = json_object_get(o, key);
    if (!v) return TS_OK;
    if (!json_is_string(v))
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': '%s' must be a string", origin, key);
    const char * s = json_string_value(v);
    char list[256] = "";
    for (int i = 0; allowed[i]; i++) {
        if (strcmp(s, allowed[i]) == 0) {
            *index = i;
            return TS_OK;
        }
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", allowed[i]);
    }
    return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': %s '%s' is not supported (timeshard runs: %s)",
                    origin, key, s, list);
}

// An option whose only implemented value is false / null / 0.
static enum ts_status require_off(json_t * o, const char * key, const char * origin, const char * what) {
    json_t * v = json_object_get(o, key);
    if (!v || json_is_null(v) || json_is_false(v)) return TS_OK;
    if (json_is_number(v) && json_number_value(v) == 0.0) return TS_OK;
    return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': %s is not supported ('%s' must be %s)", origin,
                    what, key, json_is_boolean(v) ? "false" : "null");
}

static int key_in(const char * key, const char * const * list) {
    for (int i = 0; list[i]; i++)
        if (strcmp(key, list[i]) == 0) return 1;
    return 0;
}

static enum ts_status parse_unipc(json_t * o, const char * origin, struct ts_flow_sched_config * c) {
    static const char * const known[] = {"num_train_timesteps",
                                         "beta_start",
                                         "beta_end",
                                         "beta_schedule",
                                         "trained_betas",
                                         "solver_order",
                                         "prediction_type",
                                         "thresholding",
                                         "dynamic_thresholding_ratio",
                                         "sample_max_value",
                                         "predict_x0",
                                         "solver_type",
                                         "lower_order_final",
                                         "disable_corrector",
                                         "solver_p",
                                         "use_karras_sigmas",
                                         "use_exponential_sigmas",
                                         "use_beta_sigmas",
                                         "use_flow_sigmas",
                                         "flow_shift",
                                         "timestep_spacing",
                                         "steps_offset",
                                         "final_sigmas_type",
                                         "rescale_betas_zero_snr",
                                         "use_dynamic_shifting",
                                         "time_shift_type",
                                         "sigma_min",
                                         "sigma_max",
                                         "shift_terminal",
                                         NULL};
    const char * key;
    json_t * v;
    json_object_foreach(o, key, v) {
        if (key[0] != '_' && !key_in(key, known))
            TS_WARN("scheduler config '%s': ignoring unknown key '%s' (as diffusers does)", origin, key);
    }
    TS_TRY(get_int(o, "num_train_timesteps", origin, &c->num_train_timesteps));
    if (c->num_train_timesteps < 1)
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': num_train_timesteps must be at least 1",
                        origin);
    TS_TRY(get_int(o, "solver_order", origin, &c->solver_order));
    if (c->solver_order < 1 || c->solver_order > TS_FLOW_SCHED_MAX_ORDER)
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': solver_order %d is not supported (1..%d)",
                        origin, c->solver_order, TS_FLOW_SCHED_MAX_ORDER);
    // diffusers' default prediction_type is epsilon: a file without the key is not a flow model's
    static const char * const pred[] = {"flow_prediction", NULL};
    int idx = -1;
    TS_TRY(get_choice(o, "prediction_type", origin, pred, &idx));
    if (idx != 0)
        return ts_error(TS_ERR_FORMAT, cfg_hint,
                        "scheduler config '%s': prediction_type 'epsilon' (the default when absent) is not supported "
                        "(timeshard runs flow_prediction)",
                        origin);
    int flow = 0;
    TS_TRY(get_bool(o, "use_flow_sigmas", origin, &flow));
    if (!flow)
        return ts_error(TS_ERR_FORMAT, cfg_hint,
                        "scheduler config '%s': use_flow_sigmas false (the default when absent) is not supported "
                        "(timeshard runs flow sigmas)",
                        origin);
    int predict_x0 = 1;
    TS_TRY(get_bool(o, "predict_x0", origin, &predict_x0));
    if (!predict_x0)
        return ts_error(TS_ERR_FORMAT, cfg_hint,
                        "scheduler config '%s': predict_x0 false is not supported (diffusers refuses it with "
                        "flow_prediction too)",
                        origin);
    static const char * const solver[] = {"bh2", "bh1", "midpoint", "heun", "logrho", NULL};
    idx = 0;
    TS_TRY(get_choice(o, "solver_type", origin, solver, &idx));
    c->solver_type_bh1 = idx == 1;  // midpoint, heun, logrho: diffusers registers bh2
    TS_TRY(get_bool(o, "lower_order_final", origin, &c->lower_order_final));
    static const char * const final[] = {"zero", "sigma_min", NULL};
    idx = 0;
    TS_TRY(get_choice(o, "final_sigmas_type", origin, final, &idx));
    c->final_sigma_min = idx == 1;
    static const char * const spacing[] = {"linspace", "leading", "trailing", NULL};  // no effect with flow sigmas
    TS_TRY(get_choice(o, "timestep_spacing", origin, spacing, &idx));
    double shift = 1.0;
    TS_TRY(get_num(o, "flow_shift", origin, &shift));
    if (!(shift > 0.0) || !isfinite(shift))
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': flow_shift must be positive", origin);
    c->shift = shift;
    json_t * dc = json_object_get(o, "disable_corrector");
    if (dc && !json_is_null(dc)) {
        if (!json_is_array(dc))
            return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': disable_corrector must be a list of steps",
                            origin);
        size_t i;
        json_t * e;
        json_array_foreach(dc, i, e) {
            if (!json_is_integer(e))
                return ts_error(TS_ERR_FORMAT, cfg_hint,
                                "scheduler config '%s': disable_corrector must be a list of integers", origin);
            if (c->n_disable_corrector == TS_FLOW_SCHED_MAX_DISABLED)
                return ts_error(TS_ERR_FORMAT, cfg_hint,
                                "scheduler config '%s': disable_corrector lists more than %d steps", origin,
                                TS_FLOW_SCHED_MAX_DISABLED);
            c->disable_corrector[c->n_disable_corrector++] = (int)json_integer_value(e);
        }
    }
    TS_TRY(require_off(o, "thresholding", origin, "dynamic thresholding"));
    TS_TRY(require_off(o, "solver_p", origin, "an external predictor (solver_p)"));
    TS_TRY(require_off(o, "use_karras_sigmas", origin, "Karras sigmas"));
    TS_TRY(require_off(o, "use_exponential_sigmas", origin, "exponential sigmas"));
    TS_TRY(require_off(o, "use_beta_sigmas", origin, "beta sigmas"));
    TS_TRY(require_off(o, "use_dynamic_shifting", origin, "dynamic shifting (WanPipeline passes no mu)"));
    TS_TRY(require_off(o, "shift_terminal", origin, "a terminal shift"));
    return TS_OK;
}

static enum ts_status parse_euler(json_t * o, const char * origin, struct ts_flow_sched_config * c) {
    static const char * const known[] = {"num_train_timesteps",
                                         "shift",
                                         "use_dynamic_shifting",
                                         "base_shift",
                                         "max_shift",
                                         "base_image_seq_len",
                                         "max_image_seq_len",
                                         "invert_sigmas",
                                         "shift_terminal",
                                         "use_karras_sigmas",
                                         "use_exponential_sigmas",
                                         "use_beta_sigmas",
                                         "time_shift_type",
                                         "stochastic_sampling",
                                         NULL};
    const char * key;
    json_t * v;
    json_object_foreach(o, key, v) {
        if (key[0] != '_' && !key_in(key, known))
            TS_WARN("scheduler config '%s': ignoring unknown key '%s' (as diffusers does)", origin, key);
    }
    TS_TRY(get_int(o, "num_train_timesteps", origin, &c->num_train_timesteps));
    if (c->num_train_timesteps < 1)
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': num_train_timesteps must be at least 1",
                        origin);
    double shift = 1.0;
    TS_TRY(get_num(o, "shift", origin, &shift));
    if (!(shift > 0.0) || !isfinite(shift))
        return ts_error(TS_ERR_FORMAT, cfg_hint, "scheduler config '%s': shift must be positive", origin);
    c->shift = shift;
    static const char * const tst[] = {"exponential", "linear", NULL};  // used only with dynamic shifting
    int idx = 0;
    TS_TRY(get_choice(o, "time_shift_type", origin, tst, &idx));
    TS_TRY(require_off(o, "use_dynamic_shifting", origin, "dynamic shifting (WanPipeline passes no mu)"));
    TS_TRY(require_off(o, "invert_sigmas", origin, "inverted sigmas"));
    TS_TRY(require_off(o, "shift_terminal", origin, "a terminal shift"));
    TS_TRY(require_off(o, "use_karras_sigmas", origin, "Karras sigmas"));
    TS_TRY(require_off(o, "use_exponential_sigmas", origin, "exponential sigmas"));
    TS_TRY(require_off(o, "use_beta_sigmas", origin, "beta sigmas"));
    TS_TRY(require_off(o, "stochastic_sampling", origin, "stochastic sampling"));
    return TS_OK;
}

enum ts_status ts_flow_sched_config_parse(const char * json_text, const char * origin,
                                          struct ts_flow_sched_config * cfg) {
    if (!origin) origin = "(text)";
    json_error_t jerr;
    json_t * o = json_loads(json_text ? json_text : "", 0, &jerr);
    if (!o)
        return ts_error(TS_ERR_FORMAT, "a diffusers scheduler/scheduler_config.json is one JSON object",
                        "scheduler config '%s' is not valid JSON: %s (line %d)", origin, jerr.text, jerr.line);
    enum ts_status st = TS_OK;
    json_t * cls = json_object_get(o, "_class_name");
    if (!json_is_object(o)) {
        st = ts_error(TS_ERR_FORMAT, "a diffusers scheduler/scheduler_config.json is one JSON object",
                      "scheduler config '%s' is not a JSON object", origin);
    } else if (!json_is_string(cls)) {
        st = ts_error(TS_ERR_FORMAT, "diffusers writes the scheduler's class as \"_class_name\"",
                      "scheduler config '%s' has no \"_class_name\"", origin);
    } else {
        const char * name = json_string_value(cls);
        struct ts_flow_sched_config c;
        if (strcmp(name, ts_flow_sched_class_name(TS_FLOW_SCHED_UNIPC)) == 0) {
            config_defaults(&c, TS_FLOW_SCHED_UNIPC);
            st = parse_unipc(o, origin, &c);
        } else if (strcmp(name, ts_flow_sched_class_name(TS_FLOW_SCHED_EULER)) == 0) {
            config_defaults(&c, TS_FLOW_SCHED_EULER);
            st = parse_euler(o, origin, &c);
        } else {
            st = ts_error(TS_ERR_FORMAT,
                          "timeshard runs UniPCMultistepScheduler and FlowMatchEulerDiscreteScheduler; "
                          "--sampler unipc|euler overrides the directory's scheduler",
                          "scheduler config '%s': unknown scheduler class '%s'", origin, name);
        }
        if (st == TS_OK) *cfg = c;
    }
    json_decref(o);
    return st;
}

enum ts_status ts_flow_sched_config_load(const char * path, struct ts_flow_sched_config * cfg) {
    FILE * f = fopen(path, "rb");
    if (!f)
        return ts_error(TS_ERR_IO, "a diffusers directory holds scheduler/scheduler_config.json",
                        "cannot read scheduler config '%s'", path);
    size_t cap = 4096, len = 0;
    char * text = ts_malloc(cap);
    size_t got;
    while ((got = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) text = realloc(text, cap *= 2);
        TS_ASSERT(text);
        if (len > (1u << 24)) break;  // no scheduler config is megabytes long
    }
    int bad = ferror(f) || len > (1u << 24);
    fclose(f);
    text[len] = '\0';
    enum ts_status st = bad ? ts_error(TS_ERR_IO, NULL, "cannot read scheduler config '%s'", path)
                            : ts_flow_sched_config_parse(text, path, cfg);
    free(text);
    return st;
}

enum ts_status ts_flow_sched_config_override(struct ts_flow_sched_config * cfg, const char * sampler, double shift) {
    if (sampler) {
        enum ts_flow_sched_kind kind;
        TS_TRY(ts_flow_sched_from_str(sampler, &kind));
        if (kind != cfg->kind) {
            int n_train = cfg->num_train_timesteps;
            ts_flow_sched_config_wan(cfg, kind, cfg->shift);
            cfg->num_train_timesteps = n_train;
        }
    }
    if (shift != 0.0) {
        if (!(shift > 0.0) || !isfinite(shift))
            return ts_error(TS_ERR_ARG,
                            "--shift takes a positive number (Wan: 3.0 in its Diffusers repos, 5.0 its own default)",
                            "bad --shift %g", shift);
        cfg->shift = shift;
    }
    return TS_OK;
}

const char * ts_flow_sched_config_str(const struct ts_flow_sched_config * c, char * buf, size_t size) {
    if (c->kind == TS_FLOW_SCHED_UNIPC)
        snprintf(buf, size, "unipc (flow_shift %g, order %d, %s%s%s%s%s)", c->shift, c->solver_order,
                 c->solver_type_bh1 ? "bh1" : "bh2", c->lower_order_final ? "" : ", no lower_order_final",
                 c->final_sigma_min ? ", final sigma_min" : "", c->n_disable_corrector ? ", correctors disabled" : "",
                 c->sigmas == TS_FLOW_SIGMAS_WAN ? ", Wan's own sigmas" : "");
    else
        snprintf(buf, size, "euler (shift %g)", c->shift);
    return buf;
}

// ---- the scheduler -------------------------------------------------------------------

struct ts_flow_sched {
    struct ts_flow_sched_config cfg;
    int steps;
    int64_t n;           // latent elements on this rank
    float * sigmas;      // (steps + 1) float32 as diffusers holds them; owned
    double * timesteps;  // (steps) the model's timestep input; owned
    int step_index;      // next step
    // UniPC
    int lower_order_nums;
    int this_order;  // the order of the last predictor (the next corrector uses it)
    int has_last_sample;
    float * mo[TS_FLOW_SCHED_MAX_ORDER];  // (n) x0 predictions, mo[order-1] the newest; into buf
    float * last_sample;                  // (n) the sample the last predictor started from; into buf
    float * buf;                          // one allocation: (order + 1) * n floats; owned
};

// numpy.linspace(start, stop, num)[i], endpoint included: i*step + start, the last exactly stop.
static double np_linspace(double start, double stop, int num, int i) {
    if (num == 1) return start;
    if (i == num - 1) return stop;
    double step = (stop - start) / (double)(num - 1);
    return (double)i * step + start;
}

static void set_schedule_unipc(struct ts_flow_sched * s) {
    const struct ts_flow_sched_config * c = &s->cfg;
    int n = s->steps;
    double N = (double)c->num_train_timesteps;
    double * sig = ts_malloc((size_t)n * sizeof(double));
    for (int k = 0; k < n; k++) {
        double x;
        if (c->sigmas == TS_FLOW_SIGMAS_WAN)  // Wan: sigma_max = float32(1 - 1/N), sigma_min = 0
            x = np_linspace((double)(float)(1.0 - 1.0 / N), 0.0, n + 1, k);
        else
            x = np_linspace(1.0, 1.0 / N, n + 1, k);
        sig[k] = c->shift * x / (1.0 + (c->shift - 1.0) * x);
    }
    if (c->sigmas == TS_FLOW_SIGMAS_DIFFUSERS && fabs(sig[0] - 1.0) < 1e-6) sig[0] -= 1e-6;
    for (int k = 0; k < n; k++) {
        s->timesteps[k] = (double)(int64_t)(sig[k] * N);  // torch .to(int64): toward zero
        s->sigmas[k] = (float)sig[k];
    }
    s->sigmas[n] = c->final_sigma_min ? (float)sig[n - 1] : 0.0f;
    free(sig);
}

static void set_schedule_euler(struct ts_flow_sched * s) {
    const struct ts_flow_sched_config * c = &s->cfg;
    int n = s->steps;
    int N = c->num_train_timesteps;
    // __init__: the training table, float32 torch ops (python scalars act as float32)
    float shf = (float)c->shift, shm1 = (float)(c->shift - 1.0);
    float t_min = 1.0f / (float)N;  // linspace(1, N, N)[::-1] / N: the smallest
    float sigma_min = shf * t_min / (1.0f + shm1 * t_min);
    float sigma_max = shf * 1.0f / (1.0f + shm1 * 1.0f);
    // set_timesteps: float64 numpy, shifted again
    for (int k = 0; k < n; k++) {
        double t = np_linspace((double)sigma_max * N, (double)sigma_min * N, n, k);
        double x = t / (double)N;
        double sg = c->shift * x / (1.0 + (c->shift - 1.0) * x);
        s->sigmas[k] = (float)sg;
        s->timesteps[k] = (double)(s->sigmas[k] * (float)N);  // float32 tensor * N
    }
    s->sigmas[n] = 0.0f;
}

enum ts_status ts_flow_sched_new(const struct ts_flow_sched_config * cfg, int steps, int64_t n_local,
                                 ts_flow_sched_t * out) {
    *out = NULL;
    if (steps < 1) return ts_error(TS_ERR_ARG, "--steps takes a positive count (Wan: 50)", "bad step count %d", steps);
    if ((int)cfg->kind < 0 || cfg->kind >= TS_FLOW_SCHED_COUNT || !(cfg->shift > 0.0) || cfg->num_train_timesteps < 1 ||
        cfg->solver_order < 1 || cfg->solver_order > TS_FLOW_SCHED_MAX_ORDER || (int)cfg->sigmas < 0 ||
        cfg->sigmas >= TS_FLOW_SIGMAS_COUNT || n_local < 0)
        return ts_error(TS_ERR_ARG, NULL, "invalid sampler configuration");
    struct ts_flow_sched * s = ts_calloc(1, sizeof *s);
    s->cfg = *cfg;
    s->steps = steps;
    s->n = n_local;
    s->sigmas = ts_malloc((size_t)(steps + 1) * sizeof(float));
    s->timesteps = ts_malloc((size_t)steps * sizeof(double));
    if (cfg->kind == TS_FLOW_SCHED_UNIPC) {
        set_schedule_unipc(s);
        int order = cfg->solver_order;
        s->buf = ts_calloc((size_t)(order + 1) * (size_t)(n_local > 0 ? n_local : 1), sizeof(float));
        for (int j = 0; j < order; j++) s->mo[j] = s->buf + (size_t)j * (size_t)n_local;
        s->last_sample = s->buf + (size_t)order * (size_t)n_local;
    } else {
        set_schedule_euler(s);
    }
    *out = s;
    return TS_OK;
}

void ts_flow_sched_free(ts_flow_sched_t * s) {
    if (!s || !*s) return;
    free((*s)->sigmas);
    free((*s)->timesteps);
    free((*s)->buf);
    TS_FREE(*s);
}

int ts_flow_sched_steps(ts_flow_sched_t s) { return s->steps; }
int ts_flow_sched_step_index(ts_flow_sched_t s) { return s->step_index; }

double ts_flow_sched_timestep(ts_flow_sched_t s, int k) {
    TS_ASSERT(k >= 0 && k < s->steps);
    return s->timesteps[k];
}

float ts_flow_sched_sigma(ts_flow_sched_t s, int k) {
    TS_ASSERT(k >= 0 && k <= s->steps);
    return s->sigmas[k];
}

// float -> bfloat16 -> float, round to nearest even (torch's c10::BFloat16), NaN kept quiet
static inline float bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return f;  // NaN
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

// ---- UniPC's scalars ---------------------------------------------------------------

// lambda = log(alpha) - log(sigma), alpha = 1 - sigma (flow sigmas), float32 as torch
static float unipc_lambda(float sigma) { return logf(1.0f - sigma) - logf(sigma); }

// Solves A x = b (n <= 3) in float32 by LU with partial pivoting, as LAPACK's sgesv
// (which torch.linalg.solve calls): pivot column scaled by the reciprocal pivot.
static void solve_small(int n, float A[][TS_FLOW_SCHED_MAX_ORDER], float * b, float * x) {
    float a[TS_FLOW_SCHED_MAX_ORDER][TS_FLOW_SCHED_MAX_ORDER], y[TS_FLOW_SCHED_MAX_ORDER];
    memcpy(a, A, sizeof a);
    for (int i = 0; i < n; i++) y[i] = b[i];
    for (int k = 0; k < n; k++) {
        int p = k;
        for (int i = k + 1; i < n; i++)
            if (fabsf(a[i][k]) > fabsf(a[p][k])) p = i;
        if (p != k) {
            for (int j = 0; j < n; j++) {
                float t = a[k][j];
                a[k][j] = a[p][j];
                a[p][j] = t;
            }
            float t = y[k];
            y[k] = y[p];
            y[p] = t;
        }
        float r = 1.0f / a[k][k];
        for (int i = k + 1; i < n; i++) a[i][k] *= r;
        for (int i = k + 1; i < n; i++)
            for (int j = k + 1; j < n; j++) a[i][j] -= a[i][k] * a[k][j];
    }
    for (int k = 0; k < n; k++)  // L y = b (unit lower)
        for (int i = k + 1; i < n; i++) y[i] -= y[k] * a[i][k];
    for (int k = n - 1; k >= 0; k--) {  // U x = y
        y[k] /= a[k][k];
        for (int i = 0; i < k; i++) y[i] -= y[k] * a[i][k];
    }
    for (int i = 0; i < n; i++) x[i] = y[i];
}

// The scalars of one UniP or UniC update (multistep_uni_p_bh_update / _c_): from
// sigma_s0 (where the newest model output m0 was taken) to sigma_t, with the older
// outputs at sigma_si (i = 1..order-1).
struct unipc_coef {
    int order;
    float a;                             // sigma_t / sigma_s0          (x_t_ = a*x - b*m0)
    float b;                             // alpha_t * h_phi_1
    float c;                             // alpha_t * B_h               (x_t = x_t_ - c*res)
    float rk[TS_FLOW_SCHED_MAX_ORDER];   // D1_i = (m_i - m0) / rk[i-1]
    float rho[TS_FLOW_SCHED_MAX_ORDER];  // the combination weights
};

static void unipc_coef(const struct ts_flow_sched * s, int order, int i_t, int i_s0, int corrector,
                       struct unipc_coef * q) {
    const float * sg = s->sigmas;
    float sigma_t = sg[i_t], sigma_s0 = sg[i_s0];
    float alpha_t = 1.0f - sigma_t;
    float lambda_t = unipc_lambda(sigma_t), lambda_s0 = unipc_lambda(sigma_s0);
    float h = lambda_t - lambda_s0;
    float rks[TS_FLOW_SCHED_MAX_ORDER];
    for (int i = 1; i < order; i++) {
        int si = corrector ? i_t - (i + 1) : i_t - 1 - i;  // predictor: step_index - i; corrector: step_index - (i+1)
        rks[i - 1] = (unipc_lambda(sg[si]) - lambda_s0) / h;
    }
    rks[order - 1] = 1.0f;
    float hh = -h;  // predict_x0
    float h_phi_1 = expm1f(hh);
    float h_phi_k = h_phi_1 / hh - 1.0f;
    float B_h = s->cfg.solver_type_bh1 ? hh : expm1f(hh);
    float R[TS_FLOW_SCHED_MAX_ORDER][TS_FLOW_SCHED_MAX_ORDER], b[TS_FLOW_SCHED_MAX_ORDER];
    int factorial = 1;
    for (int i = 1; i <= order; i++) {
        for (int j = 0; j < order; j++) {  // torch.pow(rks, i - 1)
            float r = rks[j];
            R[i - 1][j] = i == 1 ? 1.0f : i == 2 ? r : r * r;
        }
        b[i - 1] = h_phi_k * (float)factorial / B_h;
        factorial *= i + 1;
        h_phi_k = h_phi_k / hh - (float)(1.0 / factorial);
    }
    q->order = order;
    q->a = sigma_t / sigma_s0;
    q->b = alpha_t * h_phi_1;
    q->c = alpha_t * B_h;
    for (int i = 0; i < order; i++) q->rk[i] = rks[i];
    if (corrector) {
        if (order == 1)
            q->rho[0] = 0.5f;
        else
            solve_small(order, R, b, q->rho);
    } else if (order == 2) {
        q->rho[0] = 0.5f;
    } else if (order > 2) {
        solve_small(order - 1, R, b, q->rho);
    }
}

static int corrector_disabled(const struct ts_flow_sched_config * c, int step) {
    for (int i = 0; i < c->n_disable_corrector; i++)
        if (c->disable_corrector[i] == step) return 1;
    return 0;
}

// UniPCMultistepScheduler.step: convert to x0, correct (UniC), predict (UniP).
static void unipc_step(struct ts_flow_sched * s, const float * v, float * x) {
    const int order = s->cfg.solver_order, k = s->step_index;
    const int bf16 = s->cfg.model_output_bf16;
    const float sigma_k = bf16 ? bf16_round(s->sigmas[k]) : s->sigmas[k];
    const int use_corr = k > 0 && !corrector_disabled(&s->cfg, k - 1) && s->has_last_sample;
    struct unipc_coef qc = {0}, qp;
    if (use_corr) unipc_coef(s, s->this_order, k, k - 1, 1, &qc);
    int this_order = s->cfg.lower_order_final ? (order < s->steps - k ? order : s->steps - k) : order;
    if (this_order > s->lower_order_nums + 1) this_order = s->lower_order_nums + 1;
    unipc_coef(s, this_order, k + 1, k, 0, &qp);

    // the outputs before (old[j], j = 0 newest) and after this step's (new) is appended
    float * old[TS_FLOW_SCHED_MAX_ORDER];
    for (int j = 0; j < order; j++) old[j] = s->mo[order - 1 - j];
    float * slot = s->mo[0];  // the oldest is dropped: this step's output goes there
    float * last = s->last_sample;
    const int64_t n = s->n;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float xi = x[i];
        float sv = sigma_k * v[i];
        if (bf16) sv = bf16_round(sv);
        float conv = xi - sv;  // convert_model_output, flow_prediction
        if (use_corr) {
            float m0 = old[0][i];
            float xt_ = qc.a * last[i] - qc.b * m0;
            float d1t = conv - m0;
            if (qc.order == 1) {
                xi = xt_ - qc.c * (qc.rho[0] * d1t);
            } else {
                float corr = 0.0f;
                for (int j = 1; j < qc.order; j++) {
                    float d = (old[j][i] - m0) / qc.rk[j - 1];
                    corr = j == 1 ? qc.rho[0] * d : corr + qc.rho[j - 1] * d;
                }
                xi = xt_ - qc.c * (corr + qc.rho[qc.order - 1] * d1t);
            }
        }
        last[i] = xi;
        // predictor over [conv, old[0], old[1], ...]
        float xt_ = qp.a * xi - qp.b * conv;
        if (qp.order > 1) {
            float pred = 0.0f;
            for (int j = 1; j < qp.order; j++) {
                float d = (old[j - 1][i] - conv) / qp.rk[j - 1];
                pred = j == 1 ? qp.rho[0] * d : pred + qp.rho[j - 1] * d;
            }
            xt_ = xt_ - qp.c * pred;
        }
        slot[i] = conv;
        x[i] = xt_;
    }
    for (int j = 0; j < order - 1; j++) s->mo[j] = s->mo[j + 1];
    s->mo[order - 1] = slot;
    s->has_last_sample = 1;
    s->this_order = this_order;
    if (s->lower_order_nums < order) s->lower_order_nums++;
}

void ts_flow_sched_step(ts_flow_sched_t s, const float * model_output, float * sample) {
    TS_ASSERT(s->step_index < s->steps);
    if (s->cfg.kind == TS_FLOW_SCHED_UNIPC) {
        unipc_step(s, model_output, sample);
    } else {
        const float dt = s->sigmas[s->step_index + 1] - s->sigmas[s->step_index];
        const int64_t n = s->n;
        if (s->cfg.model_output_bf16) {
            const float dt16 = bf16_round(dt);
#pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; i++) sample[i] = bf16_round(sample[i] + bf16_round(dt16 * model_output[i]));
        } else {
#pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; i++) sample[i] = sample[i] + dt * model_output[i];
        }
    }
    s->step_index++;
}

void ts_flow_guidance(const float * cond, const float * uncond, double g, int64_t n, int model_output_bf16,
                      float * out) {
    const float gf = (float)g;
    if (model_output_bf16) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            float u = uncond[i];
            float d = bf16_round(cond[i] - u);
            out[i] = bf16_round(u + bf16_round(gf * d));
        }
    } else {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            float u = uncond[i];
            out[i] = u + gf * (cond[i] - u);
        }
    }
}

// ---- state -----------------------------------------------------------------------------

static const char * const mo_names[TS_FLOW_SCHED_MAX_ORDER] = {"model_output.0", "model_output.1", "model_output.2"};

int ts_flow_sched_state_get(ts_flow_sched_t s, struct ts_flow_sched_item * it) {
    int n = 0;
#define SCALAR(nm, v) \
    it[n++] = (struct ts_flow_sched_item){.name = nm, .is_array = 0, .data = NULL, .value = (double)(v)}
    SCALAR("kind", s->cfg.kind);
    SCALAR("steps", s->steps);
    SCALAR("shift", s->cfg.shift);
    SCALAR("solver_order", s->cfg.kind == TS_FLOW_SCHED_UNIPC ? s->cfg.solver_order : 1);
    SCALAR("flow_sigmas", s->cfg.sigmas);
    SCALAR("step_index", s->step_index);
    SCALAR("lower_order_nums", s->lower_order_nums);
    SCALAR("this_order", s->this_order);
    SCALAR("has_last_sample", s->has_last_sample);
#undef SCALAR
    if (s->cfg.kind == TS_FLOW_SCHED_UNIPC) {
        for (int j = 0; j < s->cfg.solver_order; j++)
            it[n++] = (struct ts_flow_sched_item){.name = mo_names[j], .is_array = 1, .data = s->mo[j]};
        it[n++] = (struct ts_flow_sched_item){.name = "last_sample", .is_array = 1, .data = s->last_sample};
    }
    TS_ASSERT(n <= TS_FLOW_SCHED_STATE_MAX);
    return n;
}

static const struct ts_flow_sched_item * find_item(const struct ts_flow_sched_item * items, int n, const char * name) {
    for (int i = 0; i < n; i++)
        if (items[i].name && strcmp(items[i].name, name) == 0) return &items[i];
    return NULL;
}

enum ts_status ts_flow_sched_state_set(ts_flow_sched_t s, const struct ts_flow_sched_item * items, int n_items) {
    static const char * const hint =
        "resume with the --sampler, --steps and --shift of the run that wrote the checkpoint";
    struct ts_flow_sched_item mine[TS_FLOW_SCHED_STATE_MAX];
    int n = ts_flow_sched_state_get(s, mine);
    // check everything first: a refused state leaves the scheduler as it was
    for (int i = 0; i < n; i++) {
        const struct ts_flow_sched_item * g = find_item(items, n_items, mine[i].name);
        if (!g || g->is_array != mine[i].is_array || (g->is_array && !g->data))
            return ts_error(TS_ERR_FORMAT, "the checkpoint was not written by this sampler, or is damaged",
                            "checkpoint has no sampler state '%s'", mine[i].name);
        if (!g->is_array && !isfinite(g->value))
            return ts_error(TS_ERR_FORMAT, NULL, "checkpoint sampler state '%s' is not a number", mine[i].name);
    }
    static const char * const ident[] = {"kind", "steps", "shift", "solver_order", "flow_sigmas"};
    for (int i = 0; i < 5; i++) {
        double want = find_item(mine, n, ident[i])->value, got = find_item(items, n_items, ident[i])->value;
        if (want != got)
            return ts_error(TS_ERR_ARG, hint, "checkpoint sampler state: %s is %g, this run has %g", ident[i], got,
                            want);
    }
    double si = find_item(items, n_items, "step_index")->value;
    double lon = find_item(items, n_items, "lower_order_nums")->value;
    double tor = find_item(items, n_items, "this_order")->value;
    double hls = find_item(items, n_items, "has_last_sample")->value;
    int order = s->cfg.kind == TS_FLOW_SCHED_UNIPC ? s->cfg.solver_order : 1;
    if (si != floor(si) || si < 0 || si > s->steps || lon != floor(lon) || lon < 0 || lon > order ||
        tor != floor(tor) || tor < 0 || tor > order || (hls != 0 && hls != 1))
        return ts_error(TS_ERR_FORMAT, "the checkpoint is damaged", "checkpoint sampler state is out of range");
    for (int i = 0; i < n; i++) {
        if (!mine[i].is_array) continue;
        const struct ts_flow_sched_item * g = find_item(items, n_items, mine[i].name);
        if (s->n > 0 && g->data != mine[i].data) memcpy(mine[i].data, g->data, (size_t)s->n * sizeof(float));
    }
    s->step_index = (int)si;
    s->lower_order_nums = (int)lon;
    s->this_order = (int)tor;
    s->has_last_sample = (int)hls;
    return TS_OK;
}
