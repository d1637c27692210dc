"""The only code that talks to cloud providers: boto3 (`aws.py`, `prices.py`) and the Azure SDK (`azure.py`)."""
