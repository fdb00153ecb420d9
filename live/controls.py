"""What a user may change while the loop runs, from the control page or the window's keys: checked, applied on
the next frame, and saved for the next start.

A change is a JSON object of setting names and values (`CONTROLS` lists them with their types);
anything else is refused with one line and the loop goes on. A model is named by its file name in
the models folder, nothing else: it loads beside the running one, and takes over on a frame boundary
only once it has loaded and passed its contract check. The disclosure label is not a control: turning
it off stays a command-line act.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import platformdirs

from faces.fileio import atomic_write_bytes
from faces.color import COLOR_TRANSFERS
from live.composite import MASK_MODES
from live.swapper import FACE_MODES, FaceSwapper, SwapSettings

# control -> (where it lives: "swap" or "composite", JSON type(s), allowed values or (low, high))
CONTROLS: dict[str, tuple[str, tuple[type, ...], tuple]] = {
    "swap": ("swap", (bool,), (True, False)),
    "faces": ("swap", (str,), FACE_MODES),
    "smoothing": ("swap", (bool,), (True, False)),
    "smoothing_strength": ("swap", (int, float), (0.0, 1.0)),
    "color": ("composite", (str,), tuple(COLOR_TRANSFERS)),
    "mask": ("composite", (str,), tuple(MASK_MODES)),
    "erode": ("composite", (int, float), (-20.0, 20.0)),
    "feather": ("composite", (int, float), (0.0, 30.0)),
    "opacity": ("composite", (int, float), (0.0, 1.0)),
    "mouth": ("composite", (bool,), (True, False)),
    "mouth_size": ("composite", (int, float), (0.5, 3.0)),
    "sharpen": ("composite", (int, float), (0.0, 3.0)),
}
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,120}\.onnx$")


class ControlError(ValueError):
    """A control message that cannot be applied; the message is one line for the user."""


def settings_path() -> Path:
    """Where the live settings are kept between runs (the per-user config folder)."""
    return platformdirs.user_config_path("swapcam", appauthor=False) / "live.json"


def saved_settings(path: Path | None) -> dict:
    """The controls saved by an earlier run (only known ones, each checked; a broken file counts as none)."""
    if path is None or not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    kept = {}
    for name, value in raw.items():
        try:
            kept[name] = check(name, value)
        except ControlError:
            continue
    return kept


def check(name: str, value):
    """`value` for control `name` when it is of the right type and in range, else ControlError."""
    if name not in CONTROLS:
        raise ControlError(f"unknown control {name!r}; known: {', '.join(CONTROLS)}")
    _, types, allowed = CONTROLS[name]
    if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
        raise ControlError(f"{name} takes {' or '.join(t.__name__ for t in types)}, not {type(value).__name__}")
    if float in types:
        if not allowed[0] <= value <= allowed[1]:
            raise ControlError(f"{name} must be between {allowed[0]:g} and {allowed[1]:g}, not {value}")
        return float(value)
    if value not in allowed:
        raise ControlError(f"{name} must be one of {', '.join(map(str, allowed))}, not {value!r}")
    return value


def apply(settings: SwapSettings, changes: dict) -> SwapSettings:
    """`settings` with the (checked) `changes` applied."""
    swap = {k: v for k, v in changes.items() if CONTROLS[k][0] == "swap"}
    composite = {k: v for k, v in changes.items() if CONTROLS[k][0] == "composite"}
    return replace(settings, **swap, composite=replace(settings.composite, **composite))


def current(settings: SwapSettings) -> dict:
    """The controls' values in `settings`."""
    flat = {**asdict(settings), **asdict(settings.composite)}
    return {name: flat[name] for name in CONTROLS}


