"""Face geometry shared by training and live: landmarks, alignment, crop/uncrop and masks."""
from faces.align import (COVERAGES, TEMPLATE_68, TEMPLATE_ID, AlignedFace, align_face, alignment_matrix,
                         eye_centres, paste_back, paste_box, transform_points, uncrop)
from faces.image import FaceInputError, as_bgr8, read_image
from faces.landmarks import BACKENDS, Face, Landmarker, create_landmarker
from faces.media import Frame, MediaSource
from faces.masks import hull_mask, refine_mask
from faces.model_files import FACE_LANDMARKER, ModelFileError, download_model, find_model

__all__ = [
    "COVERAGES", "TEMPLATE_68", "TEMPLATE_ID", "AlignedFace", "align_face", "alignment_matrix", "eye_centres",
    "paste_back", "paste_box", "transform_points", "uncrop", "FaceInputError", "as_bgr8", "read_image",
    "BACKENDS", "Face", "Landmarker", "create_landmarker", "Frame", "MediaSource", "hull_mask", "refine_mask",
    "FACE_LANDMARKER", "ModelFileError", "download_model", "find_model",
]
