"""The PyTorch backend: run a training checkpoint's A->B path directly, for debugging a model before export,
and, on an NVIDIA GPU, in fp16 replayed as a CUDA graph (what python -m evaluation.gpu_bench measures).

On the GPU the backend also pastes the swapped face back into the frame (`paste`): the same premultiplied
blend as `faces.paste_back`, its two warps done by `grid_sample` on the face's box. On 2 CPU cores that
paste is the largest part of compositing (about 3 ms for a 256 px face in a 1080p frame); on the GPU
it is the copy of the box there and back.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np

from faces.align import paste_inputs
from live.inference import BackendError, model_input, model_output


class TorchBackend:
    """A training checkpoint (run folder, checkpoint.pt or a loaded checkpoint dict) run with PyTorch.

    `device`: "cuda" or "cpu" (default: the GPU when there is one). `half` runs the network in fp16 and
    `graphs` captures it once as a CUDA graph for single-face calls (both need CUDA); `threads` sets
    PyTorch's CPU threads. On CUDA, `paste` pastes faces back on the GPU (`gpu_paste=False`: None, and the
    swap stage pastes with OpenCV on the CPU).
    """

    def __init__(self, checkpoint: str | Path | dict, direction: str = "a2b", threads: int = 0,
                 device: str | None = None, half: bool = False, graphs: bool = False, gpu_paste: bool = True):
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
        self.paste = None
        if gpu_paste and self.device.type == "cuda":
            device, stream = self.device, torch.cuda.Stream(self.device)  # not behind the next frame's early model run
            self.paste = lambda frame, crop, mask, inverse, box: torch_paste_back(frame, crop, mask, inverse, box,
                                                                                  device, stream)
        what = "in-memory checkpoint" if isinstance(checkpoint, dict) else f"checkpoint {Path(checkpoint).name}"
        mode = ", ".join(m for m, on in (("fp16", half), ("CUDA graph", graphs), ("paste on the GPU", self.paste))
                         if on)
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


def torch_paste_back(frame: np.ndarray, crop: np.ndarray, mask: np.ndarray, inverse: np.ndarray,
                     box: tuple[int, int, int, int], device, stream=None) -> None:
    """`faces.paste_back` with PyTorch on `device`, in place into `frame` inside `box` (x0, y0, x1, y1).

    The same blend in the same whole levels: the crop premultiplied by its mask (in 1/255 steps), both warped
    into the box (bicubic for the pixels, bilinear for the mask, as `PIXELS` and `MASKS`; zero outside the
    crop), frame * (1 - mask) + crop. OpenCV's warps step the source position in 1/32 px, this one does not,
    so a pixel can differ by a level or two. `stream`: a CUDA stream of its own, so that the paste does not wait
    for the model's work queued on the default stream by another thread.
    """
    import torch
    import torch.nn.functional as F

    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    size = crop.shape[0]
    premultiplied, alpha, shifted = paste_inputs(crop, mask, inverse, box)
    to_crop = cv2.invertAffineTransform(shifted)  # box pixel -> crop pixel, as warpAffine samples
    with torch.inference_mode(), (torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()):
        source = torch.from_numpy(np.dstack([premultiplied, alpha])).to(device, non_blocking=True)
        source = source.permute(2, 0, 1).unsqueeze(0).float()
        roi = torch.from_numpy(frame[y0:y1, x0:x1]).to(device, non_blocking=True).float()
        matrix = torch.as_tensor(to_crop, dtype=torch.float32, device=device)
        ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                                torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
        grid = torch.stack([matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2],
                            matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]], dim=-1)
        grid = (grid * (2.0 / (size - 1)) - 1.0).unsqueeze(0)  # align_corners=True: -1 and 1 are pixel centres
        face = F.grid_sample(source[:, :3], grid, mode="bicubic", padding_mode="zeros", align_corners=True)
        weight = F.grid_sample(source[:, 3:], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        face = face[0].permute(1, 2, 0).round().clamp(0, 255)
        keep = (255.0 - weight[0, 0].round()).clamp(0, 255).unsqueeze(-1)
        out = ((roi * keep / 255.0).round() + face).clamp(0, 255).to(torch.uint8).cpu().numpy()
    frame[y0:y1, x0:x1] = out
