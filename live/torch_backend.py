"""The PyTorch backend: run a training checkpoint's A->B path directly, for debugging a model before export,
and, on an NVIDIA GPU, in fp16 replayed as a CUDA graph (what python -m evaluation.gpu_bench measures)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from live.inference import BackendError, model_input, model_output


class TorchBackend:
    """A training checkpoint (run folder, checkpoint.pt or a loaded checkpoint dict) run with PyTorch.

    `device`: "cuda" or "cpu" (default: the GPU when there is one). `half` runs the network in fp16 and
    `graphs` captures it once as a CUDA graph for single-face calls (both need CUDA); `threads` sets
    PyTorch's CPU threads.
    """

    def __init__(self, checkpoint: str | Path | dict, direction: str = "a2b", threads: int = 0,
                 device: str | None = None, half: bool = False, graphs: bool = False):
        import torch

        from export.source import ExportError, load_source

        try:
            source = load_source(checkpoint)
        except ExportError as exc:
            raise BackendError(str(exc)) from None
        self._torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if (half or graphs or self.device.type == "cuda") and not torch.cuda.is_available():
            raise BackendError("fp16 and CUDA graphs need a CUDA GPU, and PyTorch sees none here "
                               "(torch.cuda.is_available() is False)")
        if threads and self.device.type == "cpu":
            torch.set_num_threads(threads)
        self.dtype = torch.float16 if half else torch.float32
        self.module = source.model.path(direction).to(self.device, self.dtype).eval()
        try:
            self.contract = source.contract(direction, batch="dynamic",
                                            checkpoint="in memory" if isinstance(checkpoint, dict) else str(checkpoint))
        except ExportError as exc:
            raise BackendError(str(exc)) from None
        self._graph = self._capture() if graphs else None
        what = "in-memory checkpoint" if isinstance(checkpoint, dict) else f"checkpoint {Path(checkpoint).name}"
        mode = ", ".join(m for m, on in (("fp16", half), ("CUDA graph", graphs)) if on)
        self.name = f"torch {self.device.type}{f' ({mode})' if mode else ''} ({what}, step {source.steps})"

    def _capture(self):
        """Record one single-face forward pass as a CUDA graph: (graph, static input, static outputs)."""
        torch = self._torch
        torch.backends.cudnn.benchmark = True  # the input shape never changes: let cuDNN pick the fastest kernels
        r = self.contract.resolution
        static_in = torch.zeros((1, 3, r, r), device=self.device, dtype=self.dtype)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(3):  # warm-up: cuDNN picks its kernels before capture
                self.module(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(graph):  # PyTorch's documented capture pattern
            static_out = self.module(static_in)
        return graph, static_in, static_out

    def forward(self, x):
        """The network on a device tensor (N, 3, R, R): the CUDA graph for one face when captured, else eager."""
        torch = self._torch
        if self._graph is not None and x.shape[0] == 1:
            graph, static_in, static_out = self._graph
            static_in.copy_(x)
            graph.replay()
            return static_out
        with torch.inference_mode():
            return self.module(x)

    def run(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the checkpoint's swap path on a batch of BGR uint8 crops."""
        x = self._torch.from_numpy(model_input(crops, self.contract)).to(self.device, self.dtype)
        face, mask = self.forward(x)
        return model_output(face.float().cpu().numpy(), mask.float().cpu().numpy(), self.contract)
