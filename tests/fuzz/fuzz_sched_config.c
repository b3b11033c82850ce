// Fuzz target: a diffusers scheduler_config.json through
// ts_flow_sched_config_parse, then (when accepted) a scheduler made from it and
// two steps taken, as a Wan run would.
#include <math.h>

#include "fuzz.h"
#include "sample/flow_sched.h"  // ts_flow_sched_config_parse, ts_flow_sched_new

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char * text = fuzz_cstr(data, size);
    struct ts_flow_sched_config cfg;
    if (ts_flow_sched_config_parse(text, "fuzz.json", &cfg) == TS_OK) {
        char line[256];
        (void)ts_flow_sched_config_str(&cfg, line, sizeof line);
        ts_flow_sched_t s = NULL;
        if (ts_flow_sched_new(&cfg, 3, 8, &s) == TS_OK) {
            float x[8] = {0.5f, -1, 2, 0, 1, 1, 1, 1}, v[8] = {0.25f, 0, 1, -1, 2, 0, 0, 1};
            for (int k = 0; k < 2; k++) {
                (void)ts_flow_sched_timestep(s, k);
                ts_flow_sched_step(s, v, x);
            }
            struct ts_flow_sched_item items[TS_FLOW_SCHED_STATE_MAX];
            int n = ts_flow_sched_state_get(s, items);
            if (n < 0 || n > TS_FLOW_SCHED_STATE_MAX) abort();
            ts_flow_sched_free(&s);
        }
    }
    free(text);
    return 0;
}
