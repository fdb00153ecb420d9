"""The live loop behind run_live.py: camera, video or images in; swapped frames out to a virtual camera, window or file.

    sources.py   where frames come from (camera, video, image folder, a moving photo)
    capture.py   the capture thread: newest frame only, "no signal" frames while a camera reconnects
    tracking.py  One Euro smoothing of landmarks, per tracked face
    inference.py what a backend is (interface, error, tensor conversion by the model contract)
    backends.py  inference backends by name (onnxruntime CPU / CUDA / TensorRT, TensorRT engine, torch_backend.py)
    composite.py colour transfer, masks, paste back, seamless blending, the disclosure label
    swapper.py   the per-frame work in two stages: locate (landmarks + align), swap (infer + composite)
    loop.py      the threads and queues that run it all, status line, clean Ctrl-C
    sinks.py     virtual camera, window, video/image file, null
    profiler.py  per-frame stage timings, percentiles, JSON report (profile_plot.py draws it)
    cli.py       run_live.py's options; bench.py is python -m live.bench (rss.py: its memory figures)
"""
