#!/usr/bin/env python3
"""The seed of fuzz_tokenizer_json: a tokenizer.json as transformers'
save_pretrained writes it, for a tiny SentencePiece unigram model (43 pieces,
three normalization rules, so its precompiled charsmap is 1 KB, not NFKC's
240 KB). Deterministic; nothing is downloaded.

    python tests/fuzz/make_tokenizer_json_seed.py tests/fuzz/corpus/tokenizer_json/seed-unigram-charsmap.json
"""
import io
import os
import shutil
import sys
import tempfile

import sentencepiece as spm
from transformers import AutoTokenizer

TEXT = ["a cat runs across a green field at sunset", "a dog jumps over the fence",
        "\u4e00\u53ea\u732b\u5728\u8349\u5730\u4e0a\u5954\u8dd1", "caf\u00e9 na\u00efve fa\u00e7ade",
        "the sun the moon the stars"] * 20
RULES = "41\t61\n3000\t20\nFF21\t61\n"  # A -> a, ideographic space -> space, fullwidth A -> a


def main(out):
    d = tempfile.mkdtemp()
    try:
        with open(os.path.join(d, "rules.tsv"), "w") as f:
            f.write(RULES)
        m = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(TEXT), model_writer=m, vocab_size=60,
                                       model_type="unigram", normalization_rule_tsv=os.path.join(d, "rules.tsv"),
                                       pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
                                       hard_vocab_limit=False, num_threads=1, minloglevel=2)
        src = os.path.join(d, "src")
        os.makedirs(src)
        with open(os.path.join(src, "spiece.model"), "wb") as f:
            f.write(m.getvalue())
        with open(os.path.join(src, "tokenizer_config.json"), "w") as f:
            f.write('{"tokenizer_class": "T5Tokenizer", "extra_ids": 3, "model_max_length": 512}\n')
        AutoTokenizer.from_pretrained(src).save_pretrained(os.path.join(d, "out"))
        shutil.copy(os.path.join(d, "out", "tokenizer.json"), out)
    finally:
        shutil.rmtree(d)
    print(f"{out}: {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
