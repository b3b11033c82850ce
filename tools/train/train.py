"""Train the default model: the per-frame VAE first, then the DiT with the text
encoder jointly (rectified flow, first-frame conditioning, prompt dropout).

Resumable: every run continues from --ckpt if it exists and stops after
--minutes of wall time, saving a checkpoint every --save-every seconds and at
the end. The checkpoint holds weights in bf16 (EMA for the DiT) plus the
config, vocabulary and step; optimizer state is kept in a side file when
--opt-state is given. The log (JSON lines: step, wall time, loss) sits beside it.

    python tools/train/train.py vae --ckpt ckpt/vae.pt --minutes 10
    python tools/train/train.py dit --vae ckpt/vae.pt --ckpt ckpt/dit.pt --minutes 60

Motion controls (docs/controls.md): `--controls 0.5` draws about half the clips
as control clips and conditions every clip on its per-frame control labels,
each group dropped with probability --control-drop; `--init` from a model
without the control embedding adds it with its last layer at zero, so the
fine-tune starts from that model's exact outputs:

    python tools/train/train.py dit --vae ckpt/vae.pt --init ckpt/dit-ema --ckpt ckpt/dit-ctl.pt \
        --controls 0.5 --minutes 60
"""
import argparse
import copy
import json
import math
import os
import sys
import threading
import queue
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes  # noqa: E402
import tsmodel  # noqa: E402


