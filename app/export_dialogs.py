"""File → Export: the Qt side of app.services.exports (what to take from the Compare tab, file
dialogs,
messages). A before/after image, the evaluation's panes and error maps, and aligned crops of the
viewed region, each a PNG with its provenance in text chunks, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.services import exports


class ExportError(ValueError):
    """Nothing (or not enough) to export; ``str()`` is one line for the user."""


def _lut() -> np.ndarray:
    import pyqtgraph as pg

    from app.views.error_map import COLORMAP

    return pg.colormap.get(COLORMAP).getLookupTable(nPts=256, alpha=False).astype(np.uint8)


def _provenance(compare, what: str, **extra: str) -> exports.Provenance:
    from dataclasses import replace

    prov = compare.score_provenance()
    return replace(prov, extra={"export": what, **extra})


def _stem(compare) -> str:
    name = compare.source.name if compare.source is not None else "image"
    stem = Path(name.split(" vs ")[0]).stem or "image"
    return f"{stem}_x{compare.controls.scale_value():g}"


def _drrn_label(compare) -> str:
    model = compare.controls.model_spec()
    return f"DRRN ({model})" if model else "DRRN"


def _free(path: Path) -> Path:
    """``path``, or ``name-2.png`` ... when it exists: a folder export never replaces a file."""
    from drrn_core.imaging.io import unique_output_path

    return unique_output_path(path)


def export_before_after(compare, path: str | Path, layout: str = "side") -> Path:
    """Bicubic vs DRRN of the whole image, labelled, as PNG at ``path``."""
    return exports.write_all(plan_before_after(compare, path, layout))[0]


def plan_before_after(compare, path: str | Path, layout: str = "side") -> list[exports.Output]:
    """What :func:`export_before_after` writes, composed from the tab's results (GUI thread)."""
    missing = [k for k in ("bicubic", "drrn") if k not in compare.results]
    if missing:
        why = ("DRRN has only previewed the visible region: run it on the whole image first"
               if compare.preview else "there is no DRRN result yet")
        raise ExportError(f"Nothing to export: {why}.")
    before, after = compare.results["bicubic"][0], compare.results["drrn"][0]
    image = exports.before_after(before, after, ("Bicubic", _drrn_label(compare)), layout)
    prov = _provenance(compare, f"before/after ({layout}): bicubic left, DRRN right")
    return [exports.Output(Path(path), image, exports.png_text(prov, "Bicubic vs DRRN"))]


def _error_images(compare, lut: np.ndarray) -> dict[str, np.ndarray]:
    top = float(compare.error_scale.bar.levels()[1])
    out = {}
    for pane in compare.error_panes:
        if pane.error is not None:
            out[pane.key] = exports.colourise(pane.error, top, lut)
    return out


def export_evaluation(compare, folder: str | Path) -> list[Path]:
    """:func:`plan_evaluation`'s files, written."""
    return exports.write_all(plan_evaluation(compare, folder))


def plan_evaluation(compare, folder: str | Path) -> list[exports.Output]:
    """Every pane of the evaluation at output size (the input stretched nearest, as shown), the
    error maps with their colour scale, and one labelled sheet of all, the bicubic and DRRN
    scores under their titles: PNGs in ``folder`` (existing files are never replaced:
    name-2.png ...); every PNG's text chunks name the scores too."""
    from app.tabs.compare import TITLES

    if compare.mode != "evaluate" or "gt" not in compare.results:
        raise ExportError("Nothing to export: evaluate an image against its ground truth first.")
    folder = Path(folder)
    stem, lut = _stem(compare), _lut()
    top = float(compare.error_scale.bar.levels()[1])
    labels = sheet_labels(compare)
    scores = {f"scores {TITLES[k]}": exports.score_label(compare.scores[k])
              for k in ("bicubic", "drrn") if compare.scores.get(k) is not None}
    prov = _provenance(compare, "evaluation panes", error_scale=f"0-{top:g} (Y, 0-255 units)",
                       **scores)
    images: dict[str, np.ndarray] = {}
    for key in ("input", "bicubic", "drrn", "gt"):
        if key in compare.results:
            image, drawn = compare.results[key]
            images[key] = exports.stretch(exports.as_rgb8(image), drawn)
    errors = _error_images(compare, lut)
    written = []
    for key, image in images.items():
        written.append(exports.Output(_free(folder / f"{stem}_{key}.png"), image,
                                      exports.png_text(prov, TITLES[key])))
    for key, image in errors.items():
        written.append(exports.Output(
            _free(folder / f"{stem}_{key}.png"), exports.with_colour_scale(image, top, lut),
            exports.png_text(prov, TITLES[key])))
    rows: list[list[str]] = [[k for k in ("input", "bicubic", "drrn") if k in images],
            ["gt"] + [k for k in ("err_bicubic", "err_drrn") if k in errors]]
    pictures = {**images, **errors}
    last = rows[1][-1]
    if last in errors:  # the sheet's colour scale: right of the last error map
        pictures[last] = exports.with_colour_scale(errors[last], top, lut)
    sheet = exports.stack_rows(
        [exports.labelled_row([pictures[k] for k in row], [labels[k] for k in row])
         for row in rows if row])
    written.append(exports.Output(_free(folder / f"{stem}_panes.png"), sheet,
                                  exports.png_text(prov, "evaluation panes")))
    return written


