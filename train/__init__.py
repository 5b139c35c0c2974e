"""Training: SayAnything-style model on diffusers, EDM, DDP, exact resume. Imports manifests and infer only."""
