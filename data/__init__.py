"""Bundled data (facility types, tag rules, sample files). Installed as ``planner.data``; read with
:func:`planner.config.data_path`, never through a path relative to the source tree."""
