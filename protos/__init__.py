"""The Trimtab wire contract (package ``trimtab.v1``).

The ``.proto`` files live under ``protos/trimtab/v1/`` so that the generated
modules import each other absolutely (``from protos.trimtab.v1 import ...``)
with no rewriting. Regenerate with ``python -m protos.generate``.
"""
