// Wan2.1's prompt tokenizer: WanPipeline's prompt cleaning, then umT5's
// SentencePiece unigram model (through libsentencepiece), `</s>` appended,
// truncated and padded to 512 tokens, as transformers' AutoTokenizer does it.
//
//   ts_wan_tokenizer_t tok;
//   TS_TRY(ts_wan_tokenizer_load("Wan2.1-T2V-1.3B-Diffusers/tokenizer", &tok));
//   struct ts_wan_tokens t;
//   TS_TRY(ts_wan_tokenize(tok, "a cat runs::1.5 across a field", &t));
//   ... ts_umt5_encode(enc, t.ids, t.n_valid, t.weight, out) ...
//   ts_wan_tokenizer_free(&tok);
//
// Cleaning (diffusers' prompt_clean = whitespace_clean(basic_clean(text))):
// basic_clean runs ftfy.fix_text, html.unescape twice and strip. Done here:
// html.unescape exactly (HTML5 entities, numeric references and their invalid
// cases), Python's str.strip and diffusers' regex.sub(r"\s+", " ") with their
// Unicode whitespace sets, and these steps of ftfy.fix_text (run per line until nothing
// changes, as ftfy does): its HTML unescaping (entities ending in ';', its
// upper-case names; off from the first line holding '<'), C1 controls read as
// Windows-1252, Latin ligatures split, halfwidth and fullwidth forms made normal
// width, curly quotes made straight, ANSI terminal escapes and its control
// characters removed. ftfy's NFC step is not done here because SentencePiece's
// NFKC normalizer does the same to the pieces (the cleaned text differs, the ids
// do not; checked on every test prompt). ftfy's mojibake repair (fix_encoding:
// text that was decoded with the wrong codec, e.g. "cafÃ©") is NOT done: such
// prompts tokenize as if ftfy had run with fix_encoding off (tests/wan_text:
// category ftfy_repair).
//
// Segmentation: SentencePiece normalizes the text (the model's precompiled
// charsmap) and splits it into words; each word's pieces are then chosen by
// the unigram lattice exactly as the tokenizers library does it, because
// SentencePiece 0.1.97 and tokenizers break ties between equal-score paths
// (the same pieces in another order) differently.
//
// Unknown text: transformers 5's T5Tokenizer (what AutoTokenizer builds for a
// Wan tokenizer/) makes its unigram model with unk_id 2 and no byte fallback,
// whatever the SentencePiece model says, so text no piece covers becomes id 2
// (in umT5 that is <s>; its <unk> is 3), consecutive such characters one id.
// Reproduced here for the T5Tokenizer class (tokenizer_config.json naming it or
// none); another class named there gets the model's own <unk>.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "timeshard/timeshard.h"  // enum ts_status

#define TS_WAN_TEXT_LEN 512  // tokens per prompt (umT5's text_len in Wan2.1)

typedef struct ts_wan_tokenizer * ts_wan_tokenizer_t;

// Loads from a tokenizer directory (spiece.model, else tokenizer.json; an
// optional tokenizer_config.json gives extra_ids, default 100, as T5Tokenizer,
// and its added_tokens_decoder's special (or not normalized) tokens, e.g. umT5's <s>),
// or from a file: a SentencePiece .model or a tokenizer.json (its Unigram model,
// scores and precompiled charsmap are turned into a SentencePiece model in
// memory; its special and not-normalized added tokens split the text). A
// directory with neither,
// a non-Unigram tokenizer.json or an unreadable model: one TS_ERR_IO /
// TS_ERR_FORMAT error with a hint.
enum ts_status ts_wan_tokenizer_load(const char * path, ts_wan_tokenizer_t * out);
// From a serialized SentencePiece model in memory (bytes copied): ComfyUI's
// single-file umT5 carries one (ts_umt5_spiece). Special tokens: the model's
// <pad>, </s>, <s>, <unk> and extra_ids sentinels <extra_id_N> past its pieces
// (umT5's tokenizer_config.json says 300). `what` names the source in errors.
enum ts_status ts_wan_tokenizer_load_bytes(const void * data, size_t n, int extra_ids, const char * what,
                                           ts_wan_tokenizer_t * out);
void ts_wan_tokenizer_free(ts_wan_tokenizer_t * tok);  // sets *tok to NULL
// Ids in the model: SentencePiece's pieces plus the special tokens past them.
int ts_wan_tokenizer_vocab_size(const ts_wan_tokenizer_t tok);
// The text of id's piece (SentencePiece's, with its U+2581 word marks) or special token
// (e.g. "</s>", "<extra_id_0>"), owned by tok; "" for an id the model does not have.
const char * ts_wan_tokenizer_piece(const ts_wan_tokenizer_t tok, int id);
// The id written for text no piece covers (see the header comment: 2 for T5Tokenizer).
int ts_wan_tokenizer_unknown_id(const ts_wan_tokenizer_t tok);

// The cleaned prompt (diffusers' prompt_clean, as described above), malloc'd,
// owned by the caller. Text that is not valid UTF-8: TS_ERR_ARG.
enum ts_status ts_wan_prompt_clean(const char * text, char ** out);

struct ts_wan_tokens {
    int32_t ids[TS_WAN_TEXT_LEN];   // pieces, then </s>, then <pad> (id 0)
    uint8_t mask[TS_WAN_TEXT_LEN];  // 1 for the n_valid first, 0 after
    float weight[TS_WAN_TEXT_LEN];  // prompt weight per token (1 unless given; 1 on padding)
    int n_valid;                    // pieces kept + 1 (</s>), 1..512
    int n_pieces;                   // pieces before truncation (without </s>)
    int truncated;                  // 1 when n_pieces > 511: the rest was dropped
    int weighted;                   // 1 when the prompt held weight syntax
};

// Cleans and tokenizes `text` like AutoTokenizer(prompt_clean(text),
// padding="max_length", max_length=512, truncation=True): the first 511 pieces
// and </s>. Truncation is logged as a warning. Special tokens written in the text
// (`</s>`, `<pad>`, `<unk>`, `<s>` where the model has it, `<extra_id_N>`) are
// those tokens, as in transformers.
//
// Prompt weights: `word::1.5` (the run of non-space characters before `::`) or
// `(several words)::0.7` give those words' pieces that weight (0 < w <= 10,
// and not 0 once rounded to float); stacked weights multiply, as in
// `((a cat)::2 runs)::3`, and their product must stay a normal float (about
// 1e-38 to 3e38); the syntax is removed before tokenizing. A piece that straddles a weighted
// span's edge gets the weight of its first character. Text without a `::`
// followed by a number tokenizes exactly as the reference (all weights 1);
// other `::` and parentheses are plain text. A weight or product out of range: TS_ERR_ARG.
enum ts_status ts_wan_tokenize(const ts_wan_tokenizer_t tok, const char * text, struct ts_wan_tokens * out);
