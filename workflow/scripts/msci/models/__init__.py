"""Models behind one protocol (``fit(X, y, eval_set=…)``, ``predict``) and a registry by type."""
