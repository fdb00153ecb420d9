"""Face geometry shared by everything: landmarks, alignment, crop/uncrop, masks, the media reader, crop tensors.

    face.py, landmarks.py  Face and the landmark backends by name (mediapipe_backend.py, dlib_backend.py)
    align.py               the template, similarity alignment, crop and paste-back; masks.py the hull masks
    color.py               colour transfer between crops (the live loop's colour match, training's ct)
    media.py               the one reader of videos, images and image folders; image.py any image as BGR uint8
    tensors.py             aligned crops to network tensors and back
    model_files.py         finding and fetching verified model files; fileio.py crash-safe writes
    cli.py                 what every command line shares; __main__.py is python -m faces, bench.py faces.bench
"""
from faces.align import (COVERAGES, TEMPLATE_68, TEMPLATE_ID, AlignedFace, align_face, alignment_matrix,
                         eye_centres, paste_back, paste_box, transform_points, uncrop)
from faces.face import Face, Landmarker, mouth_open
from faces.image import FaceInputError, as_bgr8, read_image
from faces.landmarks import BACKENDS, create_landmarker
from faces.media import Frame, MediaSource
from faces.masks import hull_mask, refine_mask
from faces.model_files import FACE_LANDMARKER, ModelFileError, download_model, find_model

__all__ = [
    "COVERAGES", "TEMPLATE_68", "TEMPLATE_ID", "AlignedFace", "align_face", "alignment_matrix", "eye_centres",
    "paste_back", "paste_box", "transform_points", "uncrop", "FaceInputError", "as_bgr8", "read_image",
    "BACKENDS", "Face", "Landmarker", "mouth_open", "create_landmarker", "Frame", "MediaSource", "hull_mask",
    "refine_mask",
    "FACE_LANDMARKER", "ModelFileError", "download_model", "find_model",
]
