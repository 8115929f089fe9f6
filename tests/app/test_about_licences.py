"""The About box's Licences tab: DRRN Studio's MIT licence and the third-party notices, from the
bundle's generated file when there is one, else generated from the installed metadata."""

from __future__ import annotations

import importlib.metadata as md

from app.dialogs.about import AboutDialog


def _open_licences(qtbot) -> str:
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    labels = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert "Licences" in labels
    assert dialog.licences.toPlainText() == ""  # filled on first view only
    dialog.tabs.setCurrentIndex(labels.index("Licences"))
    return dialog.licences.toPlainText()


def test_licences_tab_shows_mit_and_the_dependencies_notices(qtbot):
    text = _open_licences(qtbot)
    assert "MIT License" in text and "Permission is hereby granted, free of charge" in text
    for dist in ("torch", "numpy", "PySide6_Essentials", "scipy", "pillow"):
        entry = f"{md.distribution(dist).metadata['Name']} {md.version(dist)}"
        assert entry in text, entry
    # Real licence texts, not just names: numpy's BSD text and torch's own LICENSE.
    assert "Redistribution and use in source and binary forms" in text
    assert "From PyTorch:" in text


def test_licences_tab_shows_the_bundles_generated_file(qtbot, tmp_path, monkeypatch):
    resources = tmp_path / "bundle-resources"
    (resources / "licenses").mkdir(parents=True)
    (resources / "licenses" / "LICENSE").write_text("MIT License\n\nbundle copy\n")
    (resources / "licenses" / "THIRD_PARTY_NOTICES.txt").write_text(
        "DRRN Studio includes the following third-party software.\nexample-lib 1.0\n")
    monkeypatch.setenv("DRRN_RESOURCES", str(resources))
    text = _open_licences(qtbot)
    assert "bundle copy" in text and "example-lib 1.0" in text
    assert "From PyTorch:" not in text  # the file, not a regenerated list
