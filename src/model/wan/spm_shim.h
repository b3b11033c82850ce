// A C interface to SentencePiece (libsentencepiece's SentencePieceProcessor),
// implemented by the C++ shim spm_shim.cc; only the Wan tokenizer uses it.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_spm ts_spm;  // a loaded SentencePiece model

// Load from a .model file, or from a serialized ModelProto (bytes copied).
// 0 on success; else -1 with SentencePiece's message in err.
int ts_spm_load_file(const char * path, ts_spm ** out, char * err, size_t err_n);
int ts_spm_load_bytes(const void * data, size_t n, ts_spm ** out, char * err, size_t err_n);
void ts_spm_free(ts_spm ** s);  // sets *s to NULL

// Encodes len bytes of UTF-8 text (no special tokens added). *ids (and, when
// offsets is not NULL, *offsets: 2 per piece, [begin, end) byte offsets into
// the text) are malloc'd arrays of *n entries owned by the caller. 0 on
// success; -1 with the message in err.
int ts_spm_encode(const ts_spm * s, const char * text, size_t len, int32_t ** ids, uint32_t ** offsets, int * n,
                  char * err, size_t err_n);

int ts_spm_vocab_size(const ts_spm * s);                    // pieces in the model
int ts_spm_piece_id(const ts_spm * s, const char * piece);  // id, or the unk id when absent
int ts_spm_eos_id(const ts_spm * s);                        // -1 when the model has none
int ts_spm_pad_id(const ts_spm * s);
int ts_spm_unk_id(const ts_spm * s);
int ts_spm_bos_id(const ts_spm * s);
// Piece `id`'s text (owned by s) and score; *normal is 1 for a piece text can
// produce (not control, unknown, unused or byte).
const char * ts_spm_piece(const ts_spm * s, int id, float * score, int * normal);

#ifdef __cplusplus
}
#endif
