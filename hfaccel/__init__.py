"""hfaccel: hardware/software codesign toolkit for extremely lightweight CNNs on edge accelerators.

The import namespace is ``hfaccel``; its sub-packages live in the repository's top-level folders
(``model/`` is ``hfaccel.model``, ``quant/`` is ``hfaccel.quant``, ...), see ``docs/layout.md``.
"""

__version__ = "0.1.0"
