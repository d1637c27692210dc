"""Cost of every run: price catalog, run costing, bill reconciliation, EBS advice.

Public entry points (see each module's docstring):
- ``catalog.load_catalog(path=None) -> PriceCatalog``
- ``run_cost.cost_run(ClusterUsage, PriceCatalog) -> RunCost`` and ``run_cost.hourly_cost(...)`` (pure)
- ``reconcile`` (cloud bill lines, estimate vs billed) and ``ebs.recommend_storage(...)`` (pure)
"""
