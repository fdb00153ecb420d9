"""The PyTorch backend: run a training checkpoint's A->B path directly, for debugging a model before export."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from export.contract import ModelContract
from live.backends import BackendError, from_model_output, to_model_input


class TorchBackend:
    """A training checkpoint (run folder or checkpoint.pt) run with PyTorch, on the GPU when there is one."""

    def __init__(self, checkpoint: str | Path, direction: str = "a2b"):
        import torch

        from export.source import ExportError, load_source

        try:
            source = load_source(checkpoint)
        except ExportError as exc:
            raise BackendError(str(exc)) from None
        self._torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.module = source.model.path(direction).to(self.device).eval()
        self.contract = ModelContract(
            resolution=source.resolution, coverage=source.coverage, template_id=source.template_id,
            identities=source.path_identities(direction), direction=direction, batch="dynamic",
            steps=source.steps, preset=source.preset, extra={"checkpoint": str(checkpoint)})
        self.contract.validate()
        self.name = f"torch {self.device.type} (checkpoint {Path(checkpoint).name}, step {source.steps})"

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the checkpoint's swap path on a batch of BGR uint8 crops."""
        torch = self._torch
        x = torch.from_numpy(to_model_input(crops, self.contract)).to(self.device)
        with torch.inference_mode():
            face, mask = self.module(x)
        return from_model_output(face.cpu().numpy(), mask.cpu().numpy(), self.contract)
