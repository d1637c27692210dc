"""Cloud stand-ins the tests and `trimtab sandbox up --clouds` start on demand: AWS (moto) and
Azure Cost Management (HTTPS).

Like the rest of `sandbox/`, nothing here imports `server/`: Trimtab reaches
these stand-ins only over HTTP with the real boto3 and Azure clients.
"""
