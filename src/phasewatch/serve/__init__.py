"""`phasewatch serve`: a read-only live dashboard over the store, in the browser.

    buckets.py   full-fidelity downsampling (min, max, last per bucket) and live rows, in DuckDB SQL
    reader.py    the store's DuckDB connection, rebuilt only when the store changed on disk
    paths.py     which files inside the store may be served, and nothing outside it
    matrices.py  a run's saved matrices for the heat map
    params.py    the API's conventions: checked query parameters in, JSON-ready values out
    app.py       the Starlette app: the page, the JSON API, the runs' reports
    server.py    the app under uvicorn on a socket bound first
    cli.py       the `serve` subcommand
    static/      the page and its scripts (ES modules: dashboard.js, curves.js, matrices.js, common.js)

Starlette and uvicorn (the `serve` extra) are imported only by app.py and server.py, so neither
`import phasewatch` nor the CLI needs them until something is served.
"""
