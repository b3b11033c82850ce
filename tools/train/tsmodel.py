"""The PyTorch reference of timeshard's model family: word tokenizer, text
encoder, ST-DiT and per-frame VAE. This module is both the training model and
the reference the C engine is tested against: every op here has a C twin in
src/backend (same layouts, same math), and the state-dict names are the
tensor names of the HDF5 weights file.

Layouts: video latents (B, T, h, w, c), time-major; DiT activations
(B, T, N, D). Linear weights (out, in) as PyTorch keeps them.
"""
import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_CONFIG = dict(
    # text
    text_len=24, text_dim=128, text_layers=2, text_heads=4,
    # video / VAE
    image_size=64, vae_factor=4, latent_channels=4, vae_channels="32,64,128", vae_groups=8, vae_scale=1.0,
    # DiT
    patch=2, width=256, depth=6, heads=4, mlp_ratio=4, temporal_window=3, causal=0,
    rope_theta=10000.0, freq_dim=256,
    # sampler defaults
    shift=2.0, default_steps=20, default_cfg=4.0, fps=12.0, train_frames=16,
    # per-frame motion controls (docs/controls.md): 0 none, CONTROL_DIM = the DiT embeds them
    controls=0,
)
CONTROL_DIM = 14
# the control vector's groups: (first index, width), each its values then its flag; size is the
# radius the engine plans where a growth holds (tools/physics.py control_vectors), dropped with it
CONTROL_GROUPS = dict(path=(0, 3), motion=(3, 3), gravity=(6, 2), bounce=(8, 2), growth=(10, 2))
SIZE_GROUP = (12, 2)
CONTROL_FLAGS = [s + w - 1 for s, w in CONTROL_GROUPS.values()]  # each group's "given" flag (its last value)
EPS = 1e-6
# the path hint (path_hint): per token, the commanded centre's offset (dx, dy) from the token's
# centre, a Gaussian bump of it, and one as wide as the planned size, in the control vector's
# units (the frame spans -1..1)
PATH_HINT_DIM = 4
PATH_HINT_SIGMA = 0.25
PATH_HINT_SIZE_MIN = 0.01  # the size bump's width is never below this


def path_hint(controls, gh, gw):
    """(B, T, 14) control vectors -> (B, T, gh*gw, 4) per-token features of the path's centre:
    dx = (cx - px) * flag, dy = (cy - py) * flag, bump = exp(-(dx^2 + dy^2) / (2 sigma^2)) * flag,
    size = exp(-(dx^2 + dy^2) / (2 max(s, PATH_HINT_SIZE_MIN)^2)) * flag * sflag (s, sflag the size
    group), (px, py) the token's centre ((j + 0.5) / gw * 2 - 1, likewise rows), tokens row-major; all
    zero for a frame without a path (flag 0). float32; the engine computes the same
    (src/model/stdit/dit.c path_hint)."""
    dev, dt = controls.device, controls.dtype
    py = ((torch.arange(gh, dtype=torch.float32) + 0.5) / gh * 2 - 1).to(dev, dt)
    px = ((torch.arange(gw, dtype=torch.float32) + 0.5) / gw * 2 - 1).to(dev, dt)
    py = py[:, None].expand(gh, gw).reshape(-1)
    px = px[None, :].expand(gh, gw).reshape(-1)
    cx, cy, flag = controls[..., 0:1], controls[..., 1:2], controls[..., 2:3]  # (B, T, 1)
    dx = (cx - px) * flag
    dy = (cy - py) * flag
    d2 = dx * dx + dy * dy
    bump = torch.exp(-d2 / (2 * PATH_HINT_SIGMA * PATH_HINT_SIGMA)) * flag
    s0 = SIZE_GROUP[0]
    sz = controls[..., s0:s0 + 1].clamp_min(PATH_HINT_SIZE_MIN)
    size = torch.exp(-d2 / (2 * sz * sz)) * (flag * controls[..., s0 + 1:s0 + 2])
    return torch.stack([dx, dy, bump, size], dim=-1)


