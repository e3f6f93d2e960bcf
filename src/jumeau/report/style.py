"""The stylesheet every HTML page of jumeau shares (inline: the pages need no network)."""

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}
h2{border-bottom:2px solid #1f4e79;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#f0f4f8}.ok{color:#1b7a2c;font-weight:600}.bad{color:#b3261e;font-weight:600}
.na{color:#777}.muted{color:#666;font-size:.9em}img{max-width:100%;height:auto}
code{background:#f4f4f4;padding:0 .25em}
"""
