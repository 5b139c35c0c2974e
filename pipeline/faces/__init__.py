"""Faces: detection backends, tracks, landmarks, crops and masks as pure functions.

Curation's stages (pipeline/stages/faces.py, landmarks.py, crop.py) and inference use these same
functions, so a face is prepared at inference exactly as it was in curation. Heavy libraries
(dlib, ultralytics, torch, cv2) are imported inside the functions and classes that use them.
"""
from lipforge.pipeline.faces.boxes import (
    DLIB_HOG_CALIBRATION,
    FOREHEAD_FRAC,
    IDENTITY_CALIBRATION,
    box_from_landmarks,
    box_height,
    box_jump,
    calibrate_boxes,
    largest_box,
    uncalibrate_boxes,
)
from lipforge.pipeline.faces.crop import (
    crop_affine,
    crop_boxes_from_faces,
    crop_frames,
    points_from_crop,
    points_to_crop,
    smooth_boxes,
    uncrop_frames,
)
from lipforge.pipeline.faces.detectors import DlibHogDetector, UltralyticsDetector
from lipforge.pipeline.faces.landmarks import DlibLandmarker, FanLandmarker
from lipforge.pipeline.faces.masks import (
    ADAPTIVE_ALPHA,
    KEYSYNC_NOSE_INDEX,
    adaptive_mask_rects,
    keysync_mask_rects,
    render_masks,
    smooth_forward,
)
from lipforge.pipeline.faces.tracks import TrackPiece, build_tracks, sample_indices, scatter_samples

__all__ = [
    "ADAPTIVE_ALPHA", "DLIB_HOG_CALIBRATION", "FOREHEAD_FRAC", "IDENTITY_CALIBRATION", "KEYSYNC_NOSE_INDEX",
    "DlibHogDetector", "DlibLandmarker", "FanLandmarker", "TrackPiece", "UltralyticsDetector",
    "adaptive_mask_rects", "box_from_landmarks", "box_height", "box_jump", "build_tracks", "calibrate_boxes",
    "crop_affine", "crop_boxes_from_faces", "crop_frames", "keysync_mask_rects", "largest_box",
    "points_from_crop", "points_to_crop", "render_masks", "sample_indices",
    "scatter_samples", "smooth_boxes", "smooth_forward", "uncalibrate_boxes", "uncrop_frames",
]
