"""Reports: figures, tables and self-contained HTML, drawn from saved results. Never trains.

- `report.html`   building blocks shared by every page (one inline style, images as data URIs)
- `report.run`    one run directory: input.png, results.png, report.html
- `report.sweep`  a sweep store: heatmaps over tsteps x lahead, a table, CSV, report.html
"""
