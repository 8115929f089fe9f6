"""The main window's tabs, each a self-contained QWidget with a ``(parent=None)`` constructor."""
