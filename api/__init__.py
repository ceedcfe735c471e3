"""The HTTP API: `fedcat.api.app.create_app(store, backend, config)` builds the FastAPI app."""
