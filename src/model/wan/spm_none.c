// Stubs for builds without SentencePiece (-DTS_SENTENCEPIECE=OFF): loading a Wan
// tokenizer fails with a clear error, so the rest of the engine links and runs.
#include <stdio.h>

#include "model/wan/spm_shim.h"

static int no_spm(ts_spm ** out, char * err, size_t err_n) {
    *out = NULL;
    if (err && err_n)
        snprintf(err, err_n,
                 "timeshard was built without SentencePiece (rebuild with -DTS_SENTENCEPIECE=ON after "
                 "apt-get install libsentencepiece-dev)");
    return -1;
}

int ts_spm_load_file(const char * path, ts_spm ** out, char * err, size_t err_n) { return no_spm(out, err, err_n); }
int ts_spm_load_bytes(const void * data, size_t n, ts_spm ** out, char * err, size_t err_n) {
    return no_spm(out, err, err_n);
}
void ts_spm_free(ts_spm ** s) {
    if (s) *s = NULL;
}
// Never reached: no model can be loaded.
int ts_spm_encode(const ts_spm * s, const char * text, size_t len, int32_t ** ids, uint32_t ** offsets, int * n,
                  char * err, size_t err_n) {
    return -1;
}
int ts_spm_vocab_size(const ts_spm * s) { return 0; }
int ts_spm_piece_id(const ts_spm * s, const char * piece) { return -1; }
int ts_spm_eos_id(const ts_spm * s) { return -1; }
int ts_spm_pad_id(const ts_spm * s) { return -1; }
int ts_spm_unk_id(const ts_spm * s) { return -1; }
int ts_spm_bos_id(const ts_spm * s) { return -1; }
const char * ts_spm_piece(const ts_spm * s, int id, float * score, int * normal) { return ""; }
