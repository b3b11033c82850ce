// umT5's encoder (Wan2.1's text encoder, transformers' UMT5EncoderModel) on the CPU:
// weights memory-mapped in their stored dtype (F32, F16, BF16), converted to float32
// a few matrices at a time while encoding (q|k|v, o, wi_0|wi_1, wo: at most 2 d_ff
// d_model floats, 335 MB for umT5-XXL), each tensor's mapped pages dropped once
// converted; nothing stays converted between calls; ts_umt5_free unmaps it all.
//
//   ts_umt5_t enc;
//   TS_TRY(ts_umt5_load("Wan2.1-T2V-1.3B-Diffusers/text_encoder", NULL, &enc));
//   float * text = malloc(sizeof(float) * TS_WAN_TEXT_LEN * ts_umt5_dim(enc));
//   TS_TRY(ts_umt5_encode(enc, tokens.ids, tokens.n_valid, tokens.weight, text));
//   ts_umt5_free(&enc);   // the encoder runs once per prompt: free it before sampling
//
// The model: token embedding (no scaling); per layer x += O(Attn(RMSNorm1(x))),
// x += Wo(gelu_tanh(Wi0 h) * Wi1 h) with h = RMSNorm2(x); a final RMSNorm.
// RMSNorm: x / sqrt(mean(x^2) + eps) * w, eps 1e-6 (no mean, no bias). Attention:
// logits q.k (no 1/sqrt(d) scaling) plus a relative position bias that every layer
// has its own of (32 buckets, bidirectional, max distance 128), keys past n_valid
// masked. As WanPipeline does, rows past n_valid are zero in the output.
//
// Layouts read (one name table each, chosen by the names present):
// - transformers: `shared.weight` (or `encoder.embed_tokens.weight`),
//   `encoder.block.N.layer.0.SelfAttention.{q,k,v,o,relative_attention_bias}.weight`,
//   `encoder.block.N.layer.0.layer_norm.weight`,
//   `encoder.block.N.layer.1.DenseReluDense.{wi_0,wi_1,wo}.weight`,
//   `encoder.block.N.layer.1.layer_norm.weight`, `encoder.final_layer_norm.weight`:
//   a text_encoder/ directory (config.json + model.safetensors or
//   model.safetensors.index.json and its shards) or one such file (ComfyUI's
//   repackaged umt5_xxl_fp16.safetensors uses these names; the sizes are then read off
//   the tensors' shapes);
// - Wan's original: `token_embedding.weight`, `blocks.N.norm1.weight`,
//   `blocks.N.attn.{q,k,v,o}.weight`, `blocks.N.pos_embedding.embedding.weight`,
//   `blocks.N.norm2.weight`, `blocks.N.ffn.{gate.0,fc1,fc2}.weight`, `norm.weight`
//   (ffn.gate.0 is wi_0, fc1 wi_1, fc2 wo), one file.
// Tensors of other dtypes that are not weights (a U8 `spiece_model`) are kept as
// bytes; fp8 files (e.g. umt5_xxl_fp8_e4m3fn_scaled.safetensors) are refused with a hint.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "timeshard/timeshard.h"

typedef struct ts_umt5 * ts_umt5_t;

struct ts_umt5_config {
    int vocab;         // rows of the token embedding (256384 for umT5-XXL)
    int d_model;       // 4096
    int d_kv;          // per head (64); inner width heads * d_kv
    int heads;         // 64
    int d_ff;          // 10240
    int layers;        // 24
    int buckets;       // relative attention buckets, 32
    int max_distance;  // 128
    double eps;        // 1e-6
};

// Loads the names, shapes and config (nothing is converted yet). path: a directory
// (config.json + safetensors, sharded or not) or one .safetensors file. be: the CPU
// backend whose GEMM to use, or NULL for a private one with all cores (only the CPU
// is supported: another backend is TS_ERR_ARG). Missing tensors, misshapen ones,
// unsupported dtypes and a non-gated feed-forward are one clear error each.
enum ts_status ts_umt5_load(const char * path, ts_backend_t be, ts_umt5_t * out);
void ts_umt5_free(ts_umt5_t * enc);  // unmaps everything; sets *enc to NULL
const struct ts_umt5_config * ts_umt5_config(const ts_umt5_t enc);
// ComfyUI's single files carry the tokenizer as a U8 tensor `spiece_model` (a
// serialized SentencePiece model): 1 and its bytes (valid until ts_umt5_free) when
// this one does (hand them to ts_wan_tokenizer_load_bytes), else 0.
int ts_umt5_spiece(const ts_umt5_t enc, const void ** data, size_t * n);
int ts_umt5_dim(const ts_umt5_t enc);  // d_model

// Encodes one prompt. ids (n_valid): token ids (tokenizer.h: pieces then </s>),
// 1 <= n_valid <= 512. weight (n_valid) or NULL: a prompt weight per token, added
// as log(w) to the attention logits of that token's key in every layer (w > 0;
// all 1 gives the reference). out (512, d_model) float32: rows < n_valid the
// encoder's last hidden state, rows >= n_valid zero. An id outside the
// vocabulary is TS_ERR_ARG.
enum ts_status ts_umt5_encode(ts_umt5_t enc, const int32_t * ids, int n_valid, const float * weight, float * out);

// Several prompts at once (the prompt and the negative prompt, a storyboard's
// segments): each layer is converted once for all of them. Each prompt's output
// is bit-identical to its own ts_umt5_encode (a GEMM row does not depend on the
// other rows; attention stays within a prompt).
struct ts_umt5_prompt {
    const int32_t * ids;   // (n_valid)
    int n_valid;           // 1..512
    const float * weight;  // (n_valid) or NULL
    float * out;           // (512, d_model), written
};
enum ts_status ts_umt5_encode_batch(ts_umt5_t enc, const struct ts_umt5_prompt * prompts, int n_prompts);
