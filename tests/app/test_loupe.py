"""Image pane mouse signals (click, Shift+drag region, pan) and the loupe, driven by real mouse
events on a pane."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMainWindow

from app.views.image_pane import ImagePane, RegionLink
from app.views.loupe import LOUPE_SIZE, LOUPE_ZOOM, SETTING, LoupeTool

RNG = np.random.default_rng(7)
IMAGE = RNG.integers(0, 256, (60, 80, 3), dtype=np.uint8)  # (h, w) = (60, 80): every pixel differs


@pytest.fixture
def pane(qtbot):
    p = ImagePane("drrn", "DRRN")
    qtbot.addWidget(p)
    p.resize(420, 320)
    p.move(40, 40)
    p.show()
    qtbot.waitExposed(p)
    p.set_image(IMAGE)
    return p


def show_from_origin(pane: ImagePane, upp: float) -> None:
    """Zoom to ``upp`` output px per screen px with output (0, 0) at the view's top-left."""
    w, h = pane.view.width(), pane.view.height()
    pane.show_region(QPointF(w * upp / 2, h * upp / 2), upp)
    QApplication.processEvents()
    rect = pane.view.viewRect()
    assert rect.left() == pytest.approx(0, abs=1e-6) and rect.top() == pytest.approx(0, abs=1e-6)
    assert pane.units_per_pixel() == pytest.approx(upp)


def screen_at(pane: ImagePane, x: float, y: float) -> QPoint:
    """The viewport point (whole screen px) at or just before output (x, y)."""
    upp = pane.units_per_pixel()
    return QPoint(math.floor(x / upp), math.floor(y / upp))


def under(pane: ImagePane, point: QPoint) -> tuple[int, int]:
    """The output pixel under a viewport point, from the view's rectangle alone."""
    rect, upp = pane.view.viewRect(), pane.units_per_pixel()
    return (math.floor(rect.left() + point.x() * upp), math.floor(rect.top() + point.y() * upp))


def move(widget, pos: QPoint, modifiers=Qt.KeyboardModifier.NoModifier,
         buttons=Qt.MouseButton.LeftButton) -> None:
    """A mouse move with the left button held (QTest's moves carry no buttons); pyqtgraph
    drops moves closer than 10 ms apart."""
    QTest.qWait(12)
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                        Qt.MouseButton.NoButton, buttons, modifiers)
    QApplication.sendEvent(widget, event)


def drag(pane: ImagePane, a: QPoint, b: QPoint, modifiers=Qt.KeyboardModifier.NoModifier):
    vp = pane.graphics.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, modifiers, a)
    for t in range(1, 9):
        move(vp, a + (b - a) * (t / 8), modifiers)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, modifiers, b)
    QApplication.processEvents()


def hover(pane: ImagePane, pos: QPoint) -> None:
    QTest.qWait(12)
    QTest.mouseMove(pane.graphics.viewport(), pos)
    QApplication.processEvents()


# -- signals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("upp", [1.0, 0.5])  # zoom 100 % and 200 %
def test_a_click_emits_the_output_pixel_under_the_cursor(pane, qtbot, upp):
    show_from_origin(pane, upp)
    clicks = []
    pane.clicked.connect(lambda x, y: clicks.append((x, y)))
    for x, y in ((23.5, 17.5), (2.5, 1.5), (79.5, 59.5)):
        point = screen_at(pane, x, y)
        QTest.mouseClick(pane.graphics.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, point)
        QTest.qWait(10)
        assert clicks[-1] == under(pane, point)
        assert clicks[-1] == (int(x), int(y))
    assert len(clicks) == 3


def test_a_click_on_tiles_over_the_dimmed_input_emits_too(pane):
    """While DRRN shows only tiles over the dimmed input (no pane image yet), a click still
    chooses where the work goes."""
    pane.set_image(None)
    pane.set_backdrop(IMAGE, (IMAGE.shape[1], IMAGE.shape[0]))
    show_from_origin(pane, 1.0)
    clicks = []
    pane.clicked.connect(lambda x, y: clicks.append((x, y)))
    QTest.mouseClick(pane.graphics.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, screen_at(pane, 23.5, 17.5))
    assert clicks == [(23, 17)]


def test_a_click_off_the_image_emits_nothing(pane):
    show_from_origin(pane, 0.5)  # the view ends at output x = 210: far right of the 80 px image
    clicks = []
    pane.clicked.connect(lambda x, y: clicks.append((x, y)))
    QTest.mouseClick(pane.graphics.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, screen_at(pane, 150.5, 10.5))
    assert clicks == []


