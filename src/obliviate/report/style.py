"""The report page's stylesheet (inlined: the page loads nothing from outside)."""

CSS = """
:root { --ink:#1f2933; --muted:#6b7785; --line:#e3e8ee; --card:#fff; --bg:#f4f6f9; --accent:#2563eb;
        --good:#e3f6e8; --good-ink:#126b32; --bad:#fdecec; --bad-ink:#a61b1b; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font:14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width:1240px; margin:0 auto; padding:28px 24px 60px; }
h1 { margin:0 0 4px; font-size:26px; }
h1 small { font-weight:400; color:var(--muted); font-size:16px; }
h2 { margin:0 0 4px; font-size:19px; }
h3 { margin:18px 0 8px; font-size:15px; color:var(--muted); font-weight:600; }
a { color:var(--accent); text-decoration:none; }
code { font:12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background:#eef1f5;
       padding:1px 5px; border-radius:4px; word-break:break-all; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:20px 22px;
        margin:18px 0; box-shadow:0 1px 2px rgba(16,24,40,.04); }
.meta { display:grid; grid-template-columns:repeat(auto-fit, minmax(210px, 1fr)); gap:10px 24px; margin-top:14px; }
.meta div span { display:block; color:var(--muted); font-size:11.5px; text-transform:uppercase; letter-spacing:.04em; }
.pills { margin-top:14px; display:flex; gap:8px; flex-wrap:wrap; }
.pill { border-radius:999px; padding:3px 11px; font-size:12.5px; background:#eef1f5; }
.pill.ok { background:var(--good); color:var(--good-ink); }
.pill.fail { background:var(--bad); color:var(--bad-ink); }
.sub { color:var(--muted); margin:0 0 12px; }
.scroll { overflow-x:auto; max-width:100%; }  /* a wide table scrolls inside its card, no column hidden */
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { padding:7px 8px; border-bottom:1px solid var(--line); text-align:right; vertical-align:top; white-space:nowrap; }
th { font-size:12px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); font-weight:600;
     border-bottom:2px solid var(--line); white-space:normal; vertical-align:bottom; }
th:first-child, td:first-child { text-align:left; }
td .gap { display:block; font-size:11.5px; color:var(--muted); }
tr.ref td { color:#7b8794; font-style:italic; background:#fafbfc; }
tr.ref td:first-child::after { content:attr(data-tag); margin-left:8px; font-size:10.5px; font-style:normal;
     text-transform:uppercase; letter-spacing:.05em; background:#e9edf2; color:#52606d; padding:1px 6px; border-radius:4px; }
td.closest { background:var(--good); }
td.closest .val { color:var(--good-ink); font-weight:600; }
td.best { background:var(--good); color:var(--good-ink); font-weight:700; }
td .bar { display:block; height:4px; margin-top:4px; border-radius:2px; background:#cbd5e1; }
td.best .bar { background:#34a853; }
tr.nb td { color:#8a94a0; }
tr.nb td:first-child .tag { display:block; font-size:10.5px; text-transform:uppercase; letter-spacing:.04em;
     color:var(--bad-ink); }
.verdict { margin:0 0 12px; padding:8px 12px; border-radius:8px; background:var(--good); color:var(--good-ink); }
.verdict.warn { background:var(--bad); color:var(--bad-ink); }
.notes { margin:8px 0 0; padding-left:18px; color:var(--bad-ink); font-size:12.5px; }
.legend { color:var(--muted); font-size:12.5px; margin-top:8px; }
.legend .sw { display:inline-block; width:11px; height:11px; vertical-align:-1px; border-radius:2px; margin:0 4px 0 12px; }
.plots { display:grid; grid-template-columns:repeat(auto-fit, minmax(460px, 1fr)); gap:14px; margin-top:16px; }
.plots figure { margin:0; border:1px solid var(--line); border-radius:8px; padding:8px; background:#fff; }
.plots img { width:100%; height:auto; display:block; }
details { margin-top:14px; }
summary { cursor:pointer; color:var(--accent); }
table.fail td { white-space:normal; text-align:left; }
table.fail td.err { font:12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color:var(--bad-ink); }
nav ul { margin:8px 0 0; padding-left:18px; columns:2; }
footer { color:var(--muted); font-size:12px; margin-top:30px; text-align:center; }
"""
