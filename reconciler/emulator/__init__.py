"""An Encord-compatible server (ASGI, SQLite): the embedded sandbox and the test double.

`reconciler.emulator.app.create_app(...)` builds the Starlette app;
`reconciler.emulator.serve.serve(...)` runs it with uvicorn (`reconciler emulator serve`).
"""