def test_a_shift_drag_emits_the_region_and_draws_it_in_linked_panes(qtbot, pane):
    other = ImagePane("gt", "Ground truth")
    qtbot.addWidget(other)
    other.resize(300, 200)
    other.show()
    other.set_image(IMAGE)
    link = RegionLink([pane, other])
    show_from_origin(pane, 0.5)
    regions, clicks = [], []
    pane.regionDragged.connect(lambda *box: regions.append(box))
    pane.clicked.connect(lambda x, y: clicks.append((x, y)))
    before = pane.view.viewRect()
    a, b = screen_at(pane, 10.25, 12.25), screen_at(pane, 30.25, 25.25)
    drag(pane, a, b, Qt.KeyboardModifier.ShiftModifier)
    expected = (*under(pane, a), under(pane, b)[0] + 1, under(pane, b)[1] + 1)
    assert expected == (10, 12, 31, 26)
    assert regions == [expected]
    assert clicks == []
    assert pane.view.viewRect() == before  # no pan
    assert pane.region == expected and pane.region_frame.isVisible()
    assert other.region == expected and other.region_frame.isVisible()
    assert link.region == expected
    r = other.region_frame.rect()
    assert (r.left(), r.top(), r.right(), r.bottom()) == (10, 12, 31, 26)


def test_a_dragged_region_is_clipped_to_the_image(pane):
    show_from_origin(pane, 0.5)
    regions = []
    pane.regionDragged.connect(lambda *box: regions.append(box))
    drag(pane, screen_at(pane, 70.5, 50.5), screen_at(pane, 120.5, 90.5),
         Qt.KeyboardModifier.ShiftModifier)
    assert regions == [(70, 50, 80, 60)]


def test_a_region_under_two_pixels_a_side_is_not_emitted(pane):
    show_from_origin(pane, 0.125)  # 8 screen px per output px: a 6 px drag stays in one pixel
    regions = []
    pane.regionDragged.connect(lambda *box: regions.append(box))
    drag(pane, screen_at(pane, 5.1, 5.1), screen_at(pane, 5.9, 9.5),
         Qt.KeyboardModifier.ShiftModifier)
    assert regions == []
    assert pane.region is None


def test_a_plain_drag_still_pans(pane):
    show_from_origin(pane, 1.0)
    regions, clicks = [], []
    pane.regionDragged.connect(lambda *box: regions.append(box))
    pane.clicked.connect(lambda x, y: clicks.append((x, y)))
    before = pane.view.viewRect()
    drag(pane, QPoint(100, 100), QPoint(160, 130))
    after = pane.view.viewRect()
    assert (after.left() - before.left(), after.top() - before.top()) == pytest.approx((-60, -30))
    assert regions == [] and clicks == [] and pane.region is None


def test_esc_clears_the_region_before_the_windows_esc_action(qtbot):
    win = QMainWindow()
    qtbot.addWidget(win)
    pane = ImagePane("bicubic", "Bicubic")
    win.setCentralWidget(pane)
    cancelled = []
    action = QAction("Cancel", win)
    action.setShortcut(QKeySequence("Esc"))
    action.triggered.connect(lambda: cancelled.append(True))
    win.addAction(action)
    win.resize(400, 300)
    win.show()
    qtbot.waitExposed(win)
    pane.set_image(IMAGE)
    show_from_origin(pane, 0.5)
    cleared = []
    pane.regionCleared.connect(lambda: cleared.append(True))
    drag(pane, screen_at(pane, 5.5, 5.5), screen_at(pane, 20.5, 20.5),
         Qt.KeyboardModifier.ShiftModifier)
    pane.graphics.setFocus()
    assert pane.region is not None
    QTest.keyClick(pane.graphics, Qt.Key.Key_Escape)
    assert pane.region is None and not pane.region_frame.isVisible()
    assert cleared == [True] and cancelled == []
    QTest.keyClick(pane.graphics, Qt.Key.Key_Escape)  # no region: Esc is the window's again
    assert cancelled == [True] and cleared == [True]


def test_an_image_of_another_size_clears_the_region(pane):
    pane.set_region((5, 5, 20, 20))
    pane.set_image(IMAGE[::-1])  # same size: the same place is still marked
    assert pane.region == (5, 5, 20, 20)
    pane.set_image(IMAGE[:40, :50])
    assert pane.region is None and not pane.region_frame.isVisible()


def test_the_pane_says_how_to_pan_click_and_mark(pane):
    tip = pane.graphics.statusTip()
    assert "Drag to pan" in tip and "Shift+drag" in tip and "Esc" in tip


# -- the loupe -------------------------------------------------------------------------------
@pytest.fixture
def tool(pane, tmp_path):
    store = QSettings(str(tmp_path / "loupe.ini"), QSettings.Format.IniFormat)
    t = LoupeTool(pane, store)
    t.attach(pane)
    t.set_enabled(True)
    yield t
    t.loupe.hide()


def loupe_rgb(tool: LoupeTool, x: int, y: int) -> tuple[int, int, int]:
    image = tool.loupe.grab().toImage()
    c = image.pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def test_zoomed_out_the_loupe_shows_actual_size_around_the_cursor(pane, tool):
    show_from_origin(pane, 2.0)  # 50 %
    hover(pane, screen_at(pane, 31, 23))  # screen px 15, 11: output (30..32, 22..24)
    loupe = tool.loupe
    assert loupe.isVisible()
    assert loupe.zoom == 1.0  # dpr 1 offscreen: one output px per screen px
    cx, cy = loupe.center
    assert (cx, cy) == under(pane, screen_at(pane, 31, 23))
    half = LOUPE_SIZE // 2
    for dx, dy in ((0, 0), (1, 0), (-3, 2), (7, -5)):
        assert loupe_rgb(tool, half + dx, half + dy) == tuple(IMAGE[cy + dy, cx + dx])