def sheet_labels(compare) -> dict[str, str]:
    """The evaluation sheet's label of each pane: its title, and under the bicubic and DRRN
    panes their scores against the ground truth (:func:`app.services.exports.score_label`), so the
    figure carries its numbers."""
    from app.tabs.compare import TITLES

    labels = dict(TITLES)
    for key in ("bicubic", "drrn"):
        if compare.scores.get(key) is not None:
            labels[key] = f"{TITLES[key]}\n{exports.score_label(compare.scores[key])}"
    return labels


def export_crops(compare, folder: str | Path) -> list[Path]:
    """:func:`plan_crops`'s files, written."""
    return exports.write_all(plan_crops(compare, folder))


def plan_crops(compare, folder: str | Path) -> list[exports.Output]:
    """The region every pane shows now (the same output pixels in each), cropped from every
    visible pane at output resolution, one PNG each plus a labelled row of all. In a preview
    the region is narrowed to the part DRRN computed. Existing files are never replaced."""
    from app.tabs.compare import TITLES

    view = compare.visible_region()
    size = compare._last_size
    if view is None or size is None or not compare.results:
        raise ExportError("Nothing to export: open an image and let it compute first.")
    x0, y0, x1, y1 = view
    box = (max(x0, 0), max(y0, 0), min(x1, size[0]), min(y1, size[1]))
    patches = [p.patch for p in compare.grid.visible_panes()
               if p.key not in compare.results and p.patch is not None]
    for _pixels, (px0, py0, px1, py1) in patches:  # a preview: the part every pane computed
        box = (max(box[0], px0), max(box[1], py0), min(box[2], px1), min(box[3], py1))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ExportError("Nothing to export: the view shows no part of the image.")
    folder = Path(folder)
    stem, lut = _stem(compare), _lut()
    region = f"x {box[0]}-{box[2]}, y {box[1]}-{box[3]} of {size[0]}×{size[1]} output pixels"
    prov = _provenance(compare, "aligned crops", region=region)
    errors = _error_images(compare, lut) if compare.mode == "evaluate" else {}
    crops: dict[str, np.ndarray] = {}
    for pane in compare.grid.visible_panes():
        if pane.key in errors:
            crops[pane.key] = exports.crop_region(errors[pane.key], size, box)
        elif pane.key in compare.results:
            image, drawn = compare.results[pane.key]
            crops[pane.key] = exports.crop_region(exports.as_rgb8(image), drawn, box)
        elif pane.patch is not None:
            pixels, (px0, py0, _px1, _py1) = pane.patch
            crops[pane.key] = exports.as_rgb8(
                pixels[box[1] - py0:box[3] - py0, box[0] - px0:box[2] - px0])
    written = [exports.Output(_free(folder / f"{stem}_crop_{key}.png"), crop,
                              exports.png_text(prov, f"{TITLES[key]}: {region}"))
               for key, crop in crops.items()]
    sheet = exports.labelled_row(list(crops.values()), [TITLES[k] for k in crops])
    written.append(exports.Output(_free(folder / f"{stem}_crops.png"), sheet,
                                  exports.png_text(prov, f"aligned crops: {region}")))
    return written


# -- dialogs (File → Export) ------------------------------------------------------------------
def before_after_dialog(window, layout: str = "side"):
    """Ask for a file name and export there (never over the opened image); the writing Job."""
    from PySide6.QtWidgets import QFileDialog

    compare = window.compare
    start = Path(window.settings.last_dir) / f"{_stem(compare)}_before-after.png"
    chosen, _ = QFileDialog.getSaveFileName(window, "Export before/after", str(start),
                                            "PNG image (*.png)")
    if not chosen:
        return None
    path = Path(chosen).with_suffix(".png")
    source = window.document.source_path
    if source is not None and path.exists() and path.resolve() == Path(source).resolve():
        path = _free(path)  # an export never replaces the opened image
    return _export(window, lambda: plan_before_after(compare, path, layout))


def evaluation_dialog(window):
    return _folder_dialog(window, "Export the evaluation's panes and error maps to",
                          plan_evaluation)


def crops_dialog(window):
    return _folder_dialog(window, "Export aligned crops of the view to", plan_crops)


def _folder_dialog(window, title: str, plan):
    from PySide6.QtWidgets import QFileDialog

    folder = QFileDialog.getExistingDirectory(window, title, window.settings.last_dir)
    if not folder:
        return None
    return _export(window, lambda: plan(window.compare, folder))


def _export(window, plan):
    """Compose the outputs here (quick), encode and write them on a worker (a large PNG takes
    seconds): the window stays responsive. Returns the Job, or None when there is nothing to
    export (said in the status bar)."""
    from app.workers import describe_error, start_job

    try:
        outputs = plan()
    except ExportError as exc:
        window.show_message(str(exc), 8000)
        return None
    window.show_message(f"Exporting {len(outputs)} file(s)…", 0)
    job = start_job(lambda _ctx: exports.write_all(outputs), name="export", parent=window)
    job.succeeded.connect(lambda written: _exported(window, written))
    job.failed.connect(lambda exc: window.show_error("Could not export", describe_error(exc)))
    window.export_job = job  # referenced until the next export
    return job


def _exported(window, written: list[Path]) -> None:
    window.settings.last_dir = str(Path(written[0]).parent)
    where = written[0] if len(written) == 1 else f"{len(written)} files in {written[0].parent}"
    window.show_message(f"Exported {where} (with the model hash, backend and precision).", 8000)
