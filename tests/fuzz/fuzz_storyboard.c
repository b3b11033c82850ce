// Fuzz target: storyboards (`FIRST-LAST: prompt` lines covering the frames)
// through ts_storyboard_load for 48 frames, then the per-frame segments and
// blend weights.
#include "fuzz.h"
#include "model/prompt.h"  // ts_storyboard_load, ts_storyboard_frames

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    struct ts_storyboard * sb = calloc(1, sizeof *sb);
    if (ts_storyboard_load(path, 48, sb) == TS_OK) {
        int a[48], b[48];
        float alpha[48];
        ts_storyboard_frames(sb, 4, 0, 48, a, b, alpha);
        for (int f = 0; f < 48; f++)
            if (a[f] < 0 || a[f] >= sb->n || (alpha[f] > 0 && (b[f] < 0 || b[f] >= sb->n))) abort();
        ts_storyboard_free(sb);
    }
    free(sb);
    close(fd);
    return 0;
}
