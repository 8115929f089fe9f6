"""The app's services: Qt-free computations the tabs and workers call (the preview pipeline, the
shared upscalers, estimates, device lists, exports, image reading, logging). They never import
Qt widgets (an import-linter contract)."""
