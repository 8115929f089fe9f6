"""What the packaged application carries besides code: third-party licence notices and the
data folders (resources, training recipes) found in a source tree or a frozen bundle."""
