// The C shim over sentencepiece::SentencePieceProcessor (spm_shim.h): load,
// encode with byte offsets, special ids. No exception crosses into C.
#include "model/wan/spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

struct ts_spm {
    sentencepiece::SentencePieceProcessor proc;
};

static void set_err(char * err, size_t n, const std::string & msg) {
    if (err && n) std::snprintf(err, n, "%s", msg.c_str());
}

static int finish_load(ts_spm * s, const sentencepiece::util::Status & st, ts_spm ** out, char * err, size_t n) {
    if (!st.ok()) {
        set_err(err, n, st.ToString());
        delete s;
        return -1;
    }
    *out = s;
    return 0;
}

extern "C" int ts_spm_load_file(const char * path, ts_spm ** out, char * err, size_t err_n) {
    *out = nullptr;
    try {
        ts_spm * s = new ts_spm;
        return finish_load(s, s->proc.Load(path), out, err, err_n);
    } catch (const std::exception & e) {
        set_err(err, err_n, e.what());
        return -1;
    }
}

extern "C" int ts_spm_load_bytes(const void * data, size_t n, ts_spm ** out, char * err, size_t err_n) {
    *out = nullptr;
    try {
        ts_spm * s = new ts_spm;
        std::string blob(static_cast<const char *>(data), n);
        return finish_load(s, s->proc.LoadFromSerializedProto(blob), out, err, err_n);
    } catch (const std::exception & e) {
        set_err(err, err_n, e.what());
        return -1;
    }
}

extern "C" void ts_spm_free(ts_spm ** s) {
    if (!s) return;
    delete *s;
    *s = nullptr;
}

extern "C" int ts_spm_encode(const ts_spm * s, const char * text, size_t len, int32_t ** ids, uint32_t ** offsets,
                             int * n, char * err, size_t err_n) {
    *ids = nullptr;
    if (offsets) *offsets = nullptr;
    *n = 0;
    try {
        sentencepiece::ImmutableSentencePieceText spt;
        auto st = s->proc.Encode(absl::string_view(text, len), spt.mutable_proto());
        if (!st.ok()) {
            set_err(err, err_n, st.ToString());
            return -1;
        }
        size_t m = spt.pieces_size();
        int32_t * out_ids = static_cast<int32_t *>(std::malloc((m ? m : 1) * sizeof(int32_t)));
        uint32_t * out_off =
            offsets ? static_cast<uint32_t *>(std::malloc((m ? m : 1) * 2 * sizeof(uint32_t))) : nullptr;
        if (!out_ids || (offsets && !out_off)) {
            std::free(out_ids);
            std::free(out_off);
            set_err(err, err_n, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < m; i++) {
            auto p = spt.pieces(static_cast<int>(i));
            out_ids[i] = static_cast<int32_t>(p.id());
            if (out_off) {
                out_off[2 * i] = p.begin();
                out_off[2 * i + 1] = p.end();
            }
        }
        *ids = out_ids;
        if (offsets) *offsets = out_off;
        *n = static_cast<int>(m);
        return 0;
    } catch (const std::exception & e) {
        set_err(err, err_n, e.what());
        return -1;
    }
}

extern "C" int ts_spm_vocab_size(const ts_spm * s) { return s->proc.GetPieceSize(); }
extern "C" int ts_spm_piece_id(const ts_spm * s, const char * piece) { return s->proc.PieceToId(piece); }
extern "C" int ts_spm_eos_id(const ts_spm * s) { return s->proc.eos_id(); }
extern "C" int ts_spm_pad_id(const ts_spm * s) { return s->proc.pad_id(); }
extern "C" int ts_spm_unk_id(const ts_spm * s) { return s->proc.unk_id(); }
extern "C" int ts_spm_bos_id(const ts_spm * s) { return s->proc.bos_id(); }
extern "C" const char * ts_spm_piece(const ts_spm * s, int id, float * score, int * normal) {
    *score = s->proc.GetScore(id);
    *normal = !(s->proc.IsControl(id) || s->proc.IsUnknown(id) || s->proc.IsUnused(id) || s->proc.IsByte(id));
    return s->proc.IdToPiece(id).c_str();
}
