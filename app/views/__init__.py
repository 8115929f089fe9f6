"""Compare tab widgets: image panes, their synchronisation, split view, error maps, controls."""
