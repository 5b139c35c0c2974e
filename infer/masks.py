"""Mask rendering shared with curation: training and inference draw the lip mask exactly as the
face stages did. ``train`` may not import ``pipeline``, so it reaches the function through here.

``render_masks(rects, size)``: rects (T, 4) x0 y0 x1 y1 in crop pixels -> (T, size, size)
float32 in {0, 1}, 1 where the pixel centre lies in [x0, x1) x [y0, y1).
"""
from pipeline.faces.masks import render_masks

__all__ = ["render_masks"]
