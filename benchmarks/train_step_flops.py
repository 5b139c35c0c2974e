"""FLOPs of one training step at a preset's full size, counted on the CPU (meta device: no
memory, no weights) with ``torch.utils.flop_counter.FlopCounterMode``, by part and by precision.

    python benchmarks/train_step_flops.py [--config configs/train/keysync.yaml]

"before" is the step as it was until issue 28 (both VAE encodes and the pixel loss's decode in
fp32 outside autocast; only the spatial transformer blocks and ResBlocks recomputed under
gradient checkpointing); "after" is the step now (encodes and decode under the UNet's bf16
autocast; the temporal blocks recomputed too).
The counts are the same kernels' FLOPs: what moves is how many run in fp32 (no tensor-core
rate) and the recompute that buys the activation memory.
"""
from __future__ import annotations

import argparse
from pathlib import Path

T_ = 1e12


def count(fn) -> tuple[int, dict]:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops(), fc.get_flop_counts()


def main(argv: list[str] | None = None) -> int:
    import torch
    from diffusers.models.attention import TemporalBasicTransformerBlock

    from lipforge.env import apply_offline_env

    apply_offline_env()
    from lipforge.infer.models import LipSyncModel
    from lipforge.train.config import TrainConfig
    from lipforge.train.dry_run import _arch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(Path(__file__).resolve().parent.parent / "configs/train/keysync.yaml"))
    args = p.parse_args(argv)
    cfg = TrainConfig.from_yaml(args.config)
    arch, _ = _arch(cfg)
    with torch.device("meta"):
        model = LipSyncModel.from_config(arch)
    model.to("meta").train()
    c, b = arch, cfg.data.batch_size
    t, r = c.num_frames, c.resolution
    h = r // model.vae_scale_factor
    frames = torch.zeros(2 * b, t, 3, r, r, device="meta")  # masked video + target, one call

    enc, _ = count(lambda: model.encode_video(frames))
    mel = torch.zeros(b, model.whisper.config.num_mel_bins, 2 * model.whisper.config.max_source_positions, device="meta")
    whisper, _ = count(lambda: model.whisper(mel))

    def unet_step():
        x = torch.zeros(b, t, 4, h, h, device="meta")
        ctx = torch.zeros(b, t, c.window_tokens, int(model.whisper.config.d_model), device="meta")
        ref = torch.zeros(b, 4, r, r, device="meta")
        model(x, torch.zeros(b, device="meta"), x, ref, ctx).sum().backward()

    unet, per_mod = count(unet_step)
    temporal_fwd = 0
    if c.gradient_checkpointing:  # the temporal blocks' forward runs twice now: once is the recompute
        _, fwd_mod = count(lambda: model(torch.zeros(b, t, 4, h, h, device="meta"), torch.zeros(b, device="meta"),
                                         torch.zeros(b, t, 4, h, h, device="meta"),
                                         torch.zeros(b, 4, r, r, device="meta"),
                                         torch.zeros(b, t, c.window_tokens, int(model.whisper.config.d_model),
                                                     device="meta")))
        names = {n for n, m in model.named_modules() if isinstance(m, TemporalBasicTransformerBlock)}
        temporal_fwd = sum(sum(v.values()) for k, v in fwd_mod.items() if k.partition(".")[2] in names)
    pix = 0
    if cfg.loss.pixel_loss_weight > 0:
        def decode():
            z = torch.zeros(b, 4, h, h, device="meta", requires_grad=True)
            model.vae.decode(z, num_frames=1).sample.sum().backward()
        pix, _ = count(decode)

    before_fp32 = enc + pix  # both ran outside autocast
    before_half = unet - temporal_fwd
    after_fp32 = 0
    after_half = enc + unet + pix
    print(f"config {args.config}: batch {b} x {t} frames at {r} px, gradient checkpointing "
          f"{'on' if c.gradient_checkpointing else 'off'}")
    print(f"  VAE encode (masked + target)          {enc / T_:8.2f} TFLOP")
    print(f"  Whisper encoder (one 30 s chunk)      {whisper / T_:8.2f} TFLOP  (0 with data.use_cached_audio)")
    print(f"  UNet + ID-Guider forward + backward   {unet / T_:8.2f} TFLOP  (of it temporal-block recompute "
          f"{temporal_fwd / T_:.2f})")
    print(f"  pixel-loss decode forward + backward  {pix / T_:8.2f} TFLOP")
    print(f"before: {before_fp32 / T_:6.2f} TFLOP fp32 + {before_half / T_:6.2f} bf16 = "
          f"{(before_fp32 + before_half + whisper) / T_:6.2f} TFLOP with Whisper (fp32)")
    print(f"after:  {after_fp32 / T_:6.2f} TFLOP fp32 + {after_half / T_:6.2f} bf16 = "
          f"{(after_fp32 + after_half + whisper) / T_:6.2f} TFLOP with Whisper (now under autocast too)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
