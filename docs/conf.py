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
    # MathJax is copied into the built site: formulas render without network access
    "sphinx-mathjax-offline",
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
math_number_all = False  # labelled equations ($$ ... $$ (label)) are numbered, cited with :eq:


def _skip_generated_noise(app, what, name, obj, skip, options):
    """Leave out members whose only text is generated: namedtuple field aliases."""
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith("Alias for field number"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_generated_noise)
