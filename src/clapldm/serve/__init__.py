"""REST API + web page: `clapldm serve` (FastAPI; `create_app` in `clapldm.serve.app`).

Nothing is imported here, so `clapldm serve` can explain missing server extras.
"""
