"""Device housekeeping shared by the engine and the voice fitter."""

from __future__ import annotations

import torch


def release_gpu_memory() -> None:
    """Hand cached CUDA blocks back to the driver (after a fit's autograd buffers, or a failed load),
    so the resident memory reflects the model, not the largest call so far. A no-op without CUDA."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
