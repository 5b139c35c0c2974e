"""The half-precision path a GPU takes by default (bf16 autocast), run on the CPU: the model runs in
bf16 while the sampler's latents, sigmas and Euler steps stay float32."""
from __future__ import annotations

import numpy as np
import torch

from lipforge.infer.scheduler import EDMScheduler


class _SpyScheduler(EDMScheduler):
    """Records the dtypes of every step of the diffusers sampler it hands the pipeline."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: set[tuple[torch.dtype, torch.dtype, torch.dtype]] = set()

    def sampler(self, name: str = "EDMEulerScheduler"):
        d = super().sampler(name)
        step = d.step

        def spy(model_output, timestep, sample, **kw):
            out = step(model_output, timestep, sample, **kw)
            self.dtypes.add((sample.dtype, d.sigmas.dtype, out.prev_sample.dtype))
            return out

        d.step = spy
        return d


def test_bf16_generate_keeps_sampler_fp32(tiny_checkpoint, infer_media):
    from lipforge.infer.models import LipSyncModel
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.infer.prepare import prepare_job

    torch.set_num_threads(1)
    sched = _SpyScheduler()
    pipe = LipSyncPipeline(LipSyncModel.from_pretrained(tiny_checkpoint), sched, device="cpu", dtype=torch.bfloat16)
    pipe32 = LipSyncPipeline(LipSyncModel.from_pretrained(tiny_checkpoint), EDMScheduler(), device="cpu")
    prep = prepare_job(infer_media["src"].path, infer_media["short"].path, pipe.resolution)
    out = pipe.generate(prep, num_inference_steps=2, segment_length=8, overlap=2, progress=False)
    ref = pipe32.generate(prep, num_inference_steps=2, segment_length=8, overlap=2, progress=False)
    assert out.dtype == np.uint8 and out.shape == ref.shape == prep.crops.shape
    assert sched.dtypes == {(torch.float32, torch.float32, torch.float32)}, sched.dtypes
    # bf16 rounding, not a different computation: most pixels within a few levels of the fp32 run
    diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
    assert np.median(diff) <= 8, float(np.median(diff))


def test_fp16_casts_weights_and_upcasts_the_vae(tiny_checkpoint, infer_media):
    """--dtype fp16: networks' weights in fp16, the VAE kept and run in fp32 (it overflows in fp16)."""
    from lipforge.infer.models import LipSyncModel
    from lipforge.infer.pipeline import LipSyncPipeline
    from lipforge.infer.prepare import prepare_job

    torch.set_num_threads(1)
    pipe = LipSyncPipeline(LipSyncModel.from_pretrained(tiny_checkpoint), device="cpu", dtype=torch.float16)
    pipe.cast_weights()
    m = pipe.model
    assert next(m.unet.parameters()).dtype == torch.float16
    assert next(m.id_guider.parameters()).dtype == torch.float16
    assert next(m.vae.parameters()).dtype == torch.float32
    seen: list[torch.dtype] = []
    decode = m.vae.decode

    def spy(z, *a, **kw):
        out = decode(z, *a, **kw)
        seen.append(out.sample.dtype)
        return out

    m.vae.decode = spy
    prep = prepare_job(infer_media["src"].path, infer_media["short"].path, pipe.resolution)
    out = pipe.generate(prep, num_inference_steps=1, segment_length=8, overlap=2, progress=False)
    assert out.shape == prep.crops.shape and seen and set(seen) == {torch.float32}
    assert np.isfinite(np.asarray(out, np.float32)).all()
