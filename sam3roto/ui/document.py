"""The open project as the window sees it: project, media, mask store, current frame,
active object and tool, with an undo stack. Views read it and send it intents; it emits
signals when something changed. Edits go through undo commands."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from sam3roto.core.depthcache import DepthCache
from sam3roto.core.maskstore import MaskStore
from sam3roto.core.project import Keyframe, Project, object_name
from sam3roto.core.project_io import depth_cache_dir, load_project, open_mask_store, project_file, save_project
from sam3roto.core.strokes import Stroke, TouchUp, apply_to_mask
from sam3roto.core.types import BoxPrompt, PointPrompt, Prompt
from sam3roto.errors import ProjectError
from sam3roto.media.cache import CachedReader
from sam3roto.media.colour import ColourError, ColourSource, plates_of
from sam3roto.media.source import FrameSource
from sam3roto.pipeline.shot import new_project, open_shot_media

TOOLS = ("point+", "point-", "box", "brush", "shape")
#: What the brush and shape tools paint: ``correction`` edits the frame's mask (a keyframe
#: tracking anchors on), ``touch-up`` paints over the final matte without re-tracking.
LAYERS = ("correction", "touch-up")


class Document(QObject):
    """One project open in the window. ``path`` is None until the first save: the mask
    store and autosave then live in the user's data folder, never beside the media
    (:mod:`sam3roto.core.workspace`)."""

    frameChanged = Signal(int)
    projectChanged = Signal()  # objects, names, colours, visibility, settings
    promptsChanged = Signal()
    masksChanged = Signal()
    activeChanged = Signal()
    dirtyChanged = Signal(bool)
    pathChanged = Signal()

    def __init__(self, project: Project, source: FrameSource, path: Path | None, store: MaskStore) -> None:
        super().__init__()
        self.project = project
        self.source = source
        self.path = path
        self.store = store
        #: held while an edit changes the project and while a job reserves an object id
        #: (:meth:`reserve_object_id`): an id is never handed out twice
        self.id_lock = threading.Lock()
        # the reader decodes plates as stored; image() converts them for the models and
        # analysis, the viewer for the display (sam3roto.media.colour)
        plate, _ = plates_of(source)
        self.reader = CachedReader(plate, budget_bytes=24 * plate.info.frame_bytes, ahead=4, behind=4)
        self._analysis: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self.frame = project.shot.in_index if project.shot is not None else 0
        self.tool = "point+"
        self.paint_mode = "add"  # brush and shape tools: "add" or "subtract" (right button: the other)
        self.paint_layer = "correction"  # see LAYERS
        self.touch_range = "frame"  # touch-ups apply to this "frame" or the "in-out" range
        #: why the plates are read in another colour space than the project says (its
        #: name is not in this machine's OpenColorIO config), for the window to tell
        self.colour_note: str | None = None
        self.brush_radius = 12.0  # source pixels
        self.brush_softness = 0.0
        self.undo = QUndoStack(self)
        self._depth: DepthCache | None = None
        self._modified = False  # changes kept outside the undo stack (render and depth settings)
        self._was_dirty = self.dirty
        self.undo.cleanChanged.connect(self._dirty_maybe_changed)
        self.projectChanged.connect(self._dirty_maybe_changed)
        self._bind()
        if project.active_object is None and project.objects:
            project.active_object = project.objects[0].id

    def _bind(self) -> None:
        # the store asks the live project (undo and recovery replace its objects) for the
        # uid of an object it writes masks for, so masks never attach to another object
        self.store.bind(self.project.uid, lambda obj_id: self.project.object_uid(obj_id), self.project.store_token)

    # -- opening and saving -----------------------------------------------------------------
    @classmethod
    def open_media(cls, media: str | Path, project_path: str | Path | None = None) -> Document:
        """A new project on ``media``: unsaved (its masks and autosave in the user's data
        folder) unless ``project_path`` is given, where it is saved at once."""
        from sam3roto.core.workspace import new_unsaved

        project, source = new_project(media)
        try:
            if project_path is None:
                return cls(project, source, None, new_unsaved(project))
            if project_file(project_path).exists():
                raise ProjectError("a project file is already there; open it, or choose another name",
                                   path=project_file(project_path))
            path = save_project(project, project_path)
            return cls(project, source, path, open_mask_store(path, project))
        except BaseException:
            source.close()
            raise

    @classmethod
    def open_project(cls, path: str | Path, *, from_autosave: bool = False) -> Document:
        """The project saved at ``path`` (its autosave's content with ``from_autosave``)."""
        project = load_project(path, from_autosave=from_autosave)
        store = open_mask_store(path, project)
        source, note = _open_shot_media(project)
        doc = cls(project, source, Path(path), store)
        doc.colour_note = note
        if from_autosave or note:
            doc.mark_modified()  # the recovered state (or the new colour space) is not in the project file yet
        return doc

    @classmethod
    def open_unsaved(cls, unsaved: Any) -> Document:
        """An unsaved project recovered from the data folder (a :class:`UnsavedProject`)."""
        from sam3roto.core.workspace import recover_unsaved

        project, store = recover_unsaved(unsaved)
        source, note = _open_shot_media(project)
        doc = cls(project, source, None, store)
        doc.colour_note = note
        return doc

    @property
    def title(self) -> str:
        return self.path.name if self.path is not None else "untitled"

    @property
    def dirty(self) -> bool:
        """Work that is not in a project file: edits since the last save, or any object of
        a project never saved."""
        unsaved_work = self.path is None and bool(self.project.objects or self.project.keyframes)
        return unsaved_work or self._modified or not self.undo.isClean()

    def _dirty_maybe_changed(self, *args: object) -> None:
        try:
            dirty = self.dirty
        except RuntimeError:  # the undo stack is being destroyed with the document
            return
        if dirty != self._was_dirty:
            self._was_dirty = dirty
            self.dirtyChanged.emit(dirty)

    def mark_modified(self) -> None:
        """A change outside the undo stack (render or depth settings) that a save keeps."""
        self._modified = True
        self._dirty_maybe_changed()

    def save(self, path: str | Path | None = None) -> Path:
        """Save atomically, with the masks (to ``path`` when given: Save As moves them along,
        as does the first save of an unsaved project)."""
        from sam3roto.core.workspace import save_with_store

        target = project_file(path) if path is not None else self.path
        if target is None:
            raise ValueError("the project has no file yet: save it as")
        moved = self.path is None or target.resolve() != self.path.resolve()
        self.path = save_with_store(self.project, self.store, target, self.path)
        self._modified = False
        self.undo.setClean()
        self._dirty_maybe_changed()
        if moved:
            self._depth = None
            self.pathChanged.emit()
        return self.path

    def autosave(self) -> Path:
        """Write the recovery copy: beside the project file, or in the unsaved folder."""
        from sam3roto.core.project_io import autosave
        from sam3roto.core.workspace import autosave_unsaved

        return autosave_unsaved(self.project) if self.path is None else autosave(self.project, self.path)

    def discard(self) -> None:
        """Throw away what was not saved: an unsaved project's folder (masks, autosave)."""
        from sam3roto.core.workspace import discard_unsaved

        if self.path is None:
            discard_unsaved(self.project.uid)

    def close(self) -> None:
        """Close the media. An unsaved project without objects leaves nothing behind."""
        self.reader.close()
        self.source.close()
        if self.path is None and not (self.project.objects or self.project.keyframes):
            self.discard()

    # -- state ------------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        return self.source.info.frame_count

    def frame_number(self, index: int | None = None) -> int:
        return self.source.info.frame_numbers[self.frame if index is None else index]

    def set_frame(self, index: int) -> None:
        index = max(0, min(self.frame_count - 1, int(index)))
        if index != self.frame:
            self.frame = index
            self.frameChanged.emit(index)

    def image(self, index: int | None = None) -> np.ndarray:
        """Frame ``index`` (default: the current one) as the models and the post stack
        see it: converted from the shot's input colour space to sRGB (the plate itself
        when that converts nothing; the last few conversions are kept)."""
        index = self.frame if index is None else index
        plate = self.reader.get(index)
        source = self.colour_source()
        if source is None or source.to_model.passes(plate):
            return plate
        key = (source.input_space, index)
        out = self._analysis.get(key)
        if out is None:
            out = self._analysis[key] = source.to_model(plate)
            while len(self._analysis) > 4:
                self._analysis.popitem(last=False)
        return out

    def plate(self, index: int | None = None) -> np.ndarray:
        """Frame ``index`` as the media stores it, in :meth:`input_colorspace` (the viewer
        shows it through the display transform)."""
        return self.reader.get(self.frame if index is None else index)

    def colour_source(self) -> ColourSource | None:
        """The source's colour wrapper, following the shot's input colour space (an
        undo or a reload may have changed it); None for a source without one."""
        source = self.source
        if not isinstance(source, ColourSource):
            return None
        wanted = self.project.shot.input_colorspace if self.project.shot is not None else None
        if wanted and wanted != source.input_space:
            source = self.source = ColourSource(source.plate, source.config, wanted)
        return source

    def input_colorspace(self) -> str | None:
        source = self.colour_source()
        return source.input_space if source is not None else None

    def set_input_colorspace(self, name: str) -> None:
        """The plates are in colour space ``name`` (kept in the project like the render
        settings, outside the undo stack): the models, analysis and viewer convert from it.
        An unknown name raises :class:`~sam3roto.media.colour.ColourError`."""
        source = self.colour_source()
        shot = self.project.shot
        if source is None or shot is None:
            return
        name = source.config.resolve(name, "input colour space")
        if name == source.input_space and shot.input_colorspace == name:
            return
        with self.id_lock:
            shot.input_colorspace = name
        self.colour_source()
        self.mark_modified()
        self.projectChanged.emit()

    def active(self) -> Any:
        if self.project.active_object is None:
            return None
        try:
            return self.project.object(self.project.active_object)
        except KeyError:
            return None

    def set_active(self, obj_id: int | None) -> None:
        self.project.active_object = obj_id
        self.activeChanged.emit()

    def depth_cache(self) -> DepthCache | None:
        """The project's depth cache (one instance per project file, so what it has read
        stays cached); None before the project has a file."""
        if self.path is None:
            return None
        root = depth_cache_dir(self.path)
        if self._depth is None or self._depth.root != root:
            self._depth = DepthCache(root)
        return self._depth

    def depth_rewritten(self) -> None:
        """A depth run replaced the cache on disk: forget what the reader holds."""
        self._depth = None

    def prompts(self, obj_id: int | None = None, index: int | None = None) -> list[Prompt]:
        obj = self.project.active_object if obj_id is None else obj_id
        if obj is None:
            return []
        key = self.project.keyframe(obj, self.frame if index is None else index)
        return list(key.prompts) if key is not None else []

    def snapshot(self) -> Project:
        """A deep copy of the project for a worker thread (the window keeps editing its own)."""
        return copy.deepcopy(self.project)  # no round trip through from_dict: its checks are for files

    # -- edits (undoable) -------------------------------------------------------------------
    def add_object(self, name: str | None = None) -> None:
        self.undo.push(_ProjectEdit(self, "add object", lambda p: _add(p, name)))

    def remove_object(self, obj_id: int) -> None:
        self.undo.push(_ProjectEdit(self, "remove object", lambda p: p.remove_object(obj_id)))

    def rename_object(self, obj_id: int, name: str) -> None:
        name = object_name(name)  # names become file names; a longer one would not load again
        self.undo.push(_ProjectEdit(self, "rename object", lambda p: setattr(p.object(obj_id), "name", name)))

    def set_colour(self, obj_id: int, colour: tuple[int, int, int]) -> None:
        self.undo.push(_ProjectEdit(self, "colour", lambda p: setattr(p.object(obj_id), "color", tuple(colour))))

    def set_visible(self, obj_id: int, visible: bool) -> None:
        self.undo.push(_ProjectEdit(self, "visibility", lambda p: setattr(p.object(obj_id), "visible", visible)))

    def set_post(self, obj_id: int, values: dict[str, Any]) -> None:
        self.undo.push(_ProjectEdit(self, "matte settings", lambda p: setattr(p.object(obj_id), "post", dict(values)),
                                    merge_key=f"post-{obj_id}"))

    def set_post_key(self, obj_id: int, frame: int, values: dict[str, Any]) -> None:
        """Key ``obj_id``'s matte settings on frame index ``frame`` (``values``: a
        ``PostSettings.to_dict``); consecutive edits of one key are one undo step."""
        def change(p: Project) -> None:
            obj = p.object(obj_id)
            obj.post_keys[frame] = dict(values)
            if "premultiply" in values:  # it names the files a render writes: one choice for the shot
                for other in obj.post_keys.values():
                    other["premultiply"] = values["premultiply"]
                obj.post["premultiply"] = values["premultiply"]

        self.undo.push(_ProjectEdit(self, "key matte settings", change, merge_key=f"post-key-{obj_id}-{frame}"))

    def remove_post_key(self, obj_id: int, frame: int) -> None:
        """Remove ``obj_id``'s matte settings key on ``frame`` (nothing when there is none)."""
        if frame in self.project.object(obj_id).post_keys:
            self.undo.push(_ProjectEdit(self, "remove matte key",
                                        lambda p: p.object(obj_id).post_keys.pop(frame, None)))

    def remember_render(self, values: dict[str, Any]) -> None:
        """Keep the window's render choices in the project's ``render`` settings (merged
        over what is there), where command-line and farm renders read their defaults."""
        saved = self.project.settings.get("render")
        merged = {**(saved if isinstance(saved, dict) else {}), **values}
        if merged != saved:
            self.project.settings["render"] = merged
            self.mark_modified()

    def remember_depth(self, values: dict[str, Any]) -> None:
        """Keep the Depth tab's options in the project's ``depth`` settings."""
        if self.project.settings.get("depth") != values:
            self.project.settings["depth"] = dict(values)
            self.mark_modified()

    def set_prompts(self, prompts: list[Prompt], obj_id: int | None = None, index: int | None = None) -> None:
        obj = self.project.active_object if obj_id is None else obj_id
        if obj is None:
            self.add_object()
            obj = self.project.active_object
        frame = self.frame if index is None else index
        self.undo.push(_ProjectEdit(self, "prompts", lambda p: p.set_prompts(obj, frame, list(prompts)),
                                    prompts=True))

    def add_click(self, x: float, y: float, positive: bool) -> None:
        self.set_prompts([*self.prompts(), PointPrompt(x, y, positive)])

    def add_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        others = [p for p in self.prompts() if not isinstance(p, BoxPrompt)]
        self.set_prompts([*others, BoxPrompt(x0, y0, x1, y1)])

    def set_in_out(self, *, in_index: int | None = None, out_index: int | None = None) -> None:
        """Set the shot's in or out point (tracking and rendering cover in..out)."""
        def change(p: Project) -> None:
            shot = p.shot
            if shot is None:
                return
            if in_index is not None:
                shot.in_index = min(in_index, shot.frame_range.stop - 1)
            if out_index is not None:
                shot.out_index = max(out_index, shot.in_index)

        self.undo.push(_ProjectEdit(self, "in/out", change))

    def set_absent(self, first: int, last: int, absent: bool = True, obj_id: int | None = None) -> None:
        """Mark frames ``first..last`` as out of shot for the active object (or ``obj_id``):
        the masks stored there become empty at once; clearing the mark makes those frames
        out of date, so the next Track changes (Ctrl+T) tracks them."""
        obj = self.project.active_object if obj_id is None else obj_id
        if obj is None:
            return
        self.undo.push(_ProjectEdit(self, "out of shot" if absent else "in shot",
                                    lambda p: p.set_absent(obj, first, last, absent)))
        if absent:
            from sam3roto.core.tracking import TrackBasis

            basis = TrackBasis(self.project, obj)
            shot = self.project.shot
            assert shot is not None
            empty = np.zeros((shot.height, shot.width), dtype=bool)
            frames = [f for f in self.store.frames(obj) if first <= f <= last]
            for f in frames:
                self.store.put(obj, f, empty)
            self.store.record_track(obj, {f: (None, basis.of(f)) for f in frames})
            self.masksChanged.emit()

    def tracked(self, obj_ids: list[int], before: Path, after: Path) -> None:
        """Record a finished tracking run (mask snapshots of ``obj_ids`` from before and
        after it) as one undo step."""
        self.undo.push(_TrackEdit(self, obj_ids, before, after))

    def use_key_mask(self, mask: np.ndarray) -> None:
        """``mask`` (``bool (H, W)``) becomes the active object's key mask on this frame
        (a new object when none is active); tracking anchors on it."""
        if self.active() is None:
            self.add_object()
        obj_id, frame = self.project.active_object, self.frame
        assert obj_id is not None
        self.store.key_masks().put(obj_id, frame, mask)
        strokes = self.strokes(obj_id, frame)  # a painted keyframe keeps its strokes over the new key mask
        self.store.put(obj_id, frame, apply_to_mask(mask, strokes, mask.shape) if strokes else mask)
        self.undo.push(_ProjectEdit(self, "key mask", lambda p: p.set_key_mask(obj_id, frame), prompts=True))
        self.masksChanged.emit()

    # -- painting ---------------------------------------------------------------------------
    def paint(self, stroke: Stroke, layer: str | None = None) -> None:
        """Paint ``stroke`` (source pixels) for the active object (a new object when none
        is active) on this frame, as one undo step.

        ``correction`` (the default layer, see :data:`LAYERS`): the stroke edits this
        frame's mask. The frame becomes a keyframe whose key mask is the mask painted over
        (captured at the first stroke) and whose strokes are painted over it; tracking
        anchors on the result, and Track changes (Ctrl+T) re-tracks only the stretch it
        affects. ``touch-up``: the stroke paints over the final matte after post on this
        frame (or the in..out range, :attr:`touch_range`), without re-tracking. (Painting
        with no active object first adds one, its own undo step.)"""
        layer = layer or self.paint_layer
        if layer not in LAYERS:
            raise ValueError(f"unknown paint layer {layer!r}")
        if self.active() is None:
            self.add_object()
        obj_id, frame = self.project.active_object, self.frame
        assert obj_id is not None
        if layer == "correction" and stroke.softness:
            # a correction edits a mask, which has no soft edge: painted hard, as it is shown
            stroke = Stroke(stroke.kind, stroke.mode, stroke.points, radius=stroke.radius, pressure=stroke.pressure)
        if layer == "touch-up":
            first, last = (frame, frame)
            if self.touch_range == "in-out" and self.project.shot is not None:
                rng = self.project.shot.frame_range
                first, last = rng.start, rng.stop - 1
            self.undo.push(_StrokeEdit(self, obj_id, frame, "touch-up",
                                       lambda p: p.add_touchup(obj_id, first, last, stroke), correction=False))
            return
        key = self.project.keyframe(obj_id, frame)
        had_mask = True
        if key is None or not key.mask:  # the mask painted over becomes the key mask (the base)
            base = self.store.get(obj_id, frame)
            had_mask = base is not None
            shape = (self.source.info.height, self.source.info.width)
            self.store.key_masks().put(obj_id, frame, base if base is not None else np.zeros(shape, bool))
        strokes = [*(key.strokes if key is not None else []), stroke]
        self.undo.push(_StrokeEdit(self, obj_id, frame, "brush" if stroke.kind == "brush" else "shape",
                                   lambda p: p.set_strokes(obj_id, frame, strokes, key_mask=True),
                                   had_mask=had_mask))

    def strokes(self, obj_id: int | None = None, index: int | None = None) -> list[Stroke]:
        """The correction strokes of the active object (or ``obj_id``) on this frame."""
        obj = self.project.active_object if obj_id is None else obj_id
        key = self.project.keyframe(obj, self.frame if index is None else index) if obj is not None else None
        return list(key.strokes) if key is not None else []

    def clear_paint(self) -> None:
        """Remove the active object's correction strokes on this frame (its mask returns to
        the one painted over) and the touch-ups covering it, as one undo step."""
        obj = self.active()
        if obj is None:
            return
        frame = self.frame
        if self.strokes() or any(t.covers(frame) for t in obj.touchups):
            def change(p: Project) -> None:
                if p.keyframe(obj.id, frame) is not None:
                    p.set_strokes(obj.id, frame, [])
                p.clear_touchups(obj.id, frame)

            self.undo.push(_StrokeEdit(self, obj.id, frame, "clear paint", change))

    def refresh_corrected(self, obj_id: int, frame: int) -> None:
        """Store ``obj_id``'s mask on ``frame`` as its key mask with the strokes painted over
        (the key mask alone when it has no strokes): after a stroke, an undo or a redo."""
        base = self.store.key_masks().get(obj_id, frame)
        if base is None:
            return
        self.store.put(obj_id, frame, apply_to_mask(base, self.strokes(obj_id, frame), base.shape))
        self.masksChanged.emit()

    def adopt_objects(self, ids: list[int], name: str) -> None:
        """Objects a text prompt found (their masks are stored under ``ids``): one object
        per id not in the project yet, named after the text."""
        def add(p: Project) -> None:
            for n, obj_id in enumerate(sorted(ids), start=1):
                if all(o.id != obj_id for o in p.objects):
                    p.next_object_id = max(p.next_object_id, obj_id)
                    p.add_object(object_name(name, f" {n}"))
            if ids:
                p.active_object = sorted(ids)[0]

        self.undo.push(_ProjectEdit(self, "text prompt", add))

    def reserve_object_id(self) -> int:
        """A fresh object id for an object a job makes on a copy of the project (any
        thread): no object made here meanwhile takes it."""
        with self.id_lock:
            obj_id = self.project.next_object_id
            self.project.next_object_id += 1
            return obj_id

    def adopt_found(self, found: Project, ids: list[int]) -> list[int]:
        """Objects a search of the whole shot made in ``found`` (a snapshot the job ran on;
        their masks are stored under ``ids``), with their key-mask keyframes, as one undo
        step. Returns the ids adopted (one whose id was taken meanwhile is left out)."""
        taken = {o.id for o in self.project.objects}
        new = [i for i in ids if i not in taken]

        def add(p: Project) -> None:
            for obj_id in new:
                p.objects.append(copy.deepcopy(found.object(obj_id)))
                p.next_object_id = max(p.next_object_id, obj_id + 1)
                for key in found.keyframes_of(obj_id):
                    p.set_key_mask(obj_id, key.frame)
            if new:
                p.active_object = new[0]

        if new:
            self.undo.push(_ProjectEdit(self, "find in shot", add))
        return new

    def masks_stored(self) -> None:
        self.masksChanged.emit()


def _add(project: Project, name: str | None) -> None:
    obj = project.add_object(name)
    project.active_object = obj.id


def _open_shot_media(project: Project) -> tuple[ColourSource, str | None]:
    """The project's media; when its input colour space is not in the OpenColorIO config
    (a project from another machine's config), the media with the guessed one instead
    (set on the shot) and a sentence saying so: the project still opens."""
    try:
        return open_shot_media(project), None
    except ColourError as exc:
        shot = project.shot
        if shot is None or not shot.input_colorspace:
            raise
        wanted = shot.input_colorspace
        shot.input_colorspace = None
        source = open_shot_media(project)
        shot.input_colorspace = source.input_space
        return source, (f"{exc.message}; the plates are read as {source.input_space} until you choose their "
                        "colour space in View > Colour > Input colour space... (the project said "
                        f"{wanted[:80]!r})")


class _ProjectEdit(QUndoCommand):
    """An edit as a before/after pair of project states (small JSON), so undo and redo are
    exact whatever the edit touched."""

    def __init__(self, doc: Document, text: str, change: Any, *, prompts: bool = False,
                 merge_key: str | None = None) -> None:
        super().__init__(text)
        self.doc, self.prompts_edit, self.merge_key = doc, prompts, merge_key
        with doc.id_lock:
            self.before = copy.deepcopy(doc.project.to_dict())
            change(doc.project)
            self.after = copy.deepcopy(doc.project.to_dict())
        self.first = True

    def _load(self, state: dict[str, Any]) -> None:
        restored = Project.from_dict(copy.deepcopy(state))
        self.doc.project.objects = restored.objects
        self.doc.project.keyframes = restored.keyframes
        self.doc.project.active_object = restored.active_object
        # an id is never handed out twice, even after undoing the add that took it: the
        # next object must not find the undone object's masks under its id
        with self.doc.id_lock:
            self.doc.project.next_object_id = max(self.doc.project.next_object_id, restored.next_object_id)
        if restored.shot is not None and self.doc.project.shot is not None:
            # the input colour space is set outside the undo stack (like the render
            # settings): undoing an edit made before it was set keeps it
            restored.shot.input_colorspace = self.doc.project.shot.input_colorspace
        self.doc.project.shot = restored.shot
        self.doc.projectChanged.emit()
        if self.prompts_edit:
            self.doc.promptsChanged.emit()

    def redo(self) -> None:
        if self.first:  # the change was applied in __init__; just announce it
            self.first = False
            self.doc.projectChanged.emit()
            if self.prompts_edit:
                self.doc.promptsChanged.emit()
            return
        self._load(self.after)

    def undo(self) -> None:
        self._load(self.before)

    def id(self) -> int:
        return 1 if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        # consecutive slider moves on one object are one undo step
        if isinstance(other, _ProjectEdit) and other.merge_key == self.merge_key and self.merge_key:
            self.after = other.after
            return True
        return False


class _StrokeEdit(QUndoCommand):
    """A stroke, shape or touch-up as an undo step. It keeps only what painting changes,
    the object's keyframe on the frame and its touch-ups, before and after (strokes are
    immutable, so the lists are cheap to keep however many strokes the project holds),
    and brings the frame's stored mask in line with its strokes each way (``correction``).
    ``had_mask`` False: the frame had no stored mask before the first stroke, so undoing
    back to no keyframe removes the one painting stored."""

    def __init__(self, doc: Document, obj_id: int, frame: int, text: str, change: Any, *,
                 correction: bool = True, had_mask: bool = True) -> None:
        super().__init__(text)
        self.doc, self.obj_id, self.frame, self.correction, self.had_mask = doc, obj_id, frame, correction, had_mask
        self.before = self._state()
        change(doc.project)
        self.after = self._state()
        self.first = True

    def _state(self) -> tuple[Keyframe | None, list[TouchUp]]:
        project = self.doc.project
        key = project.keyframe(self.obj_id, self.frame)
        copied = None if key is None else Keyframe(key.object_id, key.frame, list(key.prompts), key.mask,
                                                   list(key.strokes))
        touchups = [TouchUp(t.first, t.last, list(t.strokes)) for t in project.object(self.obj_id).touchups]
        return copied, touchups

    def _load(self, state: tuple[Keyframe | None, list[TouchUp]]) -> None:
        key, touchups = state
        project = self.doc.project
        project.keyframes = [k for k in project.keyframes if not (k.object_id == self.obj_id and k.frame == self.frame)]
        if key is not None:
            project.keyframes.append(Keyframe(key.object_id, key.frame, list(key.prompts), key.mask, list(key.strokes)))
        project.object(self.obj_id).touchups = [TouchUp(t.first, t.last, list(t.strokes)) for t in touchups]

    def redo(self) -> None:
        if self.first:
            self.first = False
        else:
            self._load(self.after)
        self._announce()

    def undo(self) -> None:
        self._load(self.before)
        self._announce()

    def _announce(self) -> None:
        doc = self.doc
        doc.projectChanged.emit()
        if self.correction:  # a keyframe changed (touch-ups change no keyframe: nothing to segment)
            doc.promptsChanged.emit()
        if not self.correction:
            doc.masksChanged.emit()  # the matte views show touch-ups
        elif not self.had_mask and doc.project.keyframe(self.obj_id, self.frame) is None:
            doc.store.delete(self.obj_id, self.frame)  # back to no mask, as before the first stroke
            doc.masksChanged.emit()
        else:
            doc.refresh_corrected(self.obj_id, self.frame)


class _TrackEdit(QUndoCommand):
    """Tracking results as an undo step: the tracked objects' mask folders before and after."""

    def __init__(self, doc: Document, obj_ids: list[int], before: Path, after: Path) -> None:
        super().__init__("track")
        self.doc, self.obj_ids, self.before, self.after = doc, obj_ids, before, after
        self.first = True

    def redo(self) -> None:
        if self.first:
            self.first = False
            return
        self.doc.store.restore(self.obj_ids, self.after)
        self.doc.masksChanged.emit()

    def undo(self) -> None:
        self.doc.store.restore(self.obj_ids, self.before)
        self.doc.masksChanged.emit()
