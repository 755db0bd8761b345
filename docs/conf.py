"""Sphinx configuration for the fpsolve documentation."""

import fpsolve

project = "fpsolve"
author = "fpsolve developers"
copyright = "2026, fpsolve developers"
release = fpsolve.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
intersphinx_mapping = {}
exclude_patterns = ["_build", "api/generated/*.md"]
html_theme = "pydata_sphinx_theme"
html_title = "fpsolve"
html_static_path = []
html_theme_options = {"navigation_with_keys": False}
suppress_warnings = ["myst.header"]
