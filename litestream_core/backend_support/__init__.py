"""Pieces that several replica backends need in exactly the same form.

Each module here is SDK-free, so a backend's client module can use it without the
core ever importing an SDK, and a plugin's ``plugin.py`` stays cheap to load:

- ``timestamps``: the LTX header time in Go's RFC 3339 text, as object metadata.
- ``parts``: LTX upload data read in fixed-size parts, header checked first.
- ``spool``: an upload gathered whole (memory, then a temporary file) before sending.
- ``errors``: the shared wording of translated storage errors (where, what, hint).
- ``listing``: turning object names in a listing into LTX file ranges.
- ``sdk``: blocking SDK calls in a worker thread, and the SDK client made on first use.
"""
