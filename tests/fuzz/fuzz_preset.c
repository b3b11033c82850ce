// Fuzz target: run presets and config files (`key = value` lines, quotes,
// comments) through ts_kv_parse_file.
#include "fuzz.h"

static enum ts_status on_kv(void * ud, const char * key, const char * value, const char * file, int line) {
    size_t * total = ud;
    *total += strlen(key) + strlen(value) + strlen(file) + (size_t)line;
    return key[0] == 'x' && value[0] == 'x' ? ts_error(TS_ERR_ARG, NULL, "%s:%d: refused", file, line) : TS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    fuzz_quiet();
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    size_t total = 0;
    (void)ts_kv_parse_file(path, on_kv, &total);
    close(fd);
    return 0;
}
