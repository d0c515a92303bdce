"""Exporters: every file format a render writes (PNG, EXR, ProRes, mask ZIP), registered
by id. Qt-free; the render job (``sam3roto.pipeline.render``) feeds them post results."""
