"""`statelab serve`: the lab in a browser. An ASGI app (FastAPI), a JSON API, four pages (Lab, Runs,
Sweeps, Jobs) and a job queue that runs trainings in the server process. It calls the same library
functions as the command line and holds no experiment logic of its own.

    app.py      create_app: the API, the pages, the limits, the job queue's life
    api.py      JSON routes under /api (documented at /docs)
    pages.py    HTML shells and error pages; their scripts live in static/
    views.py    JSON of the form's parameters and of runs, from the library's readers
    figures.py  Plotly figure specs of a run (or several overlaid)
    stores.py   JSON of a sweep store: heatmaps per facet, trials, counts
    tables.py   a store's trial table (filters, sort, pages), downloads, curves, parallel coordinates
    lab.py      what a run job and a sweep job do; the warm-up at start-up
    jobs.py     the bounded queue, one worker, events for live progress
    paths.py    what the server may read; everything else is a 404
    server.py   uvicorn, the printed URL, the loopback warning, Ctrl-C
"""