# ---- tokenizer ------------------------------------------------------------------
def split_words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def tokenize(text, vocab_index, L):
    """[<bos>, words...] padded with <pad> to L; returns ids, n_valid, unknown words."""
    ids = [1]
    unknown = []
    for w in split_words(text):
        if w in vocab_index:
            ids.append(vocab_index[w])
        else:
            ids.append(2)
            unknown.append(w)
    ids = ids[:L]
    n = len(ids)
    return ids + [0] * (L - n), n, unknown


# ---- shared pieces --------------------------------------------------------------
def rope_angles_1d(pos, pairs, theta):
    """(len(pos), pairs) angles: pos * theta^(-i/pairs)."""
    i = torch.arange(pairs, dtype=torch.float64)
    freq = theta ** (-i / pairs)
    return pos.to(torch.float64)[:, None] * freq[None, :]


def rope_tables_2d(gh, gw, hd, theta):
    """(gh*gw, hd/2) cos and sin: first hd/4 pairs rotate by row, last hd/4 by column."""
    q = hd // 4
    ys = torch.arange(gh).repeat_interleave(gw)
    xs = torch.arange(gw).repeat(gh)
    ang = torch.cat([rope_angles_1d(ys, q, theta), rope_angles_1d(xs, q, theta)], dim=1)
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope_tables_1d(pos, hd, theta):
    ang = rope_angles_1d(pos, hd // 2, theta)
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x (..., S, H, hd) with cos/sin (S, hd/2); interleaved pairs (x[2i], x[2i+1])."""
    xs = x.float().unflatten(-1, (-1, 2))
    x0, x1 = xs[..., 0], xs[..., 1]
    c = cos[:, None, :]
    s = sin[:, None, :]
    out = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)
    return out.to(x.dtype)


def attention(q, k, v, mask=None):
    """q (..., Sq, H, hd), k/v (..., Sk, H, hd); mask broadcastable to (..., H, Sq, Sk), True = attend."""
    q, k, v = (t.transpose(-3, -2) for t in (q, k, v))
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return o.transpose(-3, -2)


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


def timestep_embedding(t, dim):
    """Sinusoidal embedding of t * 1000 (t in [0, 1]): [cos, sin] of half = dim/2 frequencies."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = (t.float() * 1000.0)[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class MLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


# ---- text encoder ---------------------------------------------------------------
class TextLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d, eps=EPS)
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=EPS)
        self.mlp = MLP(d, 4 * d)

    def forward(self, x, key_mask):
        B, L, D = x.shape
        h = self.ln1(x)
        q = self.q(h).view(B, L, self.heads, -1)
        k, v = self.kv(h).view(B, L, 2, self.heads, -1).unbind(2)
        x = x + self.proj(attention(q, k, v, key_mask[:, None, None, :]).reshape(B, L, D))
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    def __init__(self, cfg, vocab_size):
        super().__init__()
        d = cfg["text_dim"]
        self.tok_emb = nn.Embedding(vocab_size, d)
        self.pos_emb = nn.Parameter(torch.randn(cfg["text_len"], d) * 0.02)
        self.layers = nn.ModuleList(TextLayer(d, cfg["text_heads"]) for _ in range(cfg["text_layers"]))
        self.ln_f = nn.LayerNorm(d, eps=EPS)

    def forward(self, ids, n_valid, drop=None):
        """ids (B, L) -> tokens (B, L, Dt), pooled (B, Dt) = mean of the valid tokens.
        drop (B, L) bool: tokens at prompt weight 0, masked as keys here and in the DiT (the engine's
        `word::0`: log w = -inf on their logits) and left out of the pooled mean."""
        B, L = ids.shape
        key_mask = torch.arange(L, device=ids.device)[None, :] < n_valid[:, None]
        if drop is not None:
            key_mask = key_mask & ~drop
        x = self.tok_emb(ids) + self.pos_emb[None]
        for layer in self.layers:
            x = layer(x, key_mask)
        x = self.ln_f(x)
        m = key_mask.to(x.dtype)[..., None]
        pooled = (x * m).sum(1) / m.sum(1)
        return x, pooled, key_mask


