"""Interchange in: annotations and mattes made elsewhere (Label Studio exports,
black-and-white matte sequences) turned into prompts and masks. Qt-free, no network."""
