"""Jobs that combine media, backends, post and export; shared by the CLI and the GUI."""
