// Fuzz target: a weights file (HDF5 with /config attributes, /vocab and
// /tensors/<name>, or safetensors with config and vocab in __metadata__) through
// ts_weights_open and what the model loaders read from it: config values of
// every type, the vocabulary, every tensor's shape and (when small) its values.
#include "fuzz.h"
#include "io/weights.h"  // ts_weights_open, ts_weights_read

static const char * const keys[] = {"depth",      "dim",      "heads",       "image_size", "patch", "frames",
                                    "vocab_size", "channels", "default_cfg", "shift",      "name",  "window"};

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    ts_weights * w = NULL;
    if (ts_weights_open(path, &w) == TS_OK) {
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            int64_t iv;
            double dv;
            char buf[64];
            (void)ts_weights_config_has(w, keys[k]);
            (void)ts_weights_config_int(w, keys[k], &iv);
            (void)ts_weights_config_float(w, keys[k], &dv);
            (void)ts_weights_config_str(w, keys[k], buf, sizeof buf);
        }
        const char * const * words;
        int n_words;
        if (ts_weights_vocab(w, &words, &n_words) == TS_OK)
            for (int i = 0; i < n_words; i++) (void)strlen(words[i]);
        for (int i = 0; i < ts_weights_count(w); i++) {
            int ndim = 0;
            int64_t shape[TS_WEIGHTS_MAX_DIMS] = {0};
            const char * name = ts_weights_name(w, i, &ndim, shape, NULL);
            if (!name || ndim < 0 || ndim > TS_WEIGHTS_MAX_DIMS) continue;
            int64_t numel = 1;
            for (int d = 0; d < ndim; d++) numel = shape[d] > 0 && numel <= (1 << 16) ? numel * shape[d] : (1 << 17);
            if (!ts_weights_has(w, name)) abort();
            if (numel > (1 << 16)) continue;
            float * dst = malloc((size_t)(numel ? numel : 1) * sizeof(float));
            (void)ts_weights_read(w, name, ndim, shape, dst);
            free(dst);
        }
        ts_weights_close(&w);
    }
    close(fd);
    return 0;
}