class LiveControls:
    """The running loop's controls: `change` settings, `switch_model`, and what the page shows (`state`).

    `load_backend(path)` makes an inference backend for a model file (raising with one line when it
    cannot); `models_dir` is the folder the page may pick models from (None: no switching).
    """

    def __init__(self, swapper: FaceSwapper, load_backend: Callable[[Path], object], models_dir: Path | None,
                 model: Path | None, store: Path | None = None, log: Callable[[str], None] = print):
        self.swapper, self.load_backend, self.models_dir, self.store, self.log = swapper, load_backend, models_dir, \
            store, log
        self.model = model.name if model is not None else None
        self.model_status = "running"
        self._lock = threading.Lock()
        self._loading: threading.Thread | None = None

    def change(self, message: dict) -> dict:
        """Apply a {control: value} message on the next frame, save it, and return the new state."""
        if not isinstance(message, dict) or not message:
            raise ControlError("a change is a JSON object of controls and values")
        changes = {name: check(name, value) for name, value in message.items()}
        with self._lock:
            try:
                settings = apply(self.swapper.settings, changes)
            except ValueError as exc:
                raise ControlError(str(exc)) from None
            self.swapper.update(settings)
            self.save()
        return self.state()

    def toggle(self, name: str) -> None:
        """Flip an on/off control (the window's keys)."""
        self.change({name: not current(self.swapper.settings)[name]})

    def cycle(self, name: str) -> None:
        """Step a control with named values to its next value (the window's keys)."""
        values = CONTROLS[name][2]
        now = current(self.swapper.settings)[name]
        self.change({name: values[(values.index(now) + 1) % len(values)]})

    def models(self) -> list[str]:
        """The model files the page may switch to: the .onnx files directly in the models folder."""
        if self.models_dir is None or not self.models_dir.is_dir():
            return []
        return sorted(p.name for p in self.models_dir.iterdir() if p.is_file() and MODEL_NAME.match(p.name))

    def switch_model(self, name) -> dict:
        """Start loading model `name` (a file name in the models folder) beside the running one; it takes over
        on a frame boundary once it loads and passes its contract check. Returns the state."""
        if not isinstance(name, str) or not MODEL_NAME.match(name) or name not in self.models():
            raise ControlError(f"no model {name!r} in the models folder (give one of its .onnx file names)")
        with self._lock:
            if self._loading is not None and self._loading.is_alive():
                raise ControlError("a model is loading already; try again when it has")
            self.model_status = f"loading {name}"
            self._loading = threading.Thread(target=self._load, args=(name,), name="model-load", daemon=True)
            self._loading.start()
        return self.state()

    def next_model(self) -> None:
        """Switch to the model after the running one in the folder (the window's keys)."""
        names = self.models()
        if names:
            index = names.index(self.model) + 1 if self.model in names else 0
            self.switch_model(names[index % len(names)])

    def _load(self, name: str) -> None:
        path = self.models_dir / name
        try:
            backend = self.load_backend(path)
        except Exception as exc:  # a refused file leaves the running model in place
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            with self._lock:
                self.model_status = f"refused {name}: {first}"
            self.log(f"control: model {name} refused: {first}")
            return
        self.swapper.use_backend(backend)
        with self._lock:
            self.model, self.model_status = name, "running"
        self.log(f"control: switched to model {name}")

    def wait_for_model(self, timeout: float | None = None) -> None:
        """Wait for a model that is loading (tests, and a clean exit)."""
        if self._loading is not None:
            self._loading.join(timeout)

    def state(self) -> dict:
        """What the page shows: every control's value, the models, the running model and its status."""
        return {"controls": current(self.swapper.settings), "models": self.models(), "model": self.model,
                "model_status": self.model_status, "limits": {k: list(v[2]) for k, v in CONTROLS.items()}}

    def save(self) -> None:
        """Keep the controls for the next start (a failed write is reported, never fatal)."""
        if self.store is None:
            return
        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.store, json.dumps(current(self.swapper.settings), indent=1).encode("utf-8"))
        except OSError as exc:
            self.log(f"control: settings not saved to {self.store} ({exc.strerror or exc})")
