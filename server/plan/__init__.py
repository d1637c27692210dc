"""Planning: a project's run history → `models.decide` → a stored recommendation.

`candidates` builds the decision space from the project's bounds and prices it
with the cost catalog; `observe` turns stored runs into the models' plain
observations; `planner` ties them together after every collected run and hands
the recommendation to `server.apply` when the project has auto-apply on.
"""
