// Fuzz target: the motion controls' syntax (model/controls.h). The first byte
// picks the surface: even, a storyboard line's settings ("key=value ...") for
// the segment of frames [b1 % 48, 47]; odd, one flag's value (--path, --motion,
// --gravity, --bounce, --growth by b1 % 5), both for 48 frames of 64x48 pixels
// at 12 fps. What is accepted must give finite vectors with flags 0 or 1.
#include <math.h>

#include "fuzz.h"
#include "model/controls.h"  // ts_controls_set, ts_controls_parse, ts_controls_vector

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    if (size < 2) return 0;
    const struct ts_control_video v = {48, 64, 48, 12.0};
    static const char * const keys[TS_CONTROL_COUNT] = {"path", "motion", "gravity", "bounce", "growth"};
    char * text = fuzz_cstr(data + 2, size - 2);
    struct ts_controls c = {0};
    enum ts_status st;
    if (data[0] % 2 == 0)
        st = ts_controls_parse(&c, text, &v, data[1] % 48, 47, "fuzz.txt:1");
    else
        st = ts_controls_set(&c, keys[data[1] % 5], text, &v, 0, 47, "--fuzz");
    fuzz_why("controls", st);
    if (st == TS_OK) {
        if (!c.given) abort();
        for (int64_t f = 0; f < 48; f++) {
            float vec[TS_CONTROL_DIM];
            ts_controls_vector(&c, f, &v, vec);
            for (int i = 0; i < TS_CONTROL_DIM; i++)
                if (!isfinite(vec[i])) abort();
            for (int i = 2; i < TS_CONTROL_DIM; i += (i < 5 ? 3 : 2))
                if (vec[i] != 0.0f && vec[i] != 1.0f) abort();
            if (vec[2] == 1.0f && (fabsf(vec[0]) > 1.0f || fabsf(vec[1]) > 1.0f)) abort();  // inside the frame
        }
    }
    ts_controls_free(&c);
    free(text);
    return 0;
}
