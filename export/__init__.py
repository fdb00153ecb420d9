"""Export: a trained checkpoint's swap path as a verified ONNX model the live loop can trust.

    source.py          checkpoint -> network + training facts; faceset crops as network input
    graph.py           torch -> ONNX (opset 17), simplification (onnxslim), onnx.checker
    precision.py       fp32 / fp16 / int8 converters, by name
    parity.py          onnxruntime vs PyTorch on the same faces, limits per precision, verified write
    contract.py        the model contract stored in the file's metadata
    dfm.py             the DeepFaceLab .dfm interface (NHWC, BGR) for DeepFaceLive / facefusion
    tensorrt_build.py  fp16 TensorRT engine + sidecar + timing cache
    tensorrt_engine.py the engine runner used by live/
    onnx_export.py     export_checkpoint(): all of the above in order
    __main__.py        python -m export;  bench.py: python -m export.bench
"""
