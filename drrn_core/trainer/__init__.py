"""Training DRRN: data (patches, augmentation, cache), recipes, and the resumable loop."""