# ---- ST-DiT -------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D, Dt = cfg["width"], cfg["text_dim"]
        self.heads = cfg["heads"]
        self.ada = nn.Linear(D, 9 * D)
        self.attn_s_qkv = nn.Linear(D, 3 * D)
        self.attn_s_proj = nn.Linear(D, D)
        self.attn_t_qkv = nn.Linear(D, 3 * D)
        self.attn_t_proj = nn.Linear(D, D)
        self.cross_ln = nn.LayerNorm(D, eps=EPS)
        self.cross_q = nn.Linear(D, D)
        self.cross_kv = nn.Linear(Dt, 2 * D)
        self.cross_proj = nn.Linear(D, D)
        self.mlp = MLP(D, cfg["mlp_ratio"] * D)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, c, text, text_mask, rope_s, rope_t, tmask):
        """x (B, T, N, D); c (B, T, D); text (B, L, Dt); tmask (T, T) True = attend."""
        B, T, N, D = x.shape
        H = self.heads
        mod = self.ada(F.silu(c))[:, :, None, :].chunk(9, dim=-1)  # each (B, T, 1, D)
        # spatial attention within each frame
        h = modulate(F.layer_norm(x, (D,), eps=EPS), mod[0], mod[1])
        q, k, v = self.attn_s_qkv(h).view(B, T, N, 3, H, -1).unbind(3)
        q, k = apply_rope(q, *rope_s), apply_rope(k, *rope_s)
        x = x + mod[2] * self.attn_s_proj(attention(q, k, v).reshape(B, T, N, D))
        # temporal attention per token position over a window of frames
        h = modulate(F.layer_norm(x, (D,), eps=EPS), mod[3], mod[4])
        q, k, v = self.attn_t_qkv(h).view(B, T, N, 3, H, -1).unbind(3)
        q = apply_rope(q.transpose(1, 2), *rope_t)  # (B, N, T, H, hd)
        k = apply_rope(k.transpose(1, 2), *rope_t)
        o = attention(q, k, v.transpose(1, 2), tmask).transpose(1, 2)
        x = x + mod[5] * self.attn_t_proj(o.reshape(B, T, N, D))
        # cross attention to the text tokens
        h = self.cross_ln(x)
        q = self.cross_q(h).view(B, T * N, H, -1)
        k, v = self.cross_kv(text).view(B, text.shape[1], 2, H, -1).unbind(2)
        o = attention(q, k, v, text_mask[:, None, None, :])
        x = x + self.cross_proj(o.reshape(B, T, N, D))
        # MLP
        h = modulate(F.layer_norm(x, (D,), eps=EPS), mod[6], mod[7])
        return x + mod[8] * self.mlp(h)


