// timeshard: long video generation with a latent video diffusion transformer
// whose frames are spread over many ranks (MPI on CPUs, NCCL on GPUs).
//
// Usage (one process; under mpirun every rank runs the same code):
//
//     struct ts_gen_params gp;
//     ts_gen_params_init(&gp);
//     gp.prompt = "a red circle moving left on a blue background";
//     gp.frames = 32;
//     gp.out_path = "out.mp4";
//     ts_ctx_t ctx = NULL;
//     if (ts_ctx_new(NULL /* default model */, NULL, &ctx) != TS_OK ||
//         ts_generate(ctx, &gp) != TS_OK)
//         fprintf(stderr, "error: %s\n", ts_last_error());
//     ts_ctx_free(&ctx);
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_VERSION "0.1.0"

// What a call returns. Anything but TS_OK comes with ts_last_error() and
// usually ts_last_hint().
enum ts_status {
    TS_OK = 0,
    TS_ERR_ARG,          // bad flag or parameter value
    TS_ERR_IO,           // file missing, unreadable or unwritable
    TS_ERR_FORMAT,       // file present but malformed or inconsistent
    TS_ERR_MODEL,        // weights do not match the model config
    TS_ERR_DIST,         // distributed setup or another rank failed
    TS_ERR_INTERRUPTED,  // stopped by a signal after writing a checkpoint
    TS_ERR_COUNT
};
const char * ts_status_name(enum ts_status st);
const char * ts_last_error(void);  // "" when none
const char * ts_last_hint(void);   // "" when none

#ifdef __cplusplus
}
#endif
