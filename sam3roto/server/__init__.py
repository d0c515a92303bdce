"""The web server for annotation teams (``run.py serve``): FastAPI over the same pipeline."""
