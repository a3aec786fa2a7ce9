"""`nmt serve`: translation over HTTP (FastAPI + uvicorn, the optional ``serve`` extra).

``batcher`` owns one decoding thread per model and batches requests that wait together;
``api`` reads and checks request bodies; ``app`` holds the routes, errors, metrics and the web
page in ``static/``. Nothing here is imported by ``import nmt``.
"""