def test_at_100_percent_and_above_the_loupe_magnifies_nearest_neighbour(pane, tool):
    show_from_origin(pane, 0.5)  # 200 %
    hover(pane, screen_at(pane, 40.5, 30.5))
    loupe = tool.loupe
    assert loupe.zoom == LOUPE_ZOOM
    cx, cy = loupe.center
    assert (cx, cy) == (40, 30)
    half = LOUPE_SIZE // 2
    for i in range(LOUPE_ZOOM):  # the cursor's pixel is LOUPE_ZOOM px wide from the centre
        assert loupe_rgb(tool, half + i, half + 1) == tuple(IMAGE[cy, cx])
    assert loupe_rgb(tool, half + LOUPE_ZOOM + 1, half + 1) == tuple(IMAGE[cy, cx + 1])
    assert loupe_rgb(tool, half + 1, half + LOUPE_ZOOM + 1) == tuple(IMAGE[cy + 1, cx])
    assert loupe_rgb(tool, half - 2, half + 1) == tuple(IMAGE[cy, cx - 1])


def test_the_loupe_shows_a_stretched_input_as_the_pane_does(pane, tool):
    small = IMAGE[:30, :40]
    pane.set_image(small, size=(80, 60))  # the Input pane: half size, drawn nearest
    show_from_origin(pane, 2.0)
    hover(pane, screen_at(pane, 21, 15))
    cx, cy = tool.loupe.center
    half = LOUPE_SIZE // 2
    assert loupe_rgb(tool, half, half) == tuple(small[cy // 2, cx // 2])
    x = half + 1 if cx % 2 == 0 else half - 1  # the same input pixel's other output column
    assert loupe_rgb(tool, x, half) == tuple(small[cy // 2, cx // 2])


def test_the_loupe_stays_on_the_screen_at_its_right_edge(pane, tool):
    area = QGuiApplication.primaryScreen().availableGeometry()
    pane.move(area.right() - pane.width() + 1, area.bottom() - pane.height() + 1)
    QApplication.processEvents()
    upp = 0.5  # the image's bottom-right corner at the view's
    pane.show_region(QPointF(80 - pane.view.width() * upp / 2,
                             60 - pane.view.height() * upp / 2), upp)
    QApplication.processEvents()
    rect = pane.view.viewRect()
    corner = QPoint(math.floor((78.5 - rect.left()) / upp), math.floor((58.5 - rect.top()) / upp))
    assert corner.x() > pane.graphics.viewport().width() - 8
    hover(pane, corner)
    loupe = tool.loupe
    assert loupe.isVisible()
    assert area.contains(loupe.geometry())
    cursor = pane.graphics.viewport().mapToGlobal(corner)
    assert not loupe.geometry().contains(cursor)  # beside the cursor, not under it
    assert loupe.geometry().right() < cursor.x()  # flipped to the cursor's left


def test_the_loupe_hides_when_the_cursor_leaves(pane, tool):
    show_from_origin(pane, 0.5)
    hover(pane, screen_at(pane, 10.5, 10.5))
    assert tool.loupe.isVisible()
    QApplication.sendEvent(pane.graphics.viewport(), QEvent(QEvent.Type.Leave))
    assert not tool.loupe.isVisible()
    hover(pane, screen_at(pane, 12.5, 10.5))  # back on the image
    assert tool.loupe.isVisible()
    hover(pane, screen_at(pane, 150.5, 10.5))  # off the image, still in the pane
    assert not tool.loupe.isVisible()
    hover(pane, screen_at(pane, 14.5, 10.5))
    assert tool.loupe.isVisible()
    pane.hide()  # e.g. another tab shown from the keyboard
    assert not tool.loupe.isVisible()


def test_the_loupe_is_a_remembered_toggle(pane, tool, tmp_path):
    assert tool.action.isCheckable() and tool.action.shortcut() == QKeySequence("L")
    tool.action.trigger()  # off
    assert not tool.loupe.isVisible()
    show_from_origin(pane, 0.5)
    hover(pane, screen_at(pane, 10.5, 10.5))
    assert not tool.loupe.isVisible()
    tool.store.sync()
    again = LoupeTool(pane, QSettings(str(tmp_path / "loupe.ini"), QSettings.Format.IniFormat))
    assert not again.enabled
    tool.action.trigger()  # on
    tool.store.sync()
    assert QSettings(str(tmp_path / "loupe.ini"),
                     QSettings.Format.IniFormat).value(SETTING) in (True, "true")
    assert LoupeTool(pane, QSettings(str(tmp_path / "loupe.ini"),
                                     QSettings.Format.IniFormat)).enabled


def test_the_loupe_follows_the_windows_settings(pane, tool, tmp_path):
    other = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    other.setValue(SETTING, False)
    tool.use_store(other)
    assert not tool.enabled
    tool.action.trigger()
    other.sync()
    assert QSettings(str(tmp_path / "window.ini"),
                     QSettings.Format.IniFormat).value(SETTING) in (True, "true")