class DiT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, c, p = cfg["width"], cfg["latent_channels"], cfg["patch"]
        self.in_ch = 2 * c + 1  # latent, first-frame condition, condition mask
        self.patch_in = nn.Linear(p * p * self.in_ch, D)
        self.t_fc1 = nn.Linear(cfg["freq_dim"], D)
        self.t_fc2 = nn.Linear(D, D)
        self.text_proj = nn.Linear(cfg["text_dim"], D)
        if cfg.get("controls", 0):
            # the per-frame control vector (T, 14) -> (T, D), added to the conditioning; the last
            # layer starts at zero so that a model fine-tuned from one without controls starts
            # out computing exactly what it did
            assert cfg["controls"] == CONTROL_DIM
            self.ctl_fc1 = nn.Linear(CONTROL_DIM, D)
            self.ctl_fc2 = nn.Linear(D, D)
            # the path's commanded centre as seen from each token (path_hint), embedded and added
            # to the token's input: the blocks are translation-equivariant (relative RoPE, no
            # absolute position), so a centre given only in the per-frame conditioning has no
            # place to land; as a per-token input it says where
            self.ctl_tok_fc1 = nn.Linear(PATH_HINT_DIM, D)
            self.ctl_tok_fc2 = nn.Linear(D, D)
            for m in (self.ctl_fc2, self.ctl_tok_fc2):
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["depth"]))
        self.final_ada = nn.Linear(D, 2 * D)
        self.final_out = nn.Linear(D, p * p * c)
        for m in (self.final_ada, self.final_out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def patchify(self, z):
        B, T, h, w, C = z.shape
        p = self.cfg["patch"]
        z = z.view(B, T, h // p, p, w // p, p, C).permute(0, 1, 2, 4, 3, 5, 6)
        return z.reshape(B, T, (h // p) * (w // p), p * p * C)

    def unpatchify(self, x, h, w):
        B, T, N, _ = x.shape
        p = self.cfg["patch"]
        x = x.view(B, T, h // p, w // p, p, p, -1).permute(0, 1, 2, 4, 3, 5, 6)
        return x.reshape(B, T, h, w, -1)

    def forward(self, z, sigma, text, pooled, text_mask, cond=None, cond_mask=None, frame0=0, total_frames=None,
                controls=None):
        """z (B, T, h, w, c) noisy latents; sigma (B,) or (B, T); text (B, L, Dt);
        cond (B, T, h, w, c), cond_mask (B, T): the given first frame (image-to-video).
        frame0: global index of z's first frame (for RoPE and the video's edges).
        controls (B, T, 14): each frame's control vector (tools/physics.py control_vector), for a
        model built with controls; None: none at all, exactly the computation of a model without
        them. Both embeddings are gated per frame by the flags (the path hint's by the path flag, the
        per-frame one by any flag), so all-zero vectors add nothing either."""
        B, T, h, w, C = z.shape
        cfg = self.cfg
        D, H, W = cfg["width"], cfg["heads"], cfg["temporal_window"]
        hd = D // H
        p = cfg["patch"]
        if cond is None:
            cond = torch.zeros_like(z)
            cond_mask = torch.zeros(B, T, device=z.device, dtype=z.dtype)
        zin = torch.cat([z, cond, cond_mask[:, :, None, None, None].expand(B, T, h, w, 1).to(z.dtype)], dim=-1)
        x = self.patch_in(self.patchify(zin))
        if controls is not None:
            assert hasattr(self, "ctl_fc1"), "this model was built without controls (cfg controls=0)"
            hint = path_hint(controls.to(x.dtype), h // p, w // p)  # (B, T, N, 4)
            # gated by the frame's path flag: a frame without a path gets nothing added, so a model
            # whose base was frozen while its controls trained computes the base model without them
            x = x + controls[..., 2:3, None].to(x.dtype) * self.ctl_tok_fc2(F.silu(self.ctl_tok_fc1(hint)))
        if sigma.dim() == 1:
            sigma = sigma[:, None].expand(B, T)
        temb = self.t_fc2(F.silu(self.t_fc1(timestep_embedding(sigma, cfg["freq_dim"]).to(x.dtype))))
        c = temb + self.text_proj(pooled)[:, None, :]
        if controls is not None:
            # gated by "any control given in this frame" (the largest of the five flags) likewise
            gate = controls[..., CONTROL_FLAGS].amax(dim=-1, keepdim=True).to(x.dtype)  # (B, T, 1)
            c = c + gate * self.ctl_fc2(F.silu(self.ctl_fc1(controls.to(x.dtype))))
        dev = z.device
        rope_s = tuple(t.to(dev) for t in rope_tables_2d(h // p, w // p, hd, cfg["rope_theta"]))
        g = torch.arange(frame0, frame0 + T, device="cpu")
        rope_t = tuple(t.to(dev) for t in rope_tables_1d(g, hd, cfg["rope_theta"]))
        gi = g[:, None]
        gj = g[None, :]
        tmask = (gi - gj).abs() <= W
        if cfg["causal"]:
            tmask &= gj <= gi
        tmask = tmask.to(dev)
        for blk in self.blocks:
            x = blk(x, c, text, text_mask, rope_s, rope_t, tmask)
        shift, scale = self.final_ada(F.silu(c))[:, :, None, :].chunk(2, dim=-1)
        x = modulate(F.layer_norm(x, (D,), eps=EPS), shift, scale)
        return self.unpatchify(self.final_out(x), h, w)


# ---- VAE (per frame, NHWC at the interface) -----------------------------------------
class ResBlock(nn.Module):
    def __init__(self, ch, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, ch, eps=EPS)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, ch, eps=EPS)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


def vae_channels(cfg):
    return [int(s) for s in str(cfg["vae_channels"]).split(",")]


class Encoder(nn.Module):
    """(B, 3, H, W) -> (B, c, H/f, W/f); f = 2^(levels-1)."""

    def __init__(self, cfg):
        super().__init__()
        ch, g = vae_channels(cfg), cfg["vae_groups"]
        self.conv_in = nn.Conv2d(3, ch[0], 3, padding=1)
        self.res = nn.ModuleList(ResBlock(c, g) for c in ch)
        self.down = nn.ModuleList(nn.Conv2d(ch[i], ch[i + 1], 3, stride=2, padding=1) for i in range(len(ch) - 1))
        self.norm_out = nn.GroupNorm(g, ch[-1], eps=EPS)
        self.conv_out = nn.Conv2d(ch[-1], cfg["latent_channels"], 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for i, r in enumerate(self.res):
            x = r(x)
            if i < len(self.down):
                x = self.down[i](x)
        return self.conv_out(F.silu(self.norm_out(x)))


class Decoder(nn.Module):
    """(B, c, h, w) -> (B, 3, f*h, f*w)."""

    def __init__(self, cfg):
        super().__init__()
        ch, g = vae_channels(cfg)[::-1], cfg["vae_groups"]
        self.conv_in = nn.Conv2d(cfg["latent_channels"], ch[0], 3, padding=1)
        self.res = nn.ModuleList(ResBlock(c, g) for c in ch)
        self.up = nn.ModuleList(nn.Conv2d(ch[i], ch[i + 1], 3, padding=1) for i in range(len(ch) - 1))
        self.norm_out = nn.GroupNorm(g, ch[-1], eps=EPS)
        self.conv_out = nn.Conv2d(ch[-1], 3, 3, padding=1)

    def forward(self, z):
        x = self.conv_in(z)
        for i, r in enumerate(self.res):
            x = r(x)
            if i < len(self.up):
                x = self.up[i](F.interpolate(x, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(x)))


class VAE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, frames):
        """frames (..., H, W, 3) in [-1, 1] -> latents (..., h, w, c) scaled by vae_scale."""
        lead = frames.shape[:-3]
        x = frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2)
        z = self.encoder(x).permute(0, 2, 3, 1)
        return (z * self.cfg["vae_scale"]).reshape(*lead, *z.shape[1:])

    def decode(self, z):
        lead = z.shape[:-3]
        x = (z.reshape(-1, *z.shape[-3:]) / self.cfg["vae_scale"]).permute(0, 3, 1, 2)
        y = self.decoder(x).permute(0, 2, 3, 1)
        return y.reshape(*lead, *y.shape[1:])


def to_uint8(frames):
    """[-1, 1] floats -> uint8, as the engine converts: floor((x + 1) * 127.5 + 0.5) clamped."""
    return torch.clamp(torch.floor((frames.float() + 1.0) * 127.5 + 0.5), 0, 255).to(torch.uint8)


# ---- the whole model and its sampler -----------------------------------------------
class TimeshardModel(nn.Module):
    def __init__(self, cfg, vocab):
        super().__init__()
        self.cfg = dict(cfg)
        self.vocab = list(vocab)
        self.vocab_index = {w: i for i, w in enumerate(self.vocab)}
        self.text = TextEncoder(self.cfg, len(self.vocab))
        self.dit = DiT(self.cfg)
        self.vae = VAE(self.cfg)

    def encode_text(self, prompts, device, drop_words=None):
        """drop_words: per prompt, indices of its words (0 = first word) at weight 0."""
        L = self.cfg["text_len"]
        toks = [tokenize(p, self.vocab_index, L) for p in prompts]
        ids = torch.tensor([t[0] for t in toks], device=device)
        n = torch.tensor([t[1] for t in toks], device=device)
        drop = None
        if drop_words is not None:
            drop = torch.zeros(len(prompts), L, dtype=torch.bool)
            for b, words in enumerate(drop_words):
                for w in words:
                    if 1 + w < L:  # token 0 is <bos>
                        drop[b, 1 + w] = True
            drop = drop.to(device)
        return self.text(ids, n, drop)


def drop_control_groups(controls, p, generator=None):
    """Training hook: each control group (path, motion, gravity, bounce, growth) of each clip is
    dropped with probability p: its values and its flag set to 0, as when a user does not give it;
    the size group goes with the growth. controls (B, T, 14) -> a new tensor; p a float, or a dict
    of group name -> probability. The same groups are dropped for every frame of a clip."""
    out = controls.clone()
    B = controls.shape[0]
    for name, (start, width) in CONTROL_GROUPS.items():
        pg = p.get(name, 0.0) if isinstance(p, dict) else p
        if pg <= 0:
            continue
        drop = torch.rand(B, generator=generator, device="cpu") < pg
        out[drop.to(out.device), :, start:start + width] = 0
        if name == "growth":
            out[drop.to(out.device), :, SIZE_GROUP[0]:SIZE_GROUP[0] + SIZE_GROUP[1]] = 0
    return out


def widen_controls(sd):
    """A state dict whose control modules were made for the 12-float vector and the 3-value path hint
    (before the size group) -> the same with dit.ctl_fc1 taking 14 and dit.ctl_tok_fc1 4 inputs, the new
    columns zero: the model computes exactly what it did, and the size input starts out ignored."""
    out = dict(sd)
    for k, n in (("dit.ctl_fc1.weight", CONTROL_DIM), ("dit.ctl_tok_fc1.weight", PATH_HINT_DIM)):
        if k in out and out[k].shape[1] < n:
            w = out[k]
            out[k] = torch.cat([w, w.new_zeros(w.shape[0], n - w.shape[1])], dim=1)
    return out


def schedule(steps, shift):
    """sigma_k for k = 0..steps: t = 1 - k/steps, sigma = shift*t / (1 + (shift-1)*t). float64 math."""
    out = []
    for k in range(steps + 1):
        t = 1.0 - k / steps
        out.append(shift * t / (1.0 + (shift - 1.0) * t))
    return out


@torch.no_grad()
def sample(model, prompt, noise, steps, cfg_scale, cond=None, cond_mask=None, controls=None, control_scale=1.0):
    """Rectified-flow Euler with classifier-free guidance against the empty prompt.
    noise (B, T, h, w, c) is the initial latent; returns the final latents. controls (B, T, 14)
    hold for both passes (guidance acts on the prompt); a model with controls gets zeros when None.
    control_scale s != 1 (control guidance, docs/controls.md): the prompt's prediction v is
    pushed away from the same without the controls (all zero), v + (s - 1) (v - v0), first."""
    dev = noise.device
    B = noise.shape[0]
    if controls is None and model.cfg.get("controls", 0):
        controls = torch.zeros(B, noise.shape[1], CONTROL_DIM, device=dev)
    text_c, pooled_c, mask_c = model.encode_text([prompt] * B, dev)
    text_u, pooled_u, mask_u = model.encode_text([""] * B, dev)
    sig = schedule(steps, model.cfg["shift"])
    x = noise.clone()
    for k in range(steps):
        s = torch.full((B,), sig[k], device=dev)
        v_c = model.dit(x, s, text_c, pooled_c, mask_c, cond, cond_mask, controls=controls)
        if control_scale != 1.0:
            v_0 = model.dit(x, s, text_c, pooled_c, mask_c, cond, cond_mask, controls=torch.zeros_like(controls))
            v_c = v_c + (control_scale - 1.0) * (v_c - v_0)
        if cfg_scale != 1.0:
            v_u = model.dit(x, s, text_u, pooled_u, mask_u, cond, cond_mask, controls=controls)
            v = v_u + cfg_scale * (v_c - v_u)
        else:
            v = v_c
        x = x + (sig[k + 1] - sig[k]) * v
    return x