def log_line(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def to_bf16(sd):
    return {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in sd.items()}


def save_shards(sd, prefix, meta, max_bytes=15_000_000):
    """State dict in bf16 split over files of at most max_bytes: PREFIX-00.pt, -01.pt, ...
    The first shard also holds `meta` (step, wall, config, vocab)."""
    parts, cur, size = [], {}, 0
    for k, v in to_bf16(sd).items():
        nb = v.numel() * v.element_size()
        if cur and size + nb > max_bytes:
            parts.append(cur)
            cur, size = {}, 0
        cur[k] = v
        size += nb
    parts.append(cur)
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    for i, part in enumerate(parts):
        obj = {"state": part, "shard": i, "shards": len(parts)}
        if i == 0:
            obj.update(meta)
        save_atomic(obj, f"{prefix}-{i:02d}.pt")


def load_shards(prefix):
    first = torch.load(f"{prefix}-00.pt", map_location="cpu")
    sd = dict(first["state"])
    for i in range(1, first["shards"]):
        sd.update(torch.load(f"{prefix}-{i:02d}.pt", map_location="cpu")["state"])
    meta = {k: v for k, v in first.items() if k not in ("state", "shard", "shards")}
    return to_f32(sd), meta


def to_f32(sd):
    return {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}


class Prefetch:
    """Clip parameters and tracks are made on the CPU in a thread; frames render on the device."""

    def __init__(self, n, frames, seed, fps, depth=8, controls=0.0, kinds=None):
        self.q = queue.Queue(depth)
        self.n, self.frames, self.fps, self.controls, self.kinds = n, frames, fps, controls, kinds
        self.gen = torch.Generator().manual_seed(seed)
        t = threading.Thread(target=self.run, daemon=True)
        t.start()

    def run(self):
        while True:
            p = shapes.sample_params(self.n, self.gen)
            truth, labels, own = None, None, None
            if self.controls > 0:  # about this share become control clips; every clip gets its labels
                shapes.add_controls(p, self.frames, self.gen, fps=self.fps, share=self.controls, kinds=self.kinds)
                truth = []
            cx, cy, r = shapes.tracks(p, self.frames, fps=self.fps, gen=self.gen, truth=truth)
            if truth is not None:
                # a motion's, a bounce's or a growth's centre per frame in the path group and a growth's
                # radius in the size group: the engine's planned track and size
                labels = shapes.control_labels(truth, self.frames, self.fps, centres=(cx, cy), radii=r)
                own = shapes.own_control_mask(p)
            caps = [shapes.caption(q["color"], q["shape"], q["motion"], q["bg"]) for q in p]
            self.q.put((p, cx, cy, r, caps, labels, own))

    def get(self, device):
        """Frames on the device, the object's coverage of each pixel (B, T, H, W), captions, the control
        labels (B, T, 14) or None, and which of those columns are a control clip's own control (B, 14)
        bool, or None."""
        p, cx, cy, r, caps, labels, own = self.q.get()
        video, cov = shapes.render(p, cx, cy, r, device=device, coverage=True)
        return video, cov, caps, labels, own


def attribute_dropout(caps, p):
    """Per caption, with probability p, one attribute's words at prompt weight 0 (masked as the
    engine masks `word::0`): the colour in half of those, the shape or the motion in a quarter each.
    The clip keeps its attribute, so the model learns that a masked word leaves it open, not that
    the object goes. Captions read `a COLOUR SHAPE MOTION... on a BG background` (shapes.caption)."""
    out = []
    for c in caps:
        words = c.split()
        if not words or torch.rand(()) >= p:
            out.append(())
            continue
        u = float(torch.rand(()))
        if u < 0.5:
            out.append((1,))
        elif u < 0.75:
            out.append((2,))
        else:
            out.append(tuple(range(3, words.index("on"))))
    return out


def train_vae(a, dev):
    cfg = dict(tsmodel.DEFAULT_CONFIG)
    vae = tsmodel.VAE(cfg).to(dev)
    step, wall0 = 0, 0.0
    opt = torch.optim.AdamW(vae.parameters(), lr=a.lr or 1e-3, weight_decay=0.0)
    if os.path.exists(a.ckpt):
        ck = torch.load(a.ckpt, map_location="cpu")
        vae.load_state_dict(to_f32(ck["vae"]))
        step, wall0 = ck["step"], ck["wall"]
        print(f"resumed VAE at step {step}")
    pf = Prefetch(max(1, a.batch // 4), 4, seed=1000 + step, fps=cfg["fps"])
    t_start = time.time()
    last_save = t_start
    log = a.ckpt.replace(".pt", ".log.jsonl")
    while True:
        video = pf.get(dev)[0]
        x = video.reshape(-1, 64, 64, 3).permute(0, 3, 1, 2)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            z = vae.encoder(x)
            zn = z + 0.05 * torch.randn_like(z)  # robustness to imperfect latents
            y = vae.decoder(zn)
        rec = F.mse_loss(y.float(), x) + 0.5 * F.l1_loss(y.float(), x)
        loss = rec + 1e-4 * z.float().pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        now = time.time()
        done = now - t_start > a.minutes * 60
        if step % 50 == 0 or done:
            psnr = 10 * math.log10(4.0 / max(F.mse_loss(y.float(), x).item(), 1e-10))
            rec = {"step": step, "wall": wall0 + now - t_start, "loss": loss.item(), "psnr": psnr}
            print(json.dumps(rec), flush=True)
            log_line(log, rec)
        if done or now - last_save > a.save_every:
            with torch.no_grad():  # latent scale: 1 / std of the latents over a batch
                zs = [vae.encoder(pf.get(dev)[0].reshape(-1, 64, 64, 3).permute(0, 3, 1, 2)) for _ in range(4)]
                std = torch.cat(zs).float().std().item()
            save_atomic({"vae": to_bf16(vae.state_dict()), "step": step, "wall": wall0 + now - t_start,
                         "vae_scale": 1.0 / std, "config": cfg}, a.ckpt)
            last_save = now
        if done:
            break


def train_dit(a, dev):
    vck = torch.load(a.vae, map_location="cpu")
    cfg = dict(tsmodel.DEFAULT_CONFIG)
    cfg.update(vck["config"])
    cfg["vae_scale"] = float(vck["vae_scale"])
    for kv in a.set or []:
        k, v = kv.split("=", 1)
        cfg[k] = type(tsmodel.DEFAULT_CONFIG[k])(v)
    vocab = shapes.vocabulary()
    model = tsmodel.TimeshardModel(cfg, vocab)
    model.vae.load_state_dict(to_f32(vck["vae"]))
    step, wall0 = 0, 0.0
    ema = None
    if os.path.exists(a.ckpt):
        ck = torch.load(a.ckpt, map_location="cpu")
        cfg = ck["config"]
        model = tsmodel.TimeshardModel(cfg, ck["vocab"])
        model.load_state_dict(to_f32(ck["model"]))
        step, wall0 = ck["step"], ck["wall"]
        print(f"resumed DiT at step {step}, wall {wall0:.0f}s")
    elif a.init:
        sd, meta = load_shards(a.init)
        cfg = dict(meta["config"])
        if cfg.get("controls", 0):  # made before the size group (12): widened below
            cfg["controls"] = tsmodel.CONTROL_DIM
        if a.controls > 0 and not cfg.get("controls", 0):
            # the control embedding joins a model trained without it: its last layer starts at
            # zero, so the fine-tune starts from exactly the initial model's outputs
            cfg["controls"] = tsmodel.CONTROL_DIM
        model = tsmodel.TimeshardModel(cfg, meta["vocab"])
        if a.init_controls:  # the control modules of another run (a warm start), the rest from --init
            csd, _ = load_shards(a.init_controls)
            ctl = {k: v for k, v in csd.items() if k.startswith("dit.ctl_")}
            if not ctl:
                raise SystemExit(f"{a.init_controls}: no dit.ctl_* weights")
            sd.update(ctl)
            print(f"control modules from {a.init_controls} ({len(ctl)} tensors)")
        sd = tsmodel.widen_controls(sd)  # control modules made before the size group take it, ignored
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if unexpected or any(not k.startswith("dit.ctl_") for k in missing):
            raise SystemExit(f"{a.init}: weights do not match the model (missing {missing}, unexpected {unexpected})")
        step, wall0 = meta["step"], meta["wall"]
        print(f"initialised from {a.init} at step {step}, wall {wall0:.0f}s (EMA weights)")
    model = model.to(dev)
    ema = copy.deepcopy(model).eval()
    if os.path.exists(a.ckpt) and "ema" in ck:
        ema.load_state_dict(to_f32(ck["ema"]))
    for p in model.vae.parameters():
        p.requires_grad_(False)
    if a.freeze_base:
        # only the control modules train: every other weight stays the initial model's, and the
        # flag gates make a run without controls compute exactly that model
        if not cfg.get("controls", 0):
            raise SystemExit("--freeze-base trains the control modules only: use it with --controls")
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith("dit.ctl_"))
    size_frozen = []
    if a.train_size_only:
        # only the size group's inputs train: dit.ctl_fc1's size columns and dit.ctl_tok_fc1's size
        # column; every other value is put back after each step, so that whatever has no size group
        # (every frame without a growth) computes exactly the initial model
        if not cfg.get("controls", 0):
            raise SystemExit("--train-size-only needs a model with the control embedding (--controls)")
        named = dict(model.named_parameters())
        for n, p in named.items():
            p.requires_grad_(n in ("dit.ctl_fc1.weight", "dit.ctl_tok_fc1.weight"))
        w_tok = named["dit.ctl_tok_fc1.weight"]
        with torch.no_grad():
            size_col, bump_col = tsmodel.PATH_HINT_DIM - 1, tsmodel.PATH_HINT_DIM - 2  # path_hint's order
            if not os.path.exists(a.ckpt) and not w_tok[:, size_col].any():
                # the size bump starts as the path bump's twin: "the object is here", as wide as planned
                w_tok[:, size_col] = w_tok[:, bump_col]
                ema.dit.ctl_tok_fc1.weight[:, size_col] = w_tok[:, size_col]
        size_frozen = [(named["dit.ctl_fc1.weight"], slice(0, tsmodel.SIZE_GROUP[0])),
                       (w_tok, slice(0, tsmodel.PATH_HINT_DIM - 1))]
        size_frozen = [(p, sl, p.data[:, sl].clone()) for p, sl in size_frozen]
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    # the control embeddings (dit.ctl_*) may learn faster than the rest (--ctl-lr-mult): they start
    # at zero, the rest from a trained model
    ctl_params = [p for n, p in model.named_parameters() if n.startswith("dit.ctl_")]
    groups = [{"params": [p for n, p in model.named_parameters()
                          if p.requires_grad and not n.startswith(("vae.", "dit.ctl_"))], "lr_mult": 1.0}]
    groups = [g for g in groups if g["params"]]
    if ctl_params:
        groups.append({"params": ctl_params, "lr_mult": a.ctl_lr_mult})
    opt = torch.optim.AdamW(groups, lr=a.lr or 3e-4, weight_decay=0.01, betas=(0.9, 0.99))
    opt_path = a.ckpt.replace(".pt", ".opt.pt")
    if a.opt_state and os.path.exists(opt_path):
        try:
            opt.load_state_dict(torch.load(opt_path, map_location=dev))
            print("optimizer state restored")
        except Exception as e:  # noqa: BLE001
            print("optimizer state not restored:", e)
    T = cfg["train_frames"]
    if a.controls > 0 and not cfg.get("controls", 0):
        raise SystemExit("--controls needs a model with the control embedding (--set controls=14, or --init "
                         "from a model without it, which adds it)")
    pf = Prefetch(a.batch, T, seed=2000 + step, fps=cfg["fps"], controls=a.controls,
                  kinds=a.control_kinds.split(",") if a.control_kinds else None)
    log = a.ckpt.replace(".pt", ".log.jsonl")
    t_start = time.time()
    last_save = t_start
    losses = []
    ema_decay = a.ema
    while True:
        video, cov, caps, labels, own = pf.get(dev)
        B = video.shape[0]
        with torch.no_grad():
            z0 = model.vae.encode(video).float()  # (B, T, h, w, c)
        drop = torch.rand(B) < 0.1
        caps = ["" if d else c for c, d in zip(caps, drop.tolist())]
        drop_words = attribute_dropout(caps, a.attr_drop) if a.attr_drop > 0 else None
        i2v = (torch.rand(B, device=dev) < 0.5).float()
        cond = torch.zeros_like(z0)
        cond[:, 0] = z0[:, 0] * i2v[:, None, None, None]
        cmask = torch.zeros(B, T, device=dev)
        cmask[:, 0] = i2v
        tt = torch.sigmoid(torch.randn(B, device=dev))  # logit-normal
        s = cfg["shift"]
        sigma = s * tt / (1 + (s - 1) * tt)
        eps = torch.randn_like(z0)
        sg = sigma[:, None, None, None, None]
        xt = (1 - sg) * z0 + sg * eps
        target = eps - z0
        lr = (a.lr or 3e-4) * min(1.0, (step + 1) / 500)
        if a.lr_cosine > 0:  # by the share of this run's wall time gone, so a timed run ends at the floor
            gone = min(1.0, (time.time() - t_start) / (a.minutes * 60))
            lr *= a.lr_cosine + (1 - a.lr_cosine) * 0.5 * (1 + math.cos(math.pi * gone))
        for gr in opt.param_groups:
            gr["lr"] = lr * gr.get("lr_mult", 1.0)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            text, pooled, tmask = model.encode_text(caps, dev, drop_words)
            # Motion controls (docs/controls.md): each clip's per-frame vectors (B, T, 12) from the
            # dataset's labels (tools/physics.py control_vector), each group dropped at random so that
            # any subset of them works and none at all (the zero vector) is the prompt alone.
            ctl = None
            if labels is not None:
                ctl = tsmodel.drop_control_groups(labels, a.control_drop)
                # and whole clips without any control (all groups dropped at once is otherwise rare:
                # 0.3^5), so that the prompt alone keeps its behaviour
                none = torch.rand(B) < a.control_drop_all
                if a.keep_own_control:
                    # a control clip keeps the control it was drawn for, and only plain clips go without
                    # any: the prompt alone then learns only from the plain draw, never from a turning
                    # path or a wide-drawn speed captioned by its net direction
                    ctl = torch.where(own[:, None, :], labels, ctl)
                    none &= ~own.any(dim=1)
                ctl[none.to(ctl.device)] = 0
                ctl = ctl.to(dev)
            elif cfg.get("controls", 0):
                ctl = torch.zeros(B, T, tsmodel.CONTROL_DIM, device=dev)
            v = model.dit(xt, sigma, text, pooled, tmask, cond, cmask, controls=ctl)
        if a.object_weight > 0:
            # where the object is (its coverage on the latent grid, one latent pixel wider) weighs
            # 1 + W: the background is easy, and where and how large the object is drawn is what a
            # control decides, a small share of a plain mean
            h, w = z0.shape[2:4]
            m = F.adaptive_max_pool2d(cov.flatten(0, 1)[:, None], (h, w))
            m = F.max_pool2d(m, 3, stride=1, padding=1).view(B, T, h, w, 1)
            wt = 1.0 + a.object_weight * m
            loss = (wt * (v.float() - target) ** 2).mean() / wt.mean()
        else:
            loss = F.mse_loss(v.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            for p_, sl, v0 in size_frozen:
                p_.data[:, sl] = v0
        step += 1
        with torch.no_grad():
            d = min(ema_decay, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        losses.append(loss.item())
        now = time.time()
        done = now - t_start > a.minutes * 60 or (a.max_steps and step >= a.max_steps)
        if step % 100 == 0 or done:
            rec = {"step": step, "wall": round(wall0 + now - t_start, 1), "loss": sum(losses) / len(losses),
                   "lr": lr, "clips_per_s": round(len(losses) * B / max(1e-9, now - getattr(a, "_t_log", t_start)), 1)}
            a._t_log = now
            losses = []
            print(json.dumps(rec), flush=True)
            log_line(log, rec)
        if done or now - last_save > a.save_every:
            save_atomic({"model": to_bf16(model.state_dict()), "ema": to_bf16(ema.state_dict()), "step": step,
                         "wall": wall0 + now - t_start, "config": cfg, "vocab": vocab}, a.ckpt)
            if a.opt_state:
                save_atomic(opt.state_dict(), opt_path)
            meta = {"step": step, "wall": wall0 + now - t_start, "config": cfg, "vocab": vocab}
            if a.export:
                save_shards(ema.state_dict(), a.export, meta)
            if a.export_controls:
                ctl = {k: v for k, v in ema.state_dict().items() if k.startswith("dit.ctl_")}
                save_shards(ctl, a.export_controls, meta)
                save_shards(ctl, f"{a.export_controls}-s{step}", meta)
            last_save = now
            print(f"saved {a.ckpt} at step {step}", flush=True)
        if done:
            break


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["vae", "dit"])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--vae", help="VAE checkpoint (dit)")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--save-every", type=float, default=120)
    ap.add_argument("--opt-state", action="store_true", help="keep optimizer state in a side file")
    ap.add_argument("--export", help="also write the EMA weights as bf16 shards PREFIX-NN.pt at each save")
    ap.add_argument("--export-controls",
                    help="also write the EMA's control modules (dit.ctl_*) alone at each save: PREFIX-00.pt "
                         "(the latest, as split_controls.py writes it) and PREFIX-sSTEP-00.pt (kept)")
    ap.add_argument("--lr-cosine", type=float, default=0.0,
                    help="after warm-up, the learning rate follows a cosine over this run's --minutes of wall "
                         "time down to this share of it (e.g. 0.1); 0: constant")
    ap.add_argument("--init", help="start a new run from EMA shards PREFIX (when --ckpt does not exist)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--controls", type=float, default=0.0,
                    help="motion controls: the share of clips drawn as control clips (paths, motion vectors, "
                         "bounces, growth; every clip gets its per-frame control labels); 0: the plain draw")
    ap.add_argument("--control-kinds", default="",
                    help="comma list of the control clips' kinds (path, motion, bounce, growth); default all")
    ap.add_argument("--train-size-only", action="store_true",
                    help="train only the size group's inputs (the columns of dit.ctl_fc1 and dit.ctl_tok_fc1 "
                         "that read the planned size); everything else stays the initial model's")
    ap.add_argument("--ctl-lr-mult", type=float, default=1.0,
                    help="learning-rate multiplier for the control embeddings (dit.ctl_*), which start at zero")
    ap.add_argument("--control-drop-all", type=float, default=0.0,
                    help="probability that a clip gets no controls at all (every group dropped)")
    ap.add_argument("--init-controls", help="with --init: the control modules (dit.ctl_*) from these EMA "
                                            "shards instead of zero-initialised ones")
    ap.add_argument("--freeze-base", action="store_true",
                    help="train only the control modules (dit.ctl_*); the rest stays the initial model's, "
                         "so that without controls the result is that model, bit for bit")
    ap.add_argument("--keep-own-control", action="store_true",
                    help="a control clip never loses the control it was drawn for, and --control-drop-all "
                         "applies to the plain clips only (the prompt alone learns from the plain draw only)")
    ap.add_argument("--control-drop", type=float, default=0.3,
                    help="probability that each control group of a clip is dropped (values and flag zero)")
    ap.add_argument("--object-weight", type=float, default=0.0,
                    help="dit: the loss where the object is (one latent pixel around it too) weighs 1 + W")
    ap.add_argument("--attr-drop", type=float, default=0.0,
                    help="share of captions with one attribute's words masked (prompt weight 0)")
    ap.add_argument("--set", action="append", help="config override key=value (new runs)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    os.makedirs(os.path.dirname(os.path.abspath(a.ckpt)), exist_ok=True)
    (train_vae if a.what == "vae" else train_dit)(a, dev)


if __name__ == "__main__":
    main()
