"""LipSyncPipeline: lip-sync a video to new audio with a trained LipSyncModel (diffusers style).

The pipeline owns the sampling loop; the network (:mod:`lipforge.infer.models`) has none and the EDM
scheduler (:mod:`lipforge.infer.scheduler`) is weight-free math. One call:

1. check the inputs (messages name the argument and its value);
2. CPU, streamed (:func:`lipforge.infer.prepare.prepare_job`): probe, a detection + shot-cut pass
   and a landmark + crop pass over the 25 fps timeline, crops spooled to a FrameStore file;
   face track, gap filling and crop smoothing per shot; length rules; one reference per shot;
3. model: VAE-encode the masked crops (each distinct source frame once, cached per source video
   with ``cache_dir``: :mod:`lipforge.infer.latent_cache`); Whisper once over the job's audio,
   per-frame windows and the ID-Guider residuals per segment (built as the trainer's loader
   builds them); sampling with diffusers' EDMEulerScheduler (or another EDM scheduler by name,
   ``sampler=``) over 16-frame segments overlapping by 4 frames, never across
   a shot cut (:func:`lipforge.infer.shots.plan_shot_segments`); at every step the segments'
   network outputs are blended with linear cross-fade weights, so neighbouring segments agree on
   their shared frames; classifier-free guidance (scale 3.0) or KeySync's separate identity /
   audio scales; VAE decode in chunks that leave the device as uint8 at once;
4. CPU, streamed (:func:`lipforge.infer.prepare.finish_job`): composite each frame at the
   source's fps and colour and encode it with the driving audio at its own rate and channels.

Memory does not grow with the video: full frames exist one chunk at a time; crops, generated
crops and (in the loop case) the decoded source live in scratch files beside the output
(``benchmarks/infer_speed.py`` measures it).

>>> pipe = LipSyncPipeline.from_pretrained("export/")                  # doctest: +SKIP
>>> pipe("talk.mp4", "new_speech.wav", "out.mp4", num_inference_steps=15)  # doctest: +SKIP
PosixPath('out.mp4')
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from lipforge.infer.prepare import PreparedJob, finish_job, prepare_job
from lipforge.infer.conditioning import SegmentConditions, from_model_frames, masked_video, to_model_frames
from lipforge.infer.video import SAMPLES_PER_FRAME, blend_segments


class LipSyncPipeline:
    """Model + scheduler + the loop; see the module docstring for the steps."""

    def __init__(self, model, scheduler=None, device: str = "cpu", dtype: torch.dtype | None = None,
                 recipe=None) -> None:
        """``recipe``: how inputs are prepared (:class:`lipforge.infer.recipe.Recipe`); a pipeline
        built by hand gets curation's default crop and the adaptive mask, one loaded with
        :meth:`from_pretrained` the recipe its export carries."""
        from lipforge.infer.recipe import Recipe
        from lipforge.infer.scheduler import EDMScheduler

        self.model = model.eval()
        self.scheduler = scheduler or EDMScheduler()
        cfg = getattr(model, "config", None)  # a stand-in network (tests) may have none
        self.recipe = recipe if recipe is not None or cfg is None else Recipe.default_for(cfg)
        if self.recipe is not None and cfg is not None:
            self.recipe.check_model(cfg)
        self.device = torch.device(device)
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.model.to(self.device)
        self.last_timings: dict[str, float] = {}
        self.last_encode_stats: dict[str, int] = {}
        self._vae_id: str | None = None

    # ---- saved form (the recipe travels with the model) -----------------------------------------
    SCHEDULER_DIR = "scheduler"

    def save_pretrained(self, directory: str | Path) -> Path:
        """Model (``LipSyncModel.save_pretrained``), ``scheduler/scheduler_config.json`` and
        ``recipe.json``: everything :meth:`from_pretrained` needs, nothing it may guess."""
        d = Path(directory)
        self.model.save_pretrained(d)
        self.scheduler.save_pretrained(d / self.SCHEDULER_DIR)
        self.recipe.save(d)
        return d

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "auto", dtype: torch.dtype | None = None):
        """Load an export (``lipforge train --export`` / :meth:`save_pretrained`): the model, the
        scheduler it was trained with and its input recipe (mask, crop, audio window, frames).

        A missing file fails naming it, a recipe that disagrees with the model's config names the
        field: never a default scheduler or mask in their place. The small files are checked before
        the weights are read."""
        import json

        from lipforge.infer.models import LipSyncModel, LipSyncModelConfig
        from lipforge.infer.models.lipsync import CONFIG_NAME
        from lipforge.infer.recipe import RECIPE_NAME, Recipe
        from lipforge.infer.scheduler import EDMScheduler

        d = Path(directory)
        if not (d / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"checkpoint {d}: no {CONFIG_NAME} (expected a LipSyncModel export at {d / CONFIG_NAME})")
        recipe = Recipe.load(d)
        recipe.check_model(LipSyncModelConfig.from_dict(json.loads((d / CONFIG_NAME).read_text())), str(d / RECIPE_NAME))
        scheduler = EDMScheduler.from_pretrained(d / cls.SCHEDULER_DIR)
        if device == "auto":
            from lipforge.infer.devices import resolve_device

            device = resolve_device("auto")
        model = LipSyncModel.from_pretrained(d)
        return cls(model, scheduler, device=device, dtype=dtype, recipe=recipe)

    @staticmethod
    def resolution_of(directory: str | Path) -> int:
        """The crop size a saved model expects, without loading its weights."""
        import json

        from lipforge.infer.models.lipsync import CONFIG_NAME

        p = Path(directory) / CONFIG_NAME
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint {directory}: no {CONFIG_NAME} (expected a LipSyncModel export at {p})")
        return int(json.loads(p.read_text())["resolution"])

    @property
    def resolution(self) -> int:
        return int(self.model.config.resolution)

    # ---- input checks ------------------------------------------------------------------------
    def check_inputs(self, video, audio, num_inference_steps: int, guidance_scale: float,
                     audio_guidance_scale: float | None, identity_guidance_scale: float | None,
                     segment_length: int, overlap: int, crop_size: int) -> None:
        for name, p in (("video", video), ("audio", audio)):
            if p is not None and not Path(p).is_file():
                raise FileNotFoundError(f"{name}={str(p)!r} does not exist")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}")
        if guidance_scale < 0:
            raise ValueError(f"guidance_scale must be >= 0, got {guidance_scale}")
        if (audio_guidance_scale is None) != (identity_guidance_scale is None):
            raise ValueError("KeySync guidance needs both scales: got audio_guidance_scale="
                             f"{audio_guidance_scale} and identity_guidance_scale={identity_guidance_scale}")
        if not 0 <= overlap < segment_length:
            raise ValueError(f"overlap must be in [0, segment_length): got overlap={overlap}, "
                             f"segment_length={segment_length}")
        f = self.model.vae_scale_factor
        if crop_size % f:
            raise ValueError(f"crop_size={crop_size} must be a multiple of the VAE factor {f}")

    # ---- one job -----------------------------------------------------------------------------
    def __call__(self, video: str | Path, audio: str | Path, output: str | Path, num_inference_steps: int = 15,
                 guidance_scale: float = 3.0, audio_guidance_scale: float | None = None,
                 identity_guidance_scale: float | None = None, segment_length: int = 16, overlap: int = 4,
                 crop_size: int | None = None, seed: int = 0, cache_dir: str | Path | None = None,
                 decode_chunk: int = 16, progress: bool = True, fps: float | None = None,
                 audio_mix: str = "native", max_face_gap: int | None = None,
                 sampler: str = "EDMEulerScheduler") -> Path:
        """One job, streamed: the crops and generated crops go to a scratch folder beside ``output``
        named after it (:mod:`lipforge.infer.scratch`: removed afterwards, on SIGTERM, or by the
        next run), the full frames are decoded and encoded one at a time.

        ``fps``: output frame rate (default: the source's; the model always works at 25 fps).
        ``audio_mix``: ``native`` (every channel of the driving audio) or ``stereo`` / ``mono``.
        ``max_face_gap``: frames without a detected face longer than this stay untouched
        (default :data:`lipforge.infer.faceprep.MAX_FACE_GAP`).
        """
        from lipforge.infer.inputs import check_job_paths
        from lipforge.infer.scratch import job_scratch

        crop_size = crop_size or self.resolution
        self.check_inputs(video, audio, num_inference_steps, guidance_scale, audio_guidance_scale,
                          identity_guidance_scale, segment_length, overlap, crop_size)
        check_job_paths(video, audio, output)
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0 (or None for the source's), got {fps}")
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        with job_scratch(output) as scratch:
            t0 = time.perf_counter()
            prep = self.prepare(video, audio, crop_size, cache_dir=cache_dir, seed=seed, work_dir=scratch,
                                max_face_gap=max_face_gap)
            t1 = time.perf_counter()
            gen = self.generate(prep, num_inference_steps, guidance_scale, audio_guidance_scale,
                                identity_guidance_scale, segment_length, overlap, seed=seed, decode_chunk=decode_chunk,
                                progress=progress, latent_cache_dir=cache_dir, out_store=scratch / "generated.u8",
                                sampler=sampler)
            t2 = time.perf_counter()
            out = finish_job(prep, gen, output, fps=fps, work_dir=scratch, audio_mix=audio_mix)
            timings = dict(self.last_timings)
            timings.update(prepare=t1 - t0, composite=time.perf_counter() - t2, n_frames=len(prep.positions))
            self.last_timings = timings
            return out

    def prepare(self, video: str | Path, audio: str | Path, crop_size: int | None = None,
                cache_dir: str | Path | None = None, seed: int = 0, work_dir: str | Path | None = None,
                max_face_gap: int | None = None) -> PreparedJob:
        """CPU half before sampling, with this model's recipe (crop margin, smoothing, mask type)."""
        return prepare_job(video, audio, crop_size or self.resolution, cache_dir=cache_dir, seed=seed,
                           work_dir=work_dir, recipe=self.recipe, max_face_gap=max_face_gap)

    @torch.no_grad()
    def generate(self, prep: PreparedJob, num_inference_steps: int = 15, guidance_scale: float = 3.0,
                 audio_guidance_scale: float | None = None, identity_guidance_scale: float | None = None,
                 segment_length: int = 16, overlap: int = 4, seed: int = 0, decode_chunk: int = 16,
                 progress: bool = True, latent_cache_dir: str | Path | None = None,
                 out_store: str | Path | None = None, sampler: str = "EDMEulerScheduler"):
        """Model half of a job: PreparedJob -> generated crops (T, S, S, 3) uint8.

        Segments never cross a shot cut and take their shot's reference frame
        (:func:`lipforge.infer.shots.plan_shot_segments`). Whisper runs once over the job's real
        audio. Decoded frames leave the device chunk by chunk; with ``out_store`` they are
        appended to that :class:`~lipforge.infer.framestore.FrameStore` file (returned) instead of
        being gathered in memory.
        ``latent_cache_dir``: keep the masked crops' VAE latents there, per source video
        (:mod:`lipforge.infer.latent_cache`), so later jobs over the same video skip their encoding.
        ``sampler``: the diffusers scheduler by name (:meth:`EDMScheduler.sampler`), e.g.
        ``"EDMDPMSolverMultistepScheduler"``.
        """
        from lipforge.infer.framestore import FrameStore
        from lipforge.infer.shots import plan_shot_segments

        m, dev = self.model, self.device
        timings: dict[str, float] = {}
        t = time.perf_counter()
        n = len(prep.positions)
        segments, seg_w = plan_shot_segments(np.asarray(prep.shots), segment_length, overlap)
        masked_lat = self.encode_masked(prep, decode_chunk, latent_cache_dir)  # (1, T, 4, h, w)
        timings["vae_encode"] = time.perf_counter() - t
        t = time.perf_counter()
        conds = self.segment_conditions(prep, segments)
        timings["conditions"] = time.perf_counter() - t
        t = time.perf_counter()
        sched = self.scheduler.sampler(sampler)  # a diffusers EDM scheduler, fresh per job (multistep state)
        sched.set_timesteps(num_inference_steps, device=dev)
        g = torch.Generator().manual_seed(seed)
        x = (torch.randn(masked_lat.shape, generator=g) * sched.init_noise_sigma).to(dev)  # (1, T, 4, h, w)
        weights = [torch.tensor(w, dtype=torch.float32, device=dev) for w in seg_w]
        bar = _progress(num_inference_steps * len(segments), progress)
        for c_noise in sched.timesteps:  # diffusers' EDM timesteps are c_noise = ln(sigma) / 4
            x_in = sched.scale_model_input(x, c_noise)
            parts = []
            for k, seg in enumerate(segments):
                sl = slice(seg.start, seg.end)
                wins, res = conds[k]
                parts.append(self._guided(x_in[:, sl], c_noise, masked_lat[:, sl], wins, res, guidance_scale,
                                          audio_guidance_scale, identity_guidance_scale))  # (1, L, 4, h, w)
                bar.update(1)
            out = blend_segments(parts, segments, n, axis=1, weights=weights)  # the tested blend, per step
            x = sched.step(out, c_noise, x).prev_sample
        bar.close()
        timings["sample"] = time.perf_counter() - t
        t = time.perf_counter()
        store, parts = None, []
        with self._vae_autocast():
            for s in range(0, n, decode_chunk):  # each chunk leaves the device as uint8 at once
                frames = from_model_frames(m.decode_latents(x[:, s:s + decode_chunk], chunk=decode_chunk)[0])
                if out_store is not None:
                    store = store or FrameStore.create(out_store, frames.shape[1:])
                    store.append(frames)
                else:
                    parts.append(frames)
        timings["vae_decode"] = time.perf_counter() - t
        self.last_timings = timings
        return store if out_store is not None else np.concatenate(parts)

    def segment_conditions(self, prep: PreparedJob, segments) -> SegmentConditions:
        """Whisper once over the job's whole audio (the trainer's feature path: encoder chunks from
        the start, :mod:`lipforge.infer.models.audio`), then each segment's windows and residuals."""
        m, dev = self.model, self.device
        with self._autocast():
            feats = m.audio_features(np.asarray(prep.audio, np.float32)).to(dev)  # (1, A, C): once per job
            valid = torch.tensor([-(-int(prep.n_audio) // SAMPLES_PER_FRAME)], device=dev)
            return SegmentConditions(self, prep, segments, feats, valid)

    def vae_id(self) -> str:
        """Identity of the encoder as used here: VAE config + weights, compute dtype and device type."""
        if self._vae_id is None:
            from lipforge.infer.latent_cache import vae_fingerprint

            base = vae_fingerprint(self.model.vae)
            self._vae_id = hashlib.sha256(f"{base}-{self.dtype}-{self.device.type}".encode()).hexdigest()
        return self._vae_id

    @torch.no_grad()
    def encode_masked(self, prep: PreparedJob, chunk: int = 16,
                      cache_dir: str | Path | None = None) -> torch.Tensor:
        """VAE latents of the masked crops, (1, T, 4, h, w) float32 on the device.

        Each distinct (source position, crop + mask) is encoded once per job; with ``cache_dir``
        and a job prepared with a cache (``prep.source_hash``), once across jobs too. Sets
        ``self.last_encode_stats`` (frames, encoded).
        """
        from lipforge.infer.latent_cache import (
            LatentCache,
            encode_with_cache,
            frame_digests,
            frame_keys,
        )

        m, dev = self.model, self.device
        size = prep.crops.shape[1]

        def encode(idx: np.ndarray) -> np.ndarray:
            outs = []
            for s in range(0, len(idx), chunk):
                sel = idx[s:s + chunk]
                crops = to_model_frames(prep.crops[sel]).to(dev)  # (t, 3, S, S)
                masks = torch.from_numpy(np.asarray(prep.masks[sel], np.float32)).to(dev)  # (t, S, S)
                with self._vae_autocast():
                    outs.append(m.encode_video(masked_video(crops, masks)[None])[0].float().cpu())  # (t, 4, h, w)
            return torch.cat(outs).numpy()

        cache = None
        if cache_dir is not None and getattr(prep, "source_hash", ""):
            f = m.vae_scale_factor
            shape = (int(m.vae.config.latent_channels), size // f, size // f)
            cache = LatentCache(cache_dir, prep.source_hash, size, self.vae_id(), shape)
        lat, n_new = encode_with_cache(frame_keys(prep.positions), frame_digests(prep.crops, prep.masks), encode, cache)
        self.last_encode_stats = {"frames": len(lat), "encoded": n_new}
        return torch.from_numpy(lat)[None].to(dev)  # (1, T, 4, h, w)

    def _guided(self, x_in, c_noise, masked_lat, wins, res, scale, w_aud, w_id) -> torch.Tensor:
        """Network output with guidance, the branches batched into one forward.

        CFG: F = F_0 + s (F_c - F_0), F_0 with audio and reference dropped (training drops the
        reference whenever it drops the audio). KeySync: F = F_0 + w_id (F_id - F_0) + w_aud (F_id&aud - F_id).
        D = c_skip x + c_out F is affine in F at fixed x and sigma, so guiding F guides D.
        """
        keysync = w_aud is not None
        if not keysync and scale == 1.0:
            drops_a, drops_r = [False], [False]
        elif keysync:
            drops_a, drops_r = [False, True, True], [False, False, True]  # full, id only, none
        else:
            drops_a, drops_r = [False, True], [False, True]
        b = len(drops_a)
        dev = x_in.device
        with self._autocast():
            f = self.model(x_in.expand(b, *x_in.shape[1:]).to(self.dtype), c_noise.expand(b),
                           masked_lat.expand(b, *masked_lat.shape[1:]), None, wins.expand(b, *wins.shape[1:]),
                           drop_audio=torch.tensor(drops_a, device=dev), drop_ref=torch.tensor(drops_r, device=dev),
                           id_residuals=[r.expand(b, *r.shape[1:]) for r in res]).float()
        if b == 1:
            return f
        if keysync:
            full, idonly, none = f[0:1], f[1:2], f[2:3]
            return none + w_id * (idonly - none) + w_aud * (full - idonly)
        return f[1:2] + scale * (f[0:1] - f[1:2])

    def _autocast(self):
        """Half-precision compute (bf16 / fp16; on the CPU only when asked, which runs the very path a
        GPU runs). The scheduler step and the latents x stay fp32."""
        if self.device.type in ("cuda", "cpu") and self.dtype in (torch.bfloat16, torch.float16):
            return torch.autocast(self.device.type, dtype=self.dtype)
        import contextlib

        return contextlib.nullcontext()

    def _vae_autocast(self):
        """The VAE runs in fp32 under fp16 (SVD's VAE overflows in fp16; diffusers upcasts it too),
        in the compute dtype otherwise."""
        if self.dtype == torch.float16:
            import contextlib

            return contextlib.nullcontext()
        return self._autocast()

    def cast_weights(self) -> "LipSyncPipeline":
        """Cast the networks' weights to the compute dtype (UNet, ID-Guider, Whisper, projections);
        the VAE stays fp32 under fp16. Only for a pipeline that owns its model (``from_pretrained``):
        the trainer's validation pipeline keeps the fp32 weights it trains."""
        if self.dtype != torch.float32:
            for name, mod in self.model.named_children():
                if not (name == "vae" and self.dtype == torch.float16):
                    mod.to(self.dtype)
            self._vae_id = None
        return self


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc="lip-sync", unit="step")
