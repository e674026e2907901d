"""The web app: a Streamlit page over the Python API for people who do not use a terminal (``python run.py app``).

Optional (``pip install -e '.[app]'``); nothing outside this package imports it. The page
(``page.py``) draws forms generated from the file formats' JSON Schema (``forms.py``, ``editor.py``),
checks them with the command line's loaders (``sources.py``), runs jobs one at a time in worker
processes (``jobs.py``, ``worker.py``) and shows results folders (``folders.py``, ``views.py``).
"""
