"""Inference: model, EDM scheduler, LipSyncPipeline, batch jobs, evaluation."""
