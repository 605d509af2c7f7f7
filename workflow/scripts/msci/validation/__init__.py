"""Cross-validation design: folds (and, later, adversarial labels and cell-type prediction)."""
