#!/usr/bin/env python3
"""Builds a tiny random Wan2.1 text-to-video pipeline with diffusers and saves it
with WanPipeline.save_pretrained, as users download one (model_index.json,
transformer/, text_encoder/, tokenizer/, vae/, scheduler/), for the end-to-end
test (tests/e2e/test_wan.sh).

- transformer: WanTransformer3DModel, 2 layers, 2 heads of 16 (dim 32), ffn 64,
  text_dim 32, patch (1, 2, 2), 16 latent channels;
- text_encoder: transformers' UMT5EncoderModel, d_model 32, 2 layers, 2 heads of 16;
- tokenizer: a SentencePiece unigram model trained here on a small corpus, loaded
  as transformers' T5Tokenizer (extra_ids 300, as umT5), saved by the pipeline
  (tokenizer.json) with spiece.model copied beside it;
- vae: AutoencoderKLWan of the real topology (dim_mult [1, 2, 4, 4], 2 res blocks,
  temporal downsampling [False, True, True], z_dim 16, Wan2.1's latents_mean/std)
  with base_dim 8;
- scheduler: UniPCMultistepScheduler as the Wan2.1 Diffusers repos configure it
  (flow_prediction, use_flow_sigmas, flow_shift 3.0).
Weights stored in bf16 (run_pipeline.py loads them as float32). Needs torch, diffusers, transformers,
sentencepiece; with HF_HUB_OFFLINE=1 nothing is downloaded.

    HF_HUB_OFFLINE=1 venv/bin/python tools/wan/make_pipeline.py tests/fixtures/wan_pipe

--size 1.3B writes a Wan2.1-T2V-1.3B-shaped pipeline instead, for timing and
memory (never committed: 3.6 GB): the transformer and the VAE at their real
sizes (dim 1536, 30 layers, ffn 8960; VAE base_dim 96), the text encoder
reduced to 2 of umT5-XXL's 24 layers at its real width (d_model 4096, 64 heads,
d_ff 10240), the same small tokenizer. About 9 GB of memory while it builds.
"""
import argparse
import os
import random
import shutil
import tempfile

import torch

WORDS = ("a cat dog bird fish horse red blue green yellow black white small big old young runs walks flies "
         "swims jumps across over under the field river forest city street sky sea mountain at night in "
         "morning sunset rain snow slowly quickly camera pans zooms close up wide shot of with and two three "
         "people car train boat light shadow water fire tree flower house window door").split()


def corpus(rng, n=3000):
    lines = []
    for _ in range(n):
        k = rng.randint(3, 14)
        s = " ".join(rng.choice(WORDS) for _ in range(k))
        if rng.random() < 0.3:
            s = s.capitalize() + rng.choice([".", ",", "!", "?", ""])
        if rng.random() < 0.1:
            s += " " + str(rng.randint(0, 99))
        lines.append(s)
    return lines


def make_tokenizer(out_dir):
    import sentencepiece as spm
    from transformers import AutoTokenizer
    tmp = tempfile.mkdtemp()
    try:
        with open(os.path.join(tmp, "corpus.txt"), "w") as f:
            f.write("\n".join(corpus(random.Random(20261202))))
        spm.SentencePieceTrainer.train(input=os.path.join(tmp, "corpus.txt"), model_prefix=os.path.join(tmp, "spiece"),
                                       vocab_size=200, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                       character_coverage=1.0, minloglevel=2, num_threads=1)
        tdir = os.path.join(tmp, "tok")
        os.makedirs(tdir)
        shutil.copy(os.path.join(tmp, "spiece.model"), tdir)
        with open(os.path.join(tdir, "tokenizer_config.json"), "w") as f:
            f.write('{"tokenizer_class": "T5Tokenizer", "extra_ids": 300, "model_max_length": 512}\n')
        tok = AutoTokenizer.from_pretrained(tdir)
        with open(os.path.join(tmp, "spiece.model"), "rb") as f:
            spiece = f.read()
    finally:
        shutil.rmtree(tmp)
    return tok, spiece


def bf16_values(module, seed, gain_names=()):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("gamma") or any(g in name for g in gain_names):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            elif "scale_shift_table" in name:
                p.copy_(0.1 * torch.randn_like(p))
            elif p.dim() >= 2:
                p.copy_(torch.randn_like(p) / max(1.0, p.shape[-1] if p.dim() == 2 else p[0].numel()) ** 0.5)
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    return module.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="directory to write (replaced)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--size", choices=["tiny", "1.3B"], default="tiny")
    args = ap.parse_args()
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tok, spiece = make_tokenizer(args.out)
    torch.manual_seed(args.seed)
    big = args.size == "1.3B"
    dm, nh, dff = (4096, 64, 10240) if big else (32, 2, 64)
    te = UMT5EncoderModel(UMT5Config(vocab_size=len(tok), d_model=dm, num_heads=nh, d_kv=dm // nh, d_ff=dff, num_layers=2,
                                     relative_attention_num_buckets=32, relative_attention_max_distance=128,
                                     feed_forward_proj="gated-gelu", dense_act_fn="gelu_new", is_gated_act=True))
    te = bf16_values(te, args.seed + 1, gain_names=("layer_norm",))
    heads, hd, ffn, layers = (12, 128, 8960, 30) if big else (2, 16, 64, 2)
    tr = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=hd, in_channels=16,
                               out_channels=16, text_dim=dm, freq_dim=256, ffn_dim=ffn, num_layers=layers,
                               cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None,
                               added_kv_proj_dim=None, rope_max_seq_len=1024)
    tr = bf16_values(tr, args.seed + 2, gain_names=("norm_q", "norm_k", "norm2"))
    vae = AutoencoderKLWan(base_dim=96 if big else 8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                           temperal_downsample=[False, True, True])
    vae = bf16_values(vae, args.seed + 3)
    sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000,
                                    flow_shift=3.0)
    # stored in bf16 (the values are bf16 values): small files; the reference loads them as float32
    pipe = WanPipeline(tokenizer=tok, text_encoder=te.to(torch.bfloat16), vae=vae.to(torch.bfloat16), scheduler=sched,
                       transformer=tr.to(torch.bfloat16))
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    pipe.save_pretrained(args.out, safe_serialization=True)
    with open(os.path.join(args.out, "tokenizer", "spiece.model"), "wb") as f:
        f.write(spiece)
    total = 0
    for root, _, files in os.walk(args.out):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print(f"{args.out}: {total / 1e6:.2f} MB; transformer {sum(p.numel() for p in tr.parameters())} parameters, "
          f"text encoder {sum(p.numel() for p in te.parameters())}, vae {sum(p.numel() for p in vae.parameters())}, "
          f"vocab {len(tok)}")


if __name__ == "__main__":
    main()
