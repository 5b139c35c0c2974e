"""Evaluation metrics of lip-sync outputs (MAR, LipLeak, SSIM/PSNR/LPIPS, FID, sync) and the report."""
from lipforge.infer.eval.metrics import (LIPLEAK_LITE_THRESHOLD, frechet_distance, lip_leak, lip_leak_lite,
                                mouth_aspect_ratio, psnr, ssim)

__all__ = ["LIPLEAK_LITE_THRESHOLD", "frechet_distance", "lip_leak", "lip_leak_lite", "mouth_aspect_ratio",
           "psnr", "ssim"]
